"""Arbitrage on a real venue's wire: a Binance account pointed at the emulator on 127.0.0.1 (the recorded BTCUSDT
and ETHUSDT books replayed, ETHBTC priced from them with its bids 60 bps rich). Its feed, its user stream, the
scanner and a Celery worker run as the platform runs them, as processes; the scanner sees the triangle through
the feed alone, opens a cycle, and the worker trades its three legs on the emulator to completion."""

import sys
from decimal import Decimal

import pytest

from bench.binance_emulator import BinanceEmulator
from bench.common import Service, celery_worker, wait_until
from cycles.models import Cycle, CycleState, Strategy
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import Exchange, ExchangeKind
from exchanges.registry import get_venue
from exchanges.services import markets_sync
from orders.models import Fill, Order, OrderStatus

pytestmark = [pytest.mark.timeout(240), pytest.mark.django_db(transaction=True)]
KEY, SECRET = "e2e" * 21 + "k", "e2e" * 21 + "s"


@pytest.fixture
def emulator(shared_data):
    binance = shared_data / "binance"
    emu = BinanceEmulator(sorted((binance / "depth").glob("*.gz")),
                          exchange_info=binance / "exchange_info_2023-09-08.json",
                          account={"api_key": KEY, "secret": SECRET, "balances": {"USDT": "5000"}},
                          cross={"symbol": "ETHBTC", "base_leg": "ETHUSDT", "quote_leg": "BTCUSDT",
                                 "premium_bps": 60, "tick": "0.00001"})  # fmt: skip
    yield emu
    emu.close()


def test_the_scanner_trades_a_triangle_it_sees_only_through_the_feed_to_completion(emulator, worker_env):
    account = Exchange(name="binance-e2e", kind=ExchangeKind.CCXT, ccxt_id="binance", rest_url=emulator.rest_url,
                       ws_url=emulator.ws_url)  # fmt: skip
    account.api_key, account.api_secret = KEY, SECRET
    account.save()
    markets_sync(exchange=account, markets=get_venue(account).load_markets())
    assert set(account.markets.values_list("symbol", flat=True)) == {"BTCUSDT", "ETHUSDT", "ETHBTC"}
    strategy = Strategy.objects.create(name="e2e-tri", exchange=account, start_asset="USDT", trade_amount=200,
                                       max_open_cycles=1, min_profit_bps=10)  # fmt: skip
    replay = emulator.play_in_background(seconds=200, wait_for_clients=60)
    manage = [sys.executable, "manage.py"]
    env = {**worker_env, "LOG_LEVEL": "INFO"}
    with (
        Service("e2e-feed", [*manage, "run_feed", "--exchange", account.name], ready="tickers", env=env) as feed,
        Service(
            "e2e-stream", [*manage, "run_user_stream", "--exchange", account.name], ready="starting", env=env
        ) as stream,  # fmt: skip
        celery_worker("e2e-worker", queues="execution,monitoring,scanning,maintenance", env=env) as worker,
    ):
        snapshot = MarketDataSnapshot(account.name)
        fed = lambda: all(snapshot.ticker(s) is not None for s in ("BTCUSDT", "ETHUSDT", "ETHBTC"))  # noqa: E731
        assert wait_until(fed, timeout=60), feed.log.read_text(errors="replace")[-3000:]
        with Service("e2e-scanner", [*manage, "run_scanner", "--exchange", account.name], ready="scanning",
                     env=env) as scanner:  # fmt: skip
            completed = lambda: Cycle.objects.filter(strategy=strategy, state=CycleState.COMPLETED).exists()  # noqa: E731
            logs = lambda: "\n".join(s.log.read_text(errors="replace")[-2500:] for s in (scanner, worker, stream))  # noqa: E731
            assert wait_until(completed, timeout=120), logs()
    replay.cancel()

    cycle = Cycle.objects.filter(strategy=strategy, state=CycleState.COMPLETED).first()
    orders = list(Order.objects.filter(cycle=cycle).select_related("market").order_by("intent"))
    assert [o.status for o in orders] == [OrderStatus.FILLED] * 3
    assert {o.market.symbol for o in orders} == {"BTCUSDT", "ETHUSDT", "ETHBTC"}
    placed = {o["clientOrderId"] for o in emulator.account.orders.values()}
    assert {o.client_order_id for o in orders} <= placed  # each leg reached the venue, once
    assert emulator.account.placed == len(placed)
    fills = Fill.objects.filter(order__in=orders)
    assert {f.trade_id for f in fills} <= {str(t["id"]) for t in emulator.account.trades}
    assert emulator.account.signature_failures == 0
    assert emulator.account.calls["GET /api/v3/order"] == 0  # every leg moved its cycle on without a fetch_order
    # What the cycle says it made is what the venue's ledger shows in USDT for its three orders (the market moves
    # between the legs, so it may be a loss: the replay is real trading).
    ids = {int(o.exchange_order_id) for o in orders}
    usdt = Decimal(0)
    for trade in (t for t in emulator.account.trades if t["orderId"] in ids and t["symbol"].endswith("USDT")):
        quote = Decimal(trade["quoteQty"])
        usdt += -quote if trade["isBuyer"] else quote
        usdt -= Decimal(trade["commission"]) if trade["commissionAsset"] == "USDT" else 0
    assert cycle.realized_pnl == usdt
