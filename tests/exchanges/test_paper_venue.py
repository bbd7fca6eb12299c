"""The paper venue behaves like a real exchange: depth, fees, rules, funds, faults."""

import json
import threading
import time
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections, transaction

from exchanges.binance_format import first_book
from exchanges.depth_profile import load_profile
from exchanges.errors import (
    Banned,
    DuplicateClientOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    VenueUnavailable,
)
from exchanges.marketdata import MarketDataSnapshot, now_ms
from exchanges.models import PaperBalance, PaperOrder
from exchanges.paper import PaperVenue, paper_deposit
from exchanges.paper_data import SnapshotSource, StaticSource
from exchanges.types import OrderBook, Ticker
from tests.conftest import ladder

D = Decimal
pytestmark = pytest.mark.django_db


def balance(venue, asset) -> Decimal:
    entry = venue.fetch_balance().get(asset)
    return entry.free if entry else D(0)


def test_market_buy_fills_at_the_hand_computed_vwap_of_a_real_recorded_book(paper, books, shared_data):
    path = shared_data / "binance" / "depth" / "btcusdt_20240808.gz"
    books.set_book(first_book(path))
    # Independently: walk the raw JSON asks for 1.5 BTC.
    for line in __import__("gzip").open(path, "rt"):
        if "lastUpdateId" in line:
            raw_asks = json.loads(line.split(" ", 1)[1])["asks"]
            break
    left, cost = D("1.5"), D(0)
    for price, qty in raw_asks:
        take = min(left, D(qty))
        cost += D(price) * take
        left -= take
        if left == 0:
            break
    expected_vwap = cost / D("1.5")

    order = paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("1.5"), client_order_id="v1")
    assert order.status == "FILLED"
    assert order.filled == D("1.5")
    assert abs(order.average - expected_vwap) < D("1e-10")
    assert order.fee == D("1.5") * D("0.001")
    assert order.fee_asset == "BTC"  # Binance charges the fee in the asset received
    assert balance(paper, "BTC") == D("1.5") - order.fee
    assert balance(paper, "USDT") == D("100000") - order.cost
    assert abs(order.cost - cost) < D("1e-9")


def test_sell_pays_the_fee_in_the_quote_asset(paper):
    paper_deposit(exchange=paper.exchange, asset="ETH", amount=D("25"))
    order = paper.create_order(symbol="ETHUSDT", side="sell", type="market", amount=D("15"), client_order_id="s1")
    # 10 @ 3000.00 + 5 @ 2999.50
    assert order.cost == D("10") * D("3000.00") + D("5") * D("2999.50")
    assert order.fee_asset == "USDT"
    assert order.fee == order.cost * D("0.001")
    assert balance(paper, "USDT") == D("100000") + order.cost - order.fee
    assert balance(paper, "ETH") == D("10")


@pytest.mark.parametrize(
    ("kwargs", "rule", "words"),
    [
        ({"symbol": "BTCUSDT", "type": "limit", "price": D("60000.005"), "amount": D("0.01")}, "tick_size",
         "tick size 0.01 for BTCUSDT; use 60000 or 60000.01"),
        ({"symbol": "BTCUSDT", "type": "market", "amount": D("0.0100005")}, "lot_size",
         "lot size 0.000001 for BTCUSDT; round down to 0.01"),
        ({"symbol": "ETHBTC", "type": "market", "amount": D("0.0001")}, "lot_size", "lot size 0.001"),
        ({"symbol": "BTCUSDT", "type": "market", "amount": D("0.0001")}, "min_notional",
         "below the minimum notional 10 USDT for BTCUSDT; at this price buy or sell at least 0.000167 BTC"),
        ({"symbol": "DOGEUSDT", "type": "market", "amount": D("1")}, "symbol", "not a trading market"),
        ({"symbol": "BTCUSDT", "type": "limit", "amount": D("1")}, "price", "needs a price"),
        ({"symbol": "BTCUSDT", "type": "stop", "amount": D("1")}, "type", "must be one of market, limit, ioc"),
    ],
)  # fmt: skip
def test_rule_violations_are_refused_with_the_rule_and_allowed_value(paper, kwargs, rule, words):
    with pytest.raises(InvalidOrder) as info:
        paper.create_order(side="buy", client_order_id="r1", **kwargs)
    assert info.value.rule == rule
    assert words in str(info.value)
    assert not PaperOrder.objects.exists()


def test_reused_client_order_id_is_refused(paper):
    paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"), client_order_id="dup")
    with pytest.raises(DuplicateClientOrderId, match="dup was already used"):
        paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"), client_order_id="dup")
    assert PaperOrder.objects.filter(client_order_id="dup").count() == 1


