"""Ordered lock querysets for orders: always by pk, so concurrent lockers never deadlock."""

from django.db.models import QuerySet

from .models import Order


def orders_for_update() -> QuerySet[Order]:
    # NO KEY UPDATE: fills (which reference the order) can still be inserted concurrently.
    return Order.objects.order_by("pk").select_for_update(of=("self",), no_key=True)
