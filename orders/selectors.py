"""Reads for orders and fills."""

from django.db.models import QuerySet

from .models import Fill, Order
from .policy import MonitoringPolicy


def order_list() -> QuerySet[Order]:
    return Order.objects.select_related("market", "exchange")


def fill_list() -> QuerySet[Fill]:
    return Fill.objects.select_related("order")


def order_monitoring_policy(order: Order) -> MonitoringPolicy:
    """A cycle's orders follow their strategy's `order.monitoring`; every other order, its account's."""
    source = order.cycle.strategy if order.cycle_id else order.exchange
    return MonitoringPolicy(
        initial_delay_ms=source.monitor_initial_delay_ms,
        max_delay_ms=source.monitor_max_delay_ms,
        backoff_multiplier=float(source.monitor_backoff_multiplier),
        jitter_factor=float(source.monitor_jitter_factor),
        cache_ttl_ms=source.monitor_cache_ttl_ms,
    )
