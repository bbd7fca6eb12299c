"""Copy sizing: equity x risk% / max(|entry - stop|, 0.001 x entry), capped, stepped, or skipped with the reason."""

from decimal import Decimal

import pytest

from exchanges.types import MarketInfo
from wallets.sizing import ladder_prices, size_copy, stop_price

D = Decimal
MARKET = MarketInfo("PM1USDC", "PM1", "USDC", D("0.001"), D("0.01"), D("5"), D("1"), D(0), D(0))


def size(**terms):
    base = {"equity": D(10000), "risk_pct": D(1), "entry": D("0.5"), "stop": D("0.45"), "source_size": D(100000),
            "copy_ratio": D(1), "book_depth": D(100000), "market": MARKET}  # fmt: skip
    return size_copy(**(base | terms))


def test_risk_sets_the_size_when_nothing_caps_it():
    result = size()
    assert result.amount == D(2000)  # 100 USDC at risk / 0.05 a share
    assert result.decision["bound_by"] == "risk"


def test_a_stop_at_the_entry_risks_a_tenth_of_a_percent_not_infinity():
    result = size(stop=D("0.5"))
    assert result.amount == D(100000)  # 100 / 0.0005 = 200,000, then the copy ratio caps it at 100,000
    assert result.decision["stop_distance"] == "0.0005"
    assert result.decision["caps"]["risk"] == "200000"


@pytest.mark.parametrize(("terms", "bound"), [
    ({"max_position_quote": D(100)}, "max_position"), ({"source_size": D(30), "copy_ratio": D("0.5")}, "copy_ratio"),
    ({"book_depth": D(12.345)}, "book_depth"),
])  # fmt: skip
def test_each_cap_binds(terms, bound):
    result = size(**terms)
    assert result.decision["bound_by"] == bound
    assert result.amount == D(result.decision["caps"][bound]).quantize(D("0.01"), rounding="ROUND_FLOOR")


def test_tiny_equity_or_under_the_minimum_is_skipped_with_the_reason():
    tiny = size(equity=D("0.5"))
    assert tiny.skipped
    assert "under the market minimum of 5" in tiny.reason
    assert tiny.decision["bound_by"] == "risk"
    notional = size(entry=D("0.1"), stop=D("0.09"), source_size=D(6))
    assert notional.skipped
    assert "minimum order value of 1" in notional.reason
    assert size(equity=D(0)).reason.startswith("no equity")


def test_stop_and_ladder_prices_sit_on_the_tick_on_the_safe_side():
    assert stop_price(D("0.447"), D(10), D("0.001")) == D("0.402")
    assert ladder_prices(D("0.447"), [{"pct": 10, "fraction": 0.5}, {"pct": 0.01, "fraction": 0.5}], D("0.001")) == [
        (D("0.492"), D("0.5")), (D("0.448"), D("0.5")),
    ]  # fmt: skip
