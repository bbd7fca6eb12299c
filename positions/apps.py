"""The positions app: spot positions with take-profits and stops; its order hook and write-behind fields."""

from django.apps import AppConfig


class PositionsConfig(AppConfig):
    name = "positions"

    def ready(self) -> None:
        from core import apicache
        from core.cache_stats import cache_stats_register
        from core.writebehind import writebehind_register
        from orders.models import OrderPurpose
        from orders.owners import register_owner

        from . import events
        from .models import Position
        from .services import position_order_ended

        register_owner(OrderPurpose.POSITION, on_ended=position_order_ended)
        cache_stats_register("position_events", events.stats)
        cache_stats_register("api_cache", apicache.stats)

        writebehind_register(Position, set_fields=["mark_price", "unrealized_pnl", "last_checked_at"])
