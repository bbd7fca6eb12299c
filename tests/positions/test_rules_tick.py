"""The monitor tick's decision, pure: which claimed positions a full check must take now (no database)."""

from decimal import Decimal

import pytest

from positions.models import PositionPhase
from positions.rules import BUILDING, Claimed, must_act, watch_of

D = Decimal


def claimed(**changes) -> Claimed:
    row = {"pk": 1, "exchange_id": 1, "phase": "MONITORING", "stop_loss": D("59000.00"), "trailing_stop_bps": None,
           "remaining": D("0.5"), "amount": D("1"), "cost_basis": D("60000"), "since_breakeven": None,
           "since_activity": 30.0, "tier": "normal", "symbol": "BTCUSDT", "price_step": D("0.01")}  # fmt: skip
    return Claimed(**(row | changes))


def test_the_rules_name_the_building_phase_as_the_model_does():
    assert PositionPhase.BUILDING == BUILDING


@pytest.mark.parametrize(
    ("position", "price", "levels", "working", "acts"),
    [
        (claimed(), D("60500.00"), [D("61000.00")], False, False),  # between the stop and the first TP: quiet
        (claimed(), D("61000.00"), [D("61000.00")], False, True),  # a TP crossed
        (claimed(), D("59000.00"), [], False, True),  # the stop crossed
        (claimed(), None, [D("61000.00")], False, False),  # no price: nothing to decide on
        (claimed(), D("60500.00"), [], True, True),  # an order working (or ended, not accounted)
        (claimed(phase=BUILDING), None, [], False, True),  # the entry is filling
        (claimed(trailing_stop_bps=50), D("60500.00"), [], False, True),  # the trail moves the stop up
        (claimed(trailing_stop_bps=50, stop_loss=D("60197.50")), D("60500.00"), [], False, False),  # it stays
    ],
)
def test_a_full_check_is_asked_for_only_when_something_must_happen(position, price, levels, working, acts):
    assert must_act(position, price, levels, working) is acts


def test_the_tier_is_decided_from_the_share_already_sold():
    watch = watch_of(claimed(), D("60500.00"), [D("61000.00")], since_be=None, since_activity=30.0)
    assert watch.closed_fraction == 0.5
