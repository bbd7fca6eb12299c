"""Reads for strategies, reservations and cycles."""

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import OPEN_STATES, Cycle, Reservation, Strategy


def strategy_list() -> QuerySet[Strategy]:
    now = timezone.now()
    return Strategy.objects.select_related("exchange").annotate(
        open_cycles=Count("cycles", filter=Q(cycles__state__in=OPEN_STATES), distinct=True),
        live_reservations=Count(
            "reservations",
            filter=Q(reservations__consumed_at__isnull=True, reservations__expires_at__gt=now),
            distinct=True,
        ),
    )


def reservation_list() -> QuerySet[Reservation]:
    return Reservation.objects.select_related("strategy", "cycle")


def cycle_list() -> QuerySet[Cycle]:
    return Cycle.objects.select_related("strategy").prefetch_related("legs__market")
