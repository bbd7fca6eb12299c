"""The rebalance planner: the fewest orders, then the cheapest, checked on known cases and against an exhaustive
search (the benchmark's, on fewer cases)."""

import random

import pytest

from analytics.rebalance_plan import BUY, SELL, Holding, Leg, Problem, plan
from bench.bench_rebalance import exhaustive, generated

DIRECT, ROUTED = Leg(cost_rate=0.001), Leg(cost_rate=0.0005, orders=2)


def test_a_portfolio_within_tolerance_is_left_alone():
    problem = Problem("USDT", 500, 0.5, (Holding("BTC", 305, 0.3, DIRECT, DIRECT), Holding("ETH", 195, 0.2,
                                                                                             DIRECT, DIRECT)),
                      tolerance=0.02)  # fmt: skip
    result = plan(problem)
    assert result.ok
    assert result.trades == ()
    assert result.orders == 0


def test_only_the_assets_out_of_band_trade_and_they_land_in_the_inner_band():
    problem = Problem("USDT", 400, 0.4, (Holding("BTC", 450, 0.3, DIRECT, DIRECT), Holding("ETH", 150, 0.3,
                                                                                             DIRECT, DIRECT)),
                      tolerance=0.05, aim=0.5)  # fmt: skip
    result = plan(problem)
    assert [(t.asset, t.side) for t in result.trades] == [("BTC", SELL), ("ETH", BUY)]
    for asset, target in (("BTC", 0.3), ("ETH", 0.3), ("USDT", 0.4)):
        assert abs(result.after[asset] / result.total - target) <= 0.025 + 1e-9
    assert result.cost == pytest.approx(sum(t.amount * 0.001 for t in result.trades))


def test_when_only_the_quote_is_out_one_trade_fixes_it_through_the_market_with_fewest_orders():
    # Too much USDT; BTC (two orders, cheaper per unit) and ETH (one order) are both in band and could absorb it.
    problem = Problem("USDT", 560, 0.5, (Holding("BTC", 300, 0.3, ROUTED, ROUTED), Holding("ETH", 190, 0.2,
                                                                                             DIRECT, DIRECT)),
                      tolerance=0.02, aim=0.0)  # fmt: skip
    result = plan(problem)
    assert [(t.asset, t.side, t.orders) for t in result.trades] == [("ETH", BUY, 1)]
    assert result.after["USDT"] / result.total == pytest.approx(0.52)


def test_an_asset_that_cannot_trade_is_named():
    problem = Problem("USDT", 100, 0.5, (Holding("XYZ", 900, 0.5, sell=None, buy=DIRECT),), tolerance=0.02)
    result = plan(problem)
    assert not result.ok
    assert result.reason == "XYZ cannot be sold: no route to or from the quote"


def test_a_minimum_trade_larger_than_the_band_is_refused_with_the_reason():
    big = Leg(cost_rate=0.001, min_value=200)
    problem = Problem("USDT", 470, 0.5, (Holding("BTC", 530, 0.5, big, big),), tolerance=0.02)
    result = plan(problem)
    assert not result.ok
    assert "its minimum trade overshoots its band" in result.reason


def test_never_more_orders_nor_a_higher_cost_than_an_exhaustive_search():
    rng = random.Random(3)
    checked = 0
    for _ in range(300):
        problem = generated(rng)
        mine, optimal = plan(problem), exhaustive(problem)
        assert mine.ok == (optimal is not None), problem
        if optimal is not None:
            checked += 1
            assert mine.orders == optimal[0], problem
            assert mine.cost <= optimal[1] * (1 + 1e-9) + 1e-9, problem
    assert checked > 200