def test_insufficient_funds_refuses_the_order_and_moves_nothing(paper):
    with pytest.raises(InsufficientFunds, match="only 100000"):
        paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("2"), client_order_id="big")
    with pytest.raises(InsufficientFunds, match="selling 1 ETH"):
        paper.create_order(symbol="ETHUSDT", side="sell", type="market", amount=D("1"), client_order_id="nosell")
    assert balance(paper, "USDT") == D("100000")
    assert not PaperOrder.objects.exists()


def test_balances_can_never_go_negative_even_bypassing_the_venue(paper):
    with pytest.raises(IntegrityError), transaction.atomic():
        PaperBalance.objects.filter(exchange=paper.exchange, asset="USDT").update(free=D("-1"))


def test_market_order_beyond_the_book_fills_what_is_there_and_expires_the_rest(paper, books):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("0.1", "0.2")))
    order = paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("1"), client_order_id="deep")
    assert order.filled == D("0.3")
    assert order.status == "EXPIRED"


def test_ioc_takes_only_up_to_its_limit(paper):
    order = paper.create_order(
        symbol="BTCUSDT", side="buy", type="ioc", amount=D("1.5"), price=D("60000.01"), client_order_id="ioc"
    )
    assert order.filled == D("1")  # only the first level is at or under the limit
    assert order.status == "EXPIRED"


def test_limit_order_rests_then_fills_as_maker_when_crossed_and_cancel_releases(paper, books):
    order = paper.create_order(
        symbol="BTCUSDT", side="buy", type="limit", amount=D("0.5"), price=D("59000.00"), client_order_id="lim"
    )
    assert order.status == "OPEN"
    assert balance(paper, "USDT") == D("100000") - D("0.5") * D("59000")
    assert [o.client_order_id for o in paper.fetch_open_orders("BTCUSDT")] == ["lim"]

    books.set_book(ladder("BTCUSDT", "58990.00", "58999.00", "1.00", sizes=("0.2", "1")))
    now = paper.fetch_order(symbol="BTCUSDT", client_order_id="lim")
    assert now.status == "PARTIALLY_FILLED"
    assert now.filled == D("0.2")
    assert now.trades[0].is_maker is True
    assert now.trades[0].price == D("59000.00")  # a maker fills at its own price

    books.set_book(ladder("BTCUSDT", "58990.00", "59500.00", "1.00"))  # the market moves away
    canceled = paper.cancel_order(symbol="BTCUSDT", client_order_id="lim")
    assert canceled.status == "CANCELED"
    entry = paper.fetch_balance()["USDT"]
    assert entry.locked == 0
    assert entry.free == D("100000") - D("0.2") * D("59000")
    with pytest.raises(OrderNotFound, match="nothing to cancel"):
        paper.cancel_order(symbol="BTCUSDT", client_order_id="lim")


def test_unknown_order_is_not_found(paper):
    with pytest.raises(OrderNotFound):
        paper.fetch_order(symbol="BTCUSDT", client_order_id="never-sent")


def test_trades_listed_since_a_time(paper):
    paper.create_order(symbol="ETHUSDT", side="buy", type="market", amount=D("15"), client_order_id="t1")
    trades = paper.fetch_my_trades(symbol="ETHUSDT")
    assert [t.amount for t in trades] == [D("10"), D("5")]
    assert paper.fetch_my_trades(since_ms=int(time.time() * 1000) + 60_000) == []


def test_missing_market_data_is_unavailable_not_a_crash(paper):
    venue = PaperVenue(paper.exchange, market_data=StaticSource())
    with pytest.raises(VenueUnavailable, match="no market data for BTCUSDT"):
        venue.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"), client_order_id="x")


# --- faults ----------------------------------------------------------------------


def test_injected_429_carries_retry_after(paper, faults):
    faults.rate_limit_p, faults.retry_after_s = 1, 2.5
    faults.save()
    with pytest.raises(RateLimited) as info:
        paper.fetch_tickers()
    assert info.value.retry_after == 2.5


def test_injected_418_is_a_ban_with_its_end(paper, faults):
    faults.ban_p, faults.ban_s = 1, 120
    faults.save()
    with pytest.raises(Banned) as info:
        paper.fetch_balance()
    assert info.value.until.timestamp() > time.time() + 100


def test_injected_5xx_is_venue_unavailable(paper, faults):
    faults.server_error_p = 1
    faults.save()
    with pytest.raises(VenueUnavailable, match="503"):
        paper.fetch_order_book("BTCUSDT")


