"""The monitoring policy and client ids: pure functions."""

import random
import re

import pytest

from orders.policy import MonitoringPolicy, client_order_id, rate_stretch


def test_checks_start_fast_then_double_up_to_the_cap():
    policy = MonitoringPolicy(initial_delay_ms=100, max_delay_ms=5000, backoff_multiplier=2.0, jitter_factor=0)
    age, delays = 0.0, []
    for _ in range(10):
        delay = policy.delay_ms(age)
        delays.append(round(delay))
        age += delay
    assert delays == [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]


def test_jitter_stays_within_its_factor_and_under_the_cap():
    policy = MonitoringPolicy(jitter_factor=0.3)
    rng = random.Random(1)
    early = [policy.delay_ms(0, rng=rng) for _ in range(2000)]
    assert 70 <= min(early) < 75
    assert 125 < max(early) <= 130
    late = [policy.delay_ms(60_000, rng=rng) for _ in range(2000)]
    assert max(late) <= 5000
    assert min(late) >= 3500


def test_delays_stretch_as_the_rate_budget_runs_low():
    assert rate_stretch(1.0) == rate_stretch(0.5) == 1.0
    assert rate_stretch(0.25) == pytest.approx(2.0)
    assert rate_stretch(0.05) == rate_stretch(0.0) == 10.0
    policy = MonitoringPolicy(jitter_factor=0)
    assert policy.delay_ms(60_000, budget_left=0.1) == 5 * policy.delay_ms(60_000)


def test_policy_refuses_settings_that_make_no_sense():
    with pytest.raises(ValueError, match="initial_delay_ms"):
        MonitoringPolicy(initial_delay_ms=6000, max_delay_ms=5000)
    with pytest.raises(ValueError, match="backoff_multiplier"):
        MonitoringPolicy(backoff_multiplier=0.5)
    with pytest.raises(ValueError, match="jitter_factor"):
        MonitoringPolicy(jitter_factor=1.5)


def test_client_ids_are_deterministic_and_fit_binance():
    assert client_order_id("ts", "c12-l2", 3) == "ts-c12-l2-a3"
    long_intent = "position-123456789-take-profit-level-7"
    first = client_order_id("ts", long_intent, 1)
    assert first == client_order_id("ts", long_intent, 1)
    assert first != client_order_id("ts", long_intent, 2)
    assert len(first) <= 36
    assert re.fullmatch(r"[.A-Za-z0-9:/_-]{1,36}", first)
