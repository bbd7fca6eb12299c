"""Writes for strategies, reservations and cycles."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tradingsite.services import model_create, model_update
from tradingsite.statemachine import transition_locked

from .locks import cycles_for_update, reservations_for_update
from .models import TERMINAL_STATES, Cycle, CycleState, Reservation, Strategy


def _validate_asset_list(name: str, value, *, required: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError({name: "Give a list of asset codes, e.g. [USDT, USDC]."})
    if required and not value:
        raise ValidationError({name: "Give at least one asset."})
    return [v.strip().upper() for v in value]


def _normalize_strategy_fields(fields: dict) -> dict:
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
    return model_create(Strategy, **_normalize_strategy_fields(fields))


@transaction.atomic
def strategy_update(strategy: Strategy, data: dict, /) -> Strategy:
    strategy, _ = model_update(strategy, _normalize_strategy_fields(dict(data)))
    return strategy


def cycle_transition(*, cycle_id: int, to: str, **updates) -> tuple[Cycle, bool]:
    """Move a cycle to `to`, stamping when it started and when it finished."""
    now = timezone.now()
    if to == CycleState.EXECUTING:
        updates.setdefault("started_at", now)
    if to in TERMINAL_STATES:
        updates.setdefault("finished_at", now)
    return transition_locked(cycles_for_update(), pk=cycle_id, to=to, **updates)


def reservation_expire_stale(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete unconsumed reservations past their expiry; returns how many.

    Rows a consumer holds locked right now are skipped, not waited for.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            reservations_for_update(skip_locked=True)
            .filter(consumed_at__isnull=True, expires_at__lte=now)
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return 0
        deleted, _ = Reservation.objects.filter(pk__in=ids).delete()
    return deleted
