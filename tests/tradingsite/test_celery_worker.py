"""Tasks go through a real Celery worker over the Redis broker, end to end."""

import time
from datetime import timedelta
from decimal import Decimal as D

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from core.schedule import beat_schedule
from cycles.models import CycleState, Reservation, Strategy
from cycles.tasks import reservations_expire
from exchanges.marketdata import MarketDataSnapshot, now_ms
from exchanges.models import Exchange, PaperBalance, PaperOrder
from exchanges.paper import paper_deposit
from exchanges.services import markets_sync
from exchanges.types import OrderBook
from orders.models import Order, OrderStatus
from orders.services import order_place
from orders.tasks import sweep_overdue
from tests import factories as f
from tests.conftest import MARKETS, ladder
from tests.cycles.conftest import open_cycle
from tradingsite.celery import app as celery_app


def paper_account(name: str) -> tuple[Exchange, MarketDataSnapshot]:
    """A paper account with the test markets and 10,000 USDT, and its market-data snapshot."""
    exchange = Exchange.objects.create(name=name)
    markets_sync(exchange=exchange, markets=MARKETS)
    paper_deposit(exchange=exchange, asset="USDT", amount=D("10000"))
    return exchange, MarketDataSnapshot(exchange.name)


def publish(snapshot: MarketDataSnapshot, books: list[OrderBook]) -> None:
    """What the simulator does every tick: the books, then their tickers, stamped now."""
    snapshot.publish_books(books, now_ms())


def wait_for(done, *, every=None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        if every:
            every()
        time.sleep(0.1)


@pytest.fixture
def celery_worker(settings):
    """A worker thread consuming every queue over the real Redis broker."""
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            queues=["execution", "monitoring", "scanning", "maintenance"],
            shutdown_timeout=10,
        ) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_task_runs_in_a_real_worker_over_the_broker(celery_worker):
    strategy = f.StrategyFactory()
    stale = f.ReservationFactory(strategy=strategy)
    Reservation.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(minutes=2), expires_at=timezone.now() - timedelta(minutes=1)
    )
    live = f.ReservationFactory(strategy=strategy)

    result = reservations_expire.apply_async(ignore_result=False)  # beat sends it with results ignored
    assert result.get(timeout=30) == 1
    assert result.status == "SUCCESS"
    assert not Reservation.objects.filter(pk=stale.pk).exists()
    assert Reservation.objects.filter(pk=live.pk).exists()


def test_tasks_are_routed_to_their_queues():
    router = celery_app.amqp.router
    assert router.route({}, "cycles.execute")["queue"].name == "execution"
    assert router.route({}, "orders.monitor")["queue"].name == "monitoring"
    assert router.route({}, "wallets.tick")["queue"].name == "scanning"
    assert router.route({}, "cycles.reservations_expire")["queue"].name == "maintenance"


def test_every_beat_entry_expires_and_names_a_queue():
    celery_app.loader.import_default_modules()
    assert {"wallets-tick", "positions-tick", "orders-sweep_overdue", "cycles-recover"} <= set(beat_schedule())
    for name, entry in beat_schedule().items():
        assert entry["options"].get("expires"), name
        assert entry["options"].get("queue"), name
        assert entry["task"] in celery_app.tasks, f"{name}: {entry['task']} is not a registered task"


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_and_monitor_settle_a_lost_order_in_a_real_worker(celery_worker):
    """An order whose monitor task was lost: beat's sweeper re-dispatches it over the broker and it is settled."""
    exchange, snapshot = paper_account("paper-worker")
    publish(snapshot, [ladder("BTCUSDT", "60000.00", "60000.01", "1.00")])
    market = exchange.markets.get(symbol="BTCUSDT")
    order = order_place(
        exchange=exchange, market=market, side="buy", type="limit", amount=D("0.01"), price=D("59000"),
        purpose="manual", intent="lost-task",
    )  # fmt: skip
    assert order.status == OrderStatus.OPEN
    publish(snapshot, [ladder("BTCUSDT", "58000.00", "58990.00", "1.00")])  # the market comes down through it
    Order.objects.filter(pk=order.pk).update(next_check_at=timezone.now() - timedelta(minutes=1))  # its task was lost

    sweep_overdue.apply_async()  # as beat sends it
    wait_for(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED, timeout=20)
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert order.fills.get().price == D("59000")


@pytest.mark.django_db(transaction=True)
def test_a_cycle_runs_end_to_end_in_a_real_worker_on_the_paper_venue(celery_worker):
    """Opened as the scanner opens it; the worker places the three legs; PnL is what the paper ledger shows."""
    exchange, snapshot = paper_account("paper-worker-cycle")
    # USDT -> BTC -> ETH -> USDT pays 1/60000/0.05*3040 = 1.01333 before three 10 bps fees.
    books = [ladder("BTCUSDT", "59999.99", "60000.00", "1.00"), ladder("ETHBTC", "0.049999", "0.050000", "0.000001"),
             ladder("ETHUSDT", "3040.00", "3040.01", "0.01", sizes=("10", "10", "10", "10", "10"))]  # fmt: skip
    publish(snapshot, books)
    strategy = Strategy.objects.create(name="worker-tri", exchange=exchange, start_asset="USDT", trade_amount=1000,
                                       max_open_cycles=1)  # fmt: skip
    cycle = open_cycle(strategy)  # committed: on_commit hands it to the execution queue
    open_states = (CycleState.PENDING, CycleState.EXECUTING)
    wait_for(lambda: cycle.refresh_from_db() or cycle.state not in open_states, every=lambda: publish(snapshot, books))
    assert cycle.state == CycleState.COMPLETED, cycle.error

    orders = list(Order.objects.filter(cycle=cycle).order_by("intent"))
    assert [(o.market.symbol, o.side, o.status) for o in orders] == [
        ("BTCUSDT", "buy", "FILLED"), ("ETHBTC", "buy", "FILLED"), ("ETHUSDT", "sell", "FILLED"),
    ]  # fmt: skip
    venue_orders = PaperOrder.objects.filter(exchange=exchange)
    assert sorted(venue_orders.values_list("client_order_id", flat=True)) == sorted(o.client_order_id for o in orders)
    usdt = PaperBalance.objects.get(exchange=exchange, asset="USDT")
    assert cycle.realized_pnl == usdt.free + usdt.locked - D("10000")  # exactly the ledger's change
    # 1000 USDT at 1.01333 less three 10 bps fees is 10.30 USDT; what the lots left behind (residuals, held in
    # BTC and ETH) is worth the rest, give or take the touch prices.
    residuals = {asset: D(amount) for asset, amount in cycle.residuals.items()}
    left = residuals.get("BTC", 0) * D("59999.99") + residuals.get("ETH", 0) * D("3040")
    assert cycle.realized_pnl > D("5")
    assert D("10.0") < cycle.realized_pnl + left <= D("10.31")
