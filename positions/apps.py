from django.apps import AppConfig


class PositionsConfig(AppConfig):
    name = "positions"

    def ready(self) -> None:
        from tradingsite.writebehind import writebehind_register

        from .models import Position

        writebehind_register(Position, set_fields=["mark_price", "unrealized_pnl", "last_checked_at"])
