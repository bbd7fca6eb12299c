"""Ordered lock querysets for positions and their TP levels (position before its levels)."""

from django.db.models import QuerySet

from .models import Position, TakeProfitLevel


def positions_for_update() -> QuerySet[Position]:
    return Position.objects.order_by("pk").select_for_update(of=("self",), no_key=True)


def take_profits_for_update() -> QuerySet[TakeProfitLevel]:
    return TakeProfitLevel.objects.order_by("pk").select_for_update(of=("self",), no_key=True)
