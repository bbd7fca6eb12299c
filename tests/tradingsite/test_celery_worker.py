"""A task goes through a real Celery worker over the Redis broker, end to end."""

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from cycles.models import Reservation
from cycles.tasks import reservations_expire
from tests import factories as f
from tradingsite.celery import app as celery_app


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

    result = reservations_expire.apply_async()
    assert result.get(timeout=30) == 1
    assert result.status == "SUCCESS"
    assert not Reservation.objects.filter(pk=stale.pk).exists()
    assert Reservation.objects.filter(pk=live.pk).exists()


def test_tasks_are_routed_to_their_queues():
    router = celery_app.amqp.router
    assert router.route({}, "cycles.execute")["queue"].name == "execution"
    assert router.route({}, "orders.monitor")["queue"].name == "monitoring"
    assert router.route({}, "wallets.scan")["queue"].name == "scanning"
    assert router.route({}, "cycles.reservations_expire")["queue"].name == "maintenance"


def test_every_beat_entry_expires_and_names_a_queue(settings):
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["options"].get("expires"), name
        assert entry["options"].get("queue"), name
        assert entry["task"] in celery_app.tasks, f"{name}: {entry['task']} is not a registered task"


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_and_monitor_settle_a_lost_order_in_a_real_worker(celery_worker):
    """An order whose monitor task was lost: beat's sweeper re-dispatches it over the broker and it is settled."""
    import time
    from dataclasses import replace
    from decimal import Decimal

    from exchanges.marketdata import MarketDataSnapshot, now_ms
    from exchanges.models import Exchange
    from exchanges.paper import paper_deposit
    from exchanges.services import markets_sync
    from exchanges.types import Ticker
    from orders.models import Order, OrderStatus
    from orders.services import order_place
    from orders.tasks import sweep_overdue
    from tests.conftest import MARKETS, ladder

    exchange = Exchange.objects.create(name="paper-worker")
    markets_sync(exchange=exchange, markets=MARKETS)
    paper_deposit(exchange=exchange, asset="USDT", amount=Decimal("10000"))
    snapshot = MarketDataSnapshot(exchange.name)

    def publish(bid: str, ask: str) -> None:
        """What the simulator does: the book and its ticker, stamped now."""
        book = replace(ladder("BTCUSDT", bid, ask, "1.00"), ts_ms=now_ms())
        snapshot.put_books([book])
        (bid_price, bid_size), (ask_price, ask_size) = book.bids[0], book.asks[0]
        snapshot.put_tickers([Ticker("BTCUSDT", bid_price, bid_size, ask_price, ask_size, book.ts_ms)])

    publish("60000.00", "60000.01")
    market = exchange.markets.get(symbol="BTCUSDT")
    order = order_place(
        exchange=exchange, market=market, side="buy", type="limit", amount=Decimal("0.01"), price=Decimal("59000"),
        purpose="manual", intent="lost-task",
    )  # fmt: skip
    assert order.status == OrderStatus.OPEN
    publish("58000.00", "58990.00")  # the market comes down through the order's price
    Order.objects.filter(pk=order.pk).update(next_check_at=timezone.now() - timedelta(minutes=1))  # its task was lost

    sweep_overdue.apply_async()  # as beat sends it
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        order.refresh_from_db()
        if order.status == OrderStatus.FILLED:
            break
        time.sleep(0.1)
    assert order.status == OrderStatus.FILLED
    assert order.fills.get().price == Decimal("59000")
