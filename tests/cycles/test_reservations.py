"""Slot reservations: never more than max_open_cycles, even under real concurrent processes."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from cycles.errors import ReservationLimitReached, ReservationUnusable, StrategyDisabled
from cycles.models import Cycle, CycleState, Reservation
from cycles.reservations import cycle_reserve, reservation_expire_stale, reservation_release
from tests import factories as f
from tests.cycles.conftest import open_cycle

CHILD = """
import json, os, sys
import django
django.setup()
from cycles.errors import ReservationLimitReached
from cycles.reservations import cycle_reserve
granted = refused = 0
for _ in range(int(sys.argv[2])):
    try:
        cycle_reserve(strategy_id=int(sys.argv[1]))
        granted += 1
    except ReservationLimitReached:
        refused += 1
print(json.dumps([granted, refused]))
"""


@pytest.mark.django_db(transaction=True)
def test_eight_processes_never_hold_more_slots_than_the_limit():
    strategy = f.StrategyFactory(max_open_cycles=3, reservation_ttl_s=600)
    f.CycleFactory(strategy=strategy, state=CycleState.EXECUTING)  # one slot already taken by a running cycle
    db = connections["default"].settings_dict
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="tradingsite.settings", DB_POOL_SIZE="0",
        DATABASE_URL=f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    )  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(strategy.pk), "25"], env=env, cwd=settings.BASE_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]  # fmt: skip
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    granted = sum(g for g, _ in outcomes)
    assert granted == 2
    assert sum(r for _, r in outcomes) == 8 * 25 - granted
    assert Reservation.objects.filter(strategy=strategy, consumed_at__isnull=True).count() == granted


def test_consumed_expired_and_released_slots(paper, strategy):
    strategy.max_open_cycles = 2
    strategy.save(update_fields=["max_open_cycles"])
    cycle = open_cycle(strategy)  # its reservation is consumed: the cycle holds the slot now
    held = cycle_reserve(strategy_id=strategy.pk)
    with pytest.raises(ReservationLimitReached, match="at its limit of 2 open cycles \\(1 open, 1 reserved\\)"):
        cycle_reserve(strategy_id=strategy.pk)
    assert reservation_release(reservation_id=held.pk)
    stale = cycle_reserve(strategy_id=strategy.pk)
    Reservation.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(minutes=2), expires_at=timezone.now() - timedelta(seconds=1)
    )
    cycle_reserve(strategy_id=strategy.pk)  # an expired reservation no longer counts
    assert reservation_expire_stale() == 1
    from cycles.services import PlannedLeg, cycle_create

    legs = [PlannedLeg(leg.market_id, leg.side, leg.expected_price) for leg in cycle.legs.all()]
    with pytest.raises(ReservationUnusable, match="already used"):
        cycle_create(reservation_id=cycle.reservation_id, legs=legs, start_amount=1, expected_net_rate=1)
    Cycle.objects.filter(pk=cycle.pk).update(state=CycleState.COMPLETED)
    cycle_reserve(strategy_id=strategy.pk)  # a finished cycle frees its slot


def test_a_disabled_strategy_opens_nothing(paper, strategy):
    strategy.enabled = False
    strategy.save(update_fields=["enabled"])
    with pytest.raises(StrategyDisabled):
        cycle_reserve(strategy_id=strategy.pk)


@pytest.mark.django_db(transaction=True)
def test_a_reservation_outside_any_transaction_commits_on_its_own():
    strategy = f.StrategyFactory(max_open_cycles=1, reservation_ttl_s=30)
    now = timezone.now()
    held = cycle_reserve(strategy_id=strategy.pk, now=now)
    assert not connections["default"].in_atomic_block
    stored = Reservation.objects.get(pk=held.pk)
    assert (stored.strategy_id, stored.created_at, stored.expires_at) == (strategy.pk, now, now + timedelta(seconds=30))
    assert (held.created_at, held.expires_at, held.consumed) == (now, stored.expires_at, False)
    with pytest.raises(ReservationLimitReached, match="0 open, 1 reserved"):
        cycle_reserve(strategy_id=strategy.pk, now=now)
    with pytest.raises(type(strategy).DoesNotExist):
        cycle_reserve(strategy_id=strategy.pk + 10_000)
    # The connection is left idle and usable after each outcome.
    assert Reservation.objects.filter(strategy=strategy).count() == 1
