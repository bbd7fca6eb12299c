"""Reads for positions, TP levels and events."""

from django.db.models import QuerySet

from .models import Position, PositionEvent


def position_list() -> QuerySet[Position]:
    return Position.objects.select_related("market", "exchange").prefetch_related("take_profits")


def position_event_list() -> QuerySet[PositionEvent]:
    return PositionEvent.objects.all()
