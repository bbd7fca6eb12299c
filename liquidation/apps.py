"""The liquidation app: panic sells, routed hop by hop to a base currency; its order hook."""

from django.apps import AppConfig


class LiquidationConfig(AppConfig):
    name = "liquidation"

    def ready(self) -> None:
        from orders.models import OrderPurpose
        from orders.owners import register_owner

        from .services import panic_sell_hop_ended

        register_owner(OrderPurpose.LIQUIDATION, on_ended=panic_sell_hop_ended)
