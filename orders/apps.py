"""The orders app: its write-behind fields and its status-cache statistics."""

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register
        from core.writebehind import writebehind_register

        from .models import Order
        from .status_cache import status_cache_stats

        # Check stamps are progress, not facts: they may trail by one flush.
        writebehind_register(Order, set_fields=["last_checked_at"], add_fields=["check_count"])
        cache_stats_register("order_status", status_cache_stats)
