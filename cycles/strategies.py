"""Writes for strategies: created and updated with their asset lists validated and normalized, or loaded from
YAML (configs/strategies/)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.assets import NoAssets, NotAnAssetList, asset_codes
from core.errors import DomainError
from core.services import model_create, model_update
from exchanges.models import Exchange

from .locks import strategies_for_update
from .models import Strategy
from .strategy_config import parse_strategy


def _validate_asset_list(name: str, value, *, required: bool) -> list[str]:
    try:
        return asset_codes(value, required=required)
    except NotAnAssetList:
        raise ValidationError({name: "Give a list of asset codes, e.g. [USDT, USDC]."}) from None
    except NoAssets:
        raise ValidationError({name: "Give at least one asset."}) from None


def strategy_check(strategy: Strategy | None, fields: dict, /) -> dict:
    """The given fields validated and normalized (asset lists, the start asset's case), as every write takes them."""
    if "panic_base_currencies" in fields:
        fields["panic_base_currencies"] = _validate_asset_list(
            "panic_base_currencies", fields["panic_base_currencies"], required=True
        )
    if "panic_preferred_intermediaries" in fields:
        fields["panic_preferred_intermediaries"] = _validate_asset_list(
            "panic_preferred_intermediaries", fields["panic_preferred_intermediaries"], required=False
        )
    if "start_asset" in fields:
        fields["start_asset"] = fields["start_asset"].strip().upper()
    return fields


@transaction.atomic
def strategy_create(**fields) -> Strategy:
    fields.setdefault("panic_base_currencies", ["USDT"])
    return model_create(Strategy, **strategy_check(None, fields))


@transaction.atomic
def strategy_update(strategy: Strategy, data: dict, /) -> Strategy:
    strategy, _ = model_update(strategy, strategy_check(strategy, dict(data)))
    return strategy


def strategy_load(data) -> tuple[Strategy, bool]:
    """Create or update the strategy the YAML mapping describes (matched by name); returns (strategy, created)."""
    exchange_name, fields = parse_strategy(data)
    exchange = Exchange.objects.filter(name=exchange_name).first()
    if exchange is None:
        known = ", ".join(Exchange.objects.order_by("name").values_list("name", flat=True)) or "none yet"
        raise DomainError(f"exchange: no exchange account named {exchange_name!r} (known: {known})")
    with transaction.atomic():
        existing = strategies_for_update().filter(name=fields["name"]).first()
        if existing is None:
            return strategy_create(exchange=exchange, **fields), True
        return strategy_update(existing, {"exchange": exchange, **fields}), False
