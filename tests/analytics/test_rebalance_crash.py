"""A rebalance whose real Celery worker is SIGKILLed between two trades, on a paper venue with its faults on (5xx,
timeouts after the order was accepted, partial fills, 429s): beat's sweep resumes it on a new worker, it reaches
its targets, and nothing is placed twice, left live or unaccounted for (the chaos harness's checks)."""

from decimal import Decimal

import pytest
from django.conf import settings

from analytics.models import Rebalance, RebalanceState, RebalanceTradeState
from analytics.rebalance_targets import rebalance_target_set
from analytics.rebalancing import rebalance_execute, rebalance_plan, rebalances_resume
from bench.bench_chaos import QUICK, _balance_mismatches, _duplicates, _orphans, _Publisher, _setup
from bench.common import celery_worker, drop_account, wait_until
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import VenueFaults
from exchanges.registry import get_venue
from liquidation.models import PanicSell
from tradingsite.celery import app

ACCOUNT = "rebalance-crash"
TARGETS = {"BTC": "0.4", "ETH": "0.3"}  # BNB left out: its USDT market has no buyer to value it by


@pytest.fixture
def faulty_account(settings):
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    for name, value in QUICK.items():
        setattr(settings, name, type(getattr(settings, name))(value))
    exchange, _ = _setup(ACCOUNT)
    publisher = _Publisher(ACCOUNT)
    publisher.publish()
    publisher.start()
    yield exchange
    publisher.stopped.set()
    app.conf.task_always_eager = eager
    MarketDataSnapshot(ACCOUNT).clear()
    drop_account(ACCOUNT)


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_a_rebalance_whose_worker_is_killed_between_trades_resumes_and_places_nothing_twice(faulty_account, worker_env):
    exchange = faulty_account
    rebalance_target_set(exchange=exchange, weights=TARGETS, tolerance="0.02", updated_by="test")
    VenueFaults.objects.filter(exchange=exchange).update(enabled=False)  # the plan reads the venue here, unfaulted
    rebalance = rebalance_plan(exchange=exchange, requested_by="test", venue=get_venue(exchange))
    assert rebalance.trades.count() == 2
    VenueFaults.objects.filter(exchange=exchange).update(enabled=True)
    env = worker_env | QUICK
    worker = celery_worker("rebalance-crash", env=env | {"FAILPOINTS": "rebalance.between_trades@1"}).start()
    try:
        rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
        assert wait_until(lambda: worker.proc.poll() is not None, 60), "the worker never reached its failpoint"
    finally:
        worker.kill()
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.EXECUTING
    done = rebalance.trades.filter(state=RebalanceTradeState.DONE).count()
    assert done == 1, list(rebalance.trades.values_list("state", flat=True))

    settings.REBALANCE_STALL_S = 0  # what beat's sweep does REBALANCE_STALL_S after the last advance
    worker = celery_worker("rebalance-resume", env=env).start()
    try:
        assert rebalances_resume() == 1
        ended = wait_until(lambda: Rebalance.objects.get(pk=rebalance.pk).state != RebalanceState.EXECUTING, 120)
        assert ended, list(rebalance.trades.values_list("state", "note"))
        # the last hop's monitoring settles; the checks below want nothing live
        assert wait_until(lambda: not _orphans(exchange), 30), _orphans(exchange)
    finally:
        worker.kill()
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.COMPLETED, rebalance.error
    assert PanicSell.objects.filter(exchange=exchange).count() == 2  # one conversion per trade, never a second
    assert (_duplicates(exchange), _balance_mismatches(exchange)) == ([], [])
    wanted = {a: Decimal(w) for a, w in TARGETS.items()} | {"USDT": Decimal("0.3")}
    assert all(abs(Decimal(str(rebalance.after[a])) - w) <= Decimal("0.02") for a, w in wanted.items()), rebalance.after
