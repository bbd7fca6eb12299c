"""The ccxt adapter on recorded real Binance payloads, intercepted at the HTTP layer (offline)."""

import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from core.limiter import RateLimiter
from exchanges.binance_format import parse_exchange_info
from exchanges.ccxt_venue import CcxtVenue
from exchanges.errors import Banned, InsufficientFunds, InvalidOrder, RateLimited, RequestTimeout
from exchanges.models import Exchange

D = Decimal
API = "https://api.binance.com/api/v3"
pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(shared_data):
    binance = shared_data / "binance"
    ccxt_dir = shared_data / "ccxt"
    return {
        "exchange_info": json.loads((binance / "exchange_info_2020-10-09.json").read_text()),
        "tickers": json.loads((binance / "ticker_24hr_2020-10-09.json").read_text()),
        "responses": json.loads((ccxt_dir / "binance_response.json").read_text())["methods"],
        "requests": json.loads((ccxt_dir / "binance_request.json").read_text())["methods"],
    }


@pytest.fixture
def http_layer(recorded):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        rs.add(responses.GET, f"{API}/exchangeInfo", json=recorded["exchange_info"],
               headers={"x-mbx-used-weight-1m": "20"})  # fmt: skip
        yield rs


@pytest.fixture
def venue(http_layer):
    exchange = Exchange.objects.create(
        name="binance-rec", kind="ccxt", ccxt_id="binance", api_key="k" * 64, api_secret="s" * 64
    )
    limiter = RateLimiter(exchange.name, capacity=6000, refill_per_s=0.01)
    limiter.reset()
    return CcxtVenue(exchange, limiter=limiter)


def recorded_response(recorded, method, description=None):
    cases = recorded["responses"][method]
    case = next(c for c in cases if description is None or c["description"] == description)
    return case["httpResponse"]


def test_load_markets_agrees_with_our_own_parser(venue, recorded):
    markets = {m.symbol: m for m in venue.load_markets()}
    ours = {m.symbol: m for m in parse_exchange_info(recorded["exchange_info"])}
    assert set(markets) == set(ours)
    for symbol in ("ETHBTC", "BTCUSDT", "BNBETH"):
        a, b = markets[symbol], ours[symbol]
        assert (a.base, a.quote, a.price_step, a.amount_step, a.min_amount, a.min_notional) == (
            b.base, b.quote, b.price_step, b.amount_step, b.min_amount, b.min_notional
        )  # fmt: skip


def test_used_weight_header_feeds_the_shared_limiter(venue):
    venue.load_markets()
    assert venue.limiter.budget_fraction() <= 1 - 20 / 6000 + 1e-6


def test_tickers_in_one_call(venue, http_layer, recorded):
    http_layer.add(responses.GET, f"{API}/ticker/24hr", json=recorded["tickers"])
    venue.load_markets()
    tickers = venue.fetch_tickers()
    row = next(r for r in recorded["tickers"] if r["symbol"] == "ETHBTC")
    assert tickers["ETHBTC"].bid == D(row["bidPrice"])
    assert tickers["ETHBTC"].ask_size == D(row["askQty"])
    assert len([c for c in http_layer.calls if "/ticker/" in c.request.url]) == 1


def test_order_book(venue, http_layer, recorded):
    http_layer.add(responses.GET, re.compile(rf"{API}/depth.*"), json=recorded_response(recorded, "fetchOrderBook"))
    book = venue.fetch_order_book("BTCUSDT", 5)
    assert book.bids[0] == (D("42574.3"), D("0.0107"))
    assert book.asks[0][0] == D("42574.31")


def test_create_order_sends_our_client_order_id_like_the_recorded_request(venue, http_layer, recorded):
    expected = next(c for c in recorded["requests"]["createOrder"] if c["description"] == "Spot limit buy order")
    http_layer.add(responses.POST, f"{API}/order", json=recorded_response(recorded, "createOrder"))
    order = venue.create_order(
        symbol="LTCUSDT", side="buy", type="limit", amount=D("0.2"), price=D("50"), client_order_id="ts-c12-l0-a1"
    )
    request = http_layer.calls[-1].request
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    sent = dict(parse_qsl(body))
    recorded_params = dict(parse_qsl(expected["output"]))
    for key in ("symbol", "side", "type", "quantity", "price", "timeInForce", "newOrderRespType"):
        assert sent[key] == recorded_params[key], key
    assert sent["newClientOrderId"] == "ts-c12-l0-a1"
    assert order.id == "9780331417"
    assert order.status == "OPEN"