def test_timeout_after_accept_leaves_the_order_placed(paper, faults):
    faults.timeout_after_accept_p = 1
    faults.save()
    with pytest.raises(RequestTimeout):
        paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"), client_order_id="lost")
    faults.enabled = False
    faults.save()
    found = paper.fetch_order(symbol="BTCUSDT", client_order_id="lost")
    assert found.status == "FILLED"
    assert found.filled == D("0.01")


def test_partial_fill_fills_part_and_expires_the_rest(paper, faults):
    faults.partial_fill_p, faults.partial_fill_ratio = 1, 0.4
    faults.save()
    order = paper.create_order(symbol="ETHUSDT", side="buy", type="market", amount=D("5"), client_order_id="pf")
    assert order.filled == D("2")
    assert order.status == "EXPIRED"


def test_added_latency(paper, faults):
    faults.latency_ms = 150
    faults.save()
    started = time.perf_counter()
    paper.fetch_tickers()
    assert time.perf_counter() - started >= 0.15


def test_disabled_faults_inject_nothing(paper, faults):
    faults.enabled, faults.server_error_p = False, 1
    faults.save()
    assert "BTCUSDT" in paper.fetch_tickers()


@pytest.mark.django_db(transaction=True)
def test_concurrent_buyers_never_overdraw_the_balance(paper, books):
    """Eight threads each try to spend 20,000 USDT of 100,000: exactly five succeed."""
    books.set_book(ladder("ETHUSDT", "1999.99", "2000.00", "0.01", sizes=("1000",)))
    outcomes = []
    barrier = threading.Barrier(8)

    def buy(i):
        venue = PaperVenue(paper.exchange, market_data=books)
        barrier.wait()
        try:
            venue.create_order(symbol="ETHUSDT", side="buy", type="market", amount=D("10"), client_order_id=f"c{i}")
            outcomes.append("filled")
        except InsufficientFunds:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("filled") == 5
    assert balance(paper, "USDT") == 0
    assert balance(paper, "ETH") == D("50") - D("50") * D("0.001")


def test_faults_switched_through_the_api_take_effect(paper, api):
    url = f"/api/exchanges/{paper.exchange.pk}/faults/"
    assert api.get(url).json()["enabled"] is False
    response = api.put(url, {"enabled": True, "server_error_p": 1}, format="json")
    assert response.status_code == 200, response.content
    with pytest.raises(VenueUnavailable):
        paper.fetch_tickers()
    assert api.patch(url, {"enabled": False}, format="json").status_code == 200
    assert "BTCUSDT" in paper.fetch_tickers()


def test_fault_probabilities_out_of_range_are_400(paper, api):
    response = api.patch(f"/api/exchanges/{paper.exchange.pk}/faults/", {"ban_p": 2}, format="json")
    assert response.status_code == 400
    assert "between 0 and 1" in str(response.json())


def test_changing_faults_needs_the_permission(paper, viewer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    url = f"/api/exchanges/{paper.exchange.pk}/faults/"
    assert client.get(url).status_code == 200
    assert client.patch(url, {"enabled": True}, format="json").status_code == 403


def test_a_stored_book_older_than_the_ticker_is_not_used(paper, settings):
    """The simulator stops updating a market's book when its mispricing ends: the newer ticker prices orders."""
    snapshot = MarketDataSnapshot("paper-books-test")
    snapshot.clear()
    source = SnapshotSource("paper-books-test", price_steps={"ETHUSDT": D("0.01")},
                            profile=load_profile(str(settings.PAPER_DEPTH_PROFILE)))  # fmt: skip
    stamp = now_ms()
    mispriced = OrderBook("ETHUSDT", ((D("3030.00"), D("5")),), ((D("3031.00"), D("5")),), stamp - 500)
    snapshot.put_books([mispriced])
    snapshot.put_tickers([Ticker("ETHUSDT", D("3030.00"), D("5"), D("3031.00"), D("5"), stamp - 500)])
    assert source.book("ETHUSDT", 20).bids[0][0] == D("3030.00")  # book as new as the ticker: the book
    snapshot.put_tickers([Ticker("ETHUSDT", D("3000.00"), D("2"), D("3000.50"), D("3"), stamp)])
    book = source.book("ETHUSDT", 20)
    assert (book.bids[0], book.asks[0], book.ts_ms) == ((D("3000.00"), D("2")), (D("3000.50"), D("3")), stamp)
    assert len(book.bids) > 1  # shaped to depth from the ticker
    snapshot.clear()
