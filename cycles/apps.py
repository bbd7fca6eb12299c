"""The cycles app: triangular-arbitrage strategies, slot reservations and cycles; its order and panic-sell hooks."""

from django.apps import AppConfig


class CyclesConfig(AppConfig):
    name = "cycles"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register
        from liquidation.services import register_panic_owner
        from orders.models import OrderPurpose
        from orders.owners import register_owner

        from .liquidating import LIQUIDATION_OWNER, cycle_order_ended
        from .scanner import scanner_stats

        register_owner(OrderPurpose.CYCLE, on_ended=cycle_order_ended)
        register_panic_owner(LIQUIDATION_OWNER)
        cache_stats_register("scanner", scanner_stats)
