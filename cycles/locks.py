"""Ordered lock querysets for strategies, reservations and cycles.

Lock order when several are needed: strategy, then reservation, then cycle, then panic sell
(liquidation.locks).
"""

from django.db.models import QuerySet

from .models import Cycle, Reservation, Strategy


def strategies_for_update() -> QuerySet[Strategy]:
    return Strategy.objects.order_by("pk").select_for_update(of=("self",))


def reservations_for_update(*, skip_locked: bool = False) -> QuerySet[Reservation]:
    return Reservation.objects.order_by("pk").select_for_update(of=("self",), skip_locked=skip_locked)


def cycles_for_update() -> QuerySet[Cycle]:
    return Cycle.objects.order_by("pk").select_for_update(of=("self",), no_key=True)
