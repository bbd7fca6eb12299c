"""Writes for positions: phase and TP transitions under lock, events."""

from django.utils import timezone

from tradingsite.statemachine import transition_locked

from .locks import positions_for_update, take_profits_for_update
from .models import CRITICAL_EVENT_KINDS, Position, PositionEvent, PositionPhase, TakeProfitLevel


def position_transition(*, position_id: int, to: str, **updates) -> tuple[Position, bool]:
    if to == PositionPhase.CLOSED:
        updates.setdefault("closed_at", timezone.now())
        updates["next_check_at"] = None
    return transition_locked(positions_for_update(), pk=position_id, to=to, **updates)


def take_profit_transition(*, level_id: int, to: str, **updates) -> tuple[TakeProfitLevel, bool]:
    return transition_locked(take_profits_for_update(), pk=level_id, to=to, **updates)


def position_event_record(*, position_id: int, kind: str, payload: dict | None = None) -> PositionEvent:
    """Write one event now. (Non-critical events go through the write-behind buffer in the monitor.)"""
    return PositionEvent.objects.create(
        position_id=position_id,
        kind=kind,
        critical=kind in CRITICAL_EVENT_KINDS,
        payload=payload or {},
        created_at=timezone.now(),
    )
