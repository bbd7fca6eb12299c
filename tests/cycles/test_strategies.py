"""load_strategy: the users' YAML shape, validated with errors that name the key."""

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from cycles.models import Strategy
from cycles.strategy_config import StrategyConfigError, parse_strategy

EXAMPLES = Path(settings.BASE_DIR) / "configs" / "strategies"


@pytest.fixture
def paper_account(db):
    from exchanges.models import Exchange

    return Exchange.objects.create(name="paper")


def test_the_shipped_examples_load_and_update_in_place(paper_account):
    out = io.StringIO()
    call_command("load_strategy", *sorted(str(p) for p in EXAMPLES.glob("*.yaml")), stdout=out)
    assert "created strategy optimized_strategy on paper" in out.getvalue()
    s = Strategy.objects.get(name="optimized_strategy")
    assert (s.start_asset, s.trade_amount, s.min_profit_bps, s.max_open_cycles) == ("USDT", 100, 10, 3)
    assert (s.monitor_initial_delay_ms, s.monitor_max_delay_ms, s.monitor_cache_ttl_ms) == (100, 5000, 500)
    assert s.monitor_backoff_multiplier == Decimal("2.0")
    assert s.monitor_jitter_factor == Decimal("0.3")
    assert s.panic_base_currencies == ["USDT", "USDC"]
    assert s.panic_preferred_intermediaries == ["BTC", "ETH", "BNB"]
    assert (s.panic_max_total_slippage_bps, s.panic_max_hops) == (250, 4)
    out = io.StringIO()
    call_command("load_strategy", str(EXAMPLES / "optimized_strategy.yaml"), stdout=out)
    assert "updated strategy optimized_strategy" in out.getvalue()
    assert Strategy.objects.filter(name="optimized_strategy").count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"trade_amount": -5}, "trade_amount: must be above 0, not -5"),
        ({"max_open_cycles": 0}, "max_open_cycles: must be a whole number of at least 1, not 0"),
        ({"panic_sell": {"max_hops": 9}}, "panic_sell.max_hops: must be a whole number from 1 to 6, not 9"),
        ({"panic_sell": {"base_currencies": []}}, "panic_sell.base_currencies: must name at least one asset"),
        ({"order": {"monitoring": {"jitter_factor": 1.5}}}, "order.monitoring.jitter_factor: must be at least 0"),
        ({"order": {"monitoring": {"initial_delay_ms": 9000}}}, "must not exceed max_delay_ms (9000 > 5000)"),
        ({"order": {"monitoring": {"initial_dealy_ms": 5}}}, "order.monitoring.initial_dealy_ms: unknown key"),
        ({"min_profit": 3}, "min_profit: unknown key"),
        ({"name": "has space"}, "name: must be letters, digits"),
    ],
)
def test_each_problem_names_its_key(change, message):
    data = {
        "name": "s1", "exchange": "paper", "trade_amount": 100,
        "order": {"monitoring": {"max_delay_ms": 5000}},
    }  # fmt: skip
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **{k: {**data[key].get(k, {}), **v} if isinstance(v, dict) else v
                                         for k, v in value.items()}}  # fmt: skip
        else:
            data[key] = value
    with pytest.raises(StrategyConfigError) as caught:
        parse_strategy(data)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def test_missing_keys_and_every_problem_at_once():
    with pytest.raises(StrategyConfigError) as caught:
        parse_strategy({"max_hops": 3, "max_open_cycles": "three"})
    problems = caught.value.problems
    assert "name: required" in problems
    assert "exchange: required" in problems
    assert "trade_amount: required" in problems
    assert any(p.startswith("max_open_cycles:") for p in problems)


def test_the_command_reports_bad_files_without_a_traceback(tmp_path, paper_account):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("load_strategy", str(bad_yaml))
    unknown_exchange = tmp_path / "s.yaml"
    unknown_exchange.write_text("name: s\nexchange: kraken\ntrade_amount: 10\n")
    with pytest.raises(CommandError, match="no exchange account named 'kraken' \\(known: paper\\)"):
        call_command("load_strategy", str(unknown_exchange))
    with pytest.raises(CommandError, match="no such file"):
        call_command("load_strategy", str(tmp_path / "missing.yaml"))
    assert not Strategy.objects.exists()
