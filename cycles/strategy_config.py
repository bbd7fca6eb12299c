"""The strategy YAML (the shape existing users have) to Strategy fields (pure, no Django).

Every problem names its key: `panic_sell.max_hops: must be a whole number
from 1 to 6, not 9`.
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from core.assets import NoAssets, NotAnAssetList, asset_codes

REQUIRED = ("name", "exchange", "trade_amount")
TOP_KEYS = {
    "name", "exchange", "start_asset", "trade_amount", "min_profit_bps", "max_open_cycles", "reservation_ttl_s",
    "max_book_age_ms", "enabled", "order", "panic_sell",
}  # fmt: skip
MONITORING_KEYS = {
    "initial_delay_ms": "monitor_initial_delay_ms", "max_delay_ms": "monitor_max_delay_ms",
    "backoff_multiplier": "monitor_backoff_multiplier", "jitter_factor": "monitor_jitter_factor",
    "cache_ttl_ms": "monitor_cache_ttl_ms",
}  # fmt: skip
PANIC_KEYS = {
    "use_enhanced_routing": "panic_use_enhanced_routing", "base_currencies": "panic_base_currencies",
    "preferred_intermediaries": "panic_preferred_intermediaries",
    "max_total_slippage_bps": "panic_max_total_slippage_bps", "max_hops": "panic_max_hops",
}  # fmt: skip


class StrategyConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _int(key: str, value: Any, problems: list[str], *, low: int, high: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        problems.append(f"{key}: must be a whole number {span}, not {value!r}")
        return None
    return value


def _decimal(key: str, value: Any, problems: list[str], *, low: Decimal, high: Decimal | None = None, open_low=False):
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        number = Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        problems.append(f"{key}: must be a number, not {value!r}")
        return None
    if number < low or (open_low and number == low) or (high is not None and number >= high):
        bound = f"above {low}" if open_low else f"at least {low}"
        if high is not None:
            bound += f" and below {high}"
        problems.append(f"{key}: must be {bound}, not {value!r}")
        return None
    return number


def _assets(key: str, value: Any, problems: list[str], *, required: bool) -> list[str] | None:
    try:
        return asset_codes(value, required=required)
    except NotAnAssetList:
        problems.append(f"{key}: must be a list of asset codes like [USDT, USDC], not {value!r}")
    except NoAssets:
        problems.append(f"{key}: must name at least one asset")
    return None


def _section(key: str, value: Any, known: dict, problems: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: must be a mapping, not {value!r}")
        return {}
    for unknown in sorted(set(value) - set(known)):
        problems.append(f"{key}.{unknown}: unknown key (known: {', '.join(sorted(known))})")
    return value


def _text_keys(where: str, mapping: dict) -> None:
    """Every key of the file is text (`1: x` or `true: x` would be another type): refused, by where it stands."""
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise StrategyConfigError([f"{where}{key!r}: keys are names (text), not {type(key).__name__}"])
        if isinstance(value, dict):
            _text_keys(f"{where}{key}.", value)


def parse_strategy(data: Any) -> tuple[str, dict]:
    """(exchange name, Strategy fields) from the YAML's mapping, or StrategyConfigError listing every problem."""
    if not isinstance(data, dict):
        raise StrategyConfigError([f"the file must hold one mapping of strategy settings, not {type(data).__name__}"])
    _text_keys("", data)
    problems: list[str] = []
    for unknown in sorted(set(data) - TOP_KEYS):
        problems.append(f"{unknown}: unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    for key in REQUIRED:
        if key not in data:
            problems.append(f"{key}: required")
    fields: dict[str, Any] = {}
    name = data.get("name")
    if "name" in data:
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
            problems.append(f"name: must be letters, digits, '-' or '_', not {name!r}")
        elif len(name) > 64:
            problems.append(f"name: at most 64 characters, not {len(name)}")
        else:
            fields["name"] = name
    exchange = data.get("exchange")
    if "exchange" in data and (not isinstance(exchange, str) or not exchange.strip()):
        problems.append(f"exchange: must be the name of an exchange account, not {exchange!r}")
    if "start_asset" in data:
        asset = data["start_asset"]
        if not isinstance(asset, str) or not asset.strip().isalnum():
            problems.append(f"start_asset: must be an asset code like USDT, not {asset!r}")
        else:
            fields["start_asset"] = asset.strip().upper()
    if "trade_amount" in data:
        fields["trade_amount"] = _decimal("trade_amount", data["trade_amount"], problems, low=Decimal(0), open_low=True)
    if "min_profit_bps" in data:
        fields["min_profit_bps"] = _decimal(
            "min_profit_bps", data["min_profit_bps"], problems, low=Decimal(0), high=Decimal(10_000)
        )
    for key, low in (("max_open_cycles", 1), ("reservation_ttl_s", 1), ("max_book_age_ms", 1)):
        if key in data:
            fields[key] = _int(key, data[key], problems, low=low)
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            problems.append(f"enabled: must be true or false, not {data['enabled']!r}")
        else:
            fields["enabled"] = data["enabled"]

    order = _section("order", data.get("order"), {"monitoring": None}, problems)
    monitoring = _section("order.monitoring", order.get("monitoring"), MONITORING_KEYS, problems)
    for key in ("initial_delay_ms", "max_delay_ms", "cache_ttl_ms"):
        if key in monitoring:
            fields[MONITORING_KEYS[key]] = _int(f"order.monitoring.{key}", monitoring[key], problems, low=1)
    if "backoff_multiplier" in monitoring:
        fields["monitor_backoff_multiplier"] = _decimal(
            "order.monitoring.backoff_multiplier", monitoring["backoff_multiplier"], problems, low=Decimal(1)
        )
    if "jitter_factor" in monitoring:
        fields["monitor_jitter_factor"] = _decimal(
            "order.monitoring.jitter_factor", monitoring["jitter_factor"], problems, low=Decimal(0), high=Decimal(1)
        )
    first, last = fields.get("monitor_initial_delay_ms"), fields.get("monitor_max_delay_ms")
    if first is not None and last is not None and first > last:
        problems.append(f"order.monitoring.initial_delay_ms: must not exceed max_delay_ms ({first} > {last})")

    panic = _section("panic_sell", data.get("panic_sell"), PANIC_KEYS, problems)
    if "use_enhanced_routing" in panic:
        if not isinstance(panic["use_enhanced_routing"], bool):
            problems.append(
                f"panic_sell.use_enhanced_routing: must be true or false, not {panic['use_enhanced_routing']!r}"
            )
        else:
            fields["panic_use_enhanced_routing"] = panic["use_enhanced_routing"]
    if "base_currencies" in panic:
        fields["panic_base_currencies"] = _assets(
            "panic_sell.base_currencies", panic["base_currencies"], problems, required=True
        )
    if "preferred_intermediaries" in panic:
        fields["panic_preferred_intermediaries"] = _assets(
            "panic_sell.preferred_intermediaries", panic["preferred_intermediaries"], problems, required=False
        )
    if "max_total_slippage_bps" in panic:
        fields["panic_max_total_slippage_bps"] = _int(
            "panic_sell.max_total_slippage_bps", panic["max_total_slippage_bps"], problems, low=1, high=10_000
        )
    if "max_hops" in panic:
        fields["panic_max_hops"] = _int("panic_sell.max_hops", panic["max_hops"], problems, low=1, high=6)
    if problems:
        raise StrategyConfigError(problems)
    return exchange.strip(), fields