def test_fetch_order_by_client_order_id(venue, http_layer, recorded):
    http_layer.add(responses.GET, re.compile(rf"{API}/order\?.*"), json=recorded_response(recorded, "fetchOrder"))
    order = venue.fetch_order(symbol="LTCUSDT", client_order_id="ts-x-a1")
    query = dict(parse_qsl(http_layer.calls[-1].request.url.split("?", 1)[1]))
    assert query["origClientOrderId"] == "ts-x-a1"
    assert order.status == "FILLED"
    assert order.filled == D("0.1")
    assert order.cost == D("9.08")


def _order_error(http_layer, status, body=None, headers=None, exc=None):
    if exc is not None:
        http_layer.add(responses.POST, f"{API}/order", body=exc)
    else:
        http_layer.add(responses.POST, f"{API}/order", status=status, json=body, headers=headers or {})


def _place(venue):
    return venue.create_order(
        symbol="LTCUSDT", side="buy", type="limit", amount=D("0.2"), price=D("50"), client_order_id="err-1"
    )


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "check"),
    [
        (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}, None,
         InsufficientFunds, lambda e: "insufficient balance" in str(e)),
        (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, None, InvalidOrder, lambda e: e.rule == "lot_size"),
        (429, {"code": -1003, "msg": "Too many requests."}, {"Retry-After": "7"}, RateLimited,
         lambda e: e.retry_after == 7.0),
        (418, {"code": -1003, "msg": "Way too many requests; IP banned."}, {"Retry-After": "300"}, Banned,
         lambda e: e.until.timestamp() > __import__("time").time() + 250),
    ],
)  # fmt: skip
def test_errors_map_to_ours(venue, http_layer, status, body, headers, error, check):
    venue.load_markets()
    _order_error(http_layer, status, body, headers)
    with pytest.raises(error) as info:
        _place(venue)
    assert check(info.value)


def test_a_read_timeout_is_an_unknown_outcome(venue, http_layer):
    venue.load_markets()
    _order_error(http_layer, None, exc=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(RequestTimeout, match="outcome is unknown"):
        _place(venue)


def test_a_book_the_feed_keeps_costs_no_request_and_no_weight(venue, http_layer, recorded):
    from exchanges.breaker import CircuitBreaker
    from exchanges.guarded import GuardedVenue
    from exchanges.marketdata import now_ms
    from exchanges.types import OrderBook

    guarded = GuardedVenue(venue, limiter=venue.limiter, breaker=CircuitBreaker(venue.name, threshold=5, cooldown_s=1))
    http_layer.add(responses.GET, re.compile(rf"{API}/depth.*"), json=recorded_response(recorded, "fetchOrderBook"))
    venue.market_data.clear()
    venue.market_data.put_books([OrderBook("BTCUSDT", ((D("100"), D("1")),), ((D("101"), D("2")),), now_ms())])
    before = venue.limiter.budget_fraction()
    book = guarded.fetch_order_book("BTCUSDT", 5)
    assert book.asks[0] == (D("101"), D("2"))
    assert not [c for c in http_layer.calls if "/depth" in c.request.url]
    assert venue.limiter.budget_fraction() == pytest.approx(before, abs=1e-6)
    venue.market_data.put_books([OrderBook("BTCUSDT", ((D("100"), D("1")),), ((D("101"), D("2")),), 1)])  # stale
    book = guarded.fetch_order_book("BTCUSDT", 5)
    assert book.bids[0] == (D("42574.3"), D("0.0107"))  # over REST, and charged its weight
    assert len([c for c in http_layer.calls if "/depth" in c.request.url]) == 1
    assert venue.limiter.budget_fraction() <= before - 5 / 6000 + 1e-6
    venue.market_data.clear()
