"""Urgency tiers: which interval a position gets, from what it is doing and where the price is."""

from decimal import Decimal

import pytest

from positions.rules import Tiers, Watch, breakeven_price, tier, trailed_stop

D = Decimal
TIERS = Tiers()


def watch(**kw) -> Watch:
    base = {"phase": "MONITORING", "price": D("100"), "stop": D("90"), "pending_tps": (D("110"),),
            "closed_fraction": 0.0, "seconds_since_breakeven": None, "seconds_since_activity": 30.0}  # fmt: skip
    return Watch(**(base | kw))


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"phase": "BUILDING"}, ("critical", 2.0)),
        ({"price": D("109.6")}, ("critical", 2.0)),  # 36 bps under TP1
        ({"price": D("90.4")}, ("critical", 2.0)),  # 44 bps over the stop
        ({"seconds_since_breakeven": 10.0}, ("critical", 2.0)),
        ({"phase": "PROFIT_TAKING"}, ("active", 5.0)),
        ({"phase": "PROFIT_TAKING", "closed_fraction": 0.95}, ("inactive", 30.0)),
        ({"seconds_since_activity": 900.0}, ("idle", 60.0)),
        ({}, ("standard", 12.0)),
        ({"price": None}, ("standard", 12.0)),
    ],
)
def test_each_tier(kw, expected):
    assert tier(watch(**kw), TIERS) == expected


def test_tiers_are_configurable():
    assert tier(watch(), Tiers(standard_s=20.0)) == ("standard", 20.0)
    assert tier(watch(price=D("105")), Tiers(near_trigger_bps=500)) == ("critical", 2.0)


def test_breakeven_covers_both_fees_and_rounds_up_to_the_tick():
    assert breakeven_price(D("60000.01"), D("0.001"), D("0.01")) == D("60120.14")
    assert breakeven_price(D("100"), D("0"), D("0.01")) == D("100")


def test_a_trailing_stop_only_rises():
    assert trailed_stop(D("95"), D("100"), 200, D("0.01")) == D("98.00")
    assert trailed_stop(D("98"), D("99"), 200, D("0.01")) == D("98")
    assert trailed_stop(D("95"), D("100"), None, D("0.01")) == D("95")
