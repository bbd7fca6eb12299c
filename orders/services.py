"""Writes for orders. Status changes only here, under the order's row lock."""

from django.utils import timezone

from tradingsite.statemachine import transition_locked

from .locks import orders_for_update
from .models import TERMINAL_STATUSES, Order


def order_transition(*, order_id: int, to: str, **updates) -> tuple[Order, bool]:
    """Move an order to `to`; stamps `closed_at` when it becomes terminal."""
    if to in TERMINAL_STATUSES:
        updates.setdefault("closed_at", timezone.now())
    return transition_locked(orders_for_update(), pk=order_id, to=to, **updates)
