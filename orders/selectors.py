"""Reads for orders and fills."""

from django.db.models import QuerySet

from .models import Fill, Order


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("market", "exchange")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.select_related("order")
