"""API for venue accounts (credentials write-only) and markets."""

from rest_framework import serializers, viewsets

from tradingsite.api import ServiceWriteViewSet

from . import selectors, services
from .models import Exchange, Market


class ExchangeSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, style={"input_type": "password"})
    api_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    api_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    has_credentials = serializers.BooleanField(read_only=True)

    class Meta:
        model = Exchange
        fields = [
            "id", "name", "kind", "ccxt_id", "role", "mirror_of", "mirror_ratio", "enabled",
            "api_key", "api_secret", "api_password", "has_credentials", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]


class ExchangeViewSet(ServiceWriteViewSet):
    queryset = selectors.exchange_list()
    serializer_class = ExchangeSerializer
    filterset_fields = ["kind", "role", "enabled"]
    ordering_fields = ["name", "created_at"]

    create_service = staticmethod(services.exchange_create)
    update_service = staticmethod(services.exchange_update)


class MarketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = [
            "id", "exchange", "symbol", "base", "quote", "price_step", "amount_step", "min_amount",
            "min_notional", "taker_fee", "maker_fee", "active", "updated_at",
        ]  # fmt: skip


class MarketViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.market_list()
    serializer_class = MarketSerializer
    filterset_fields = ["exchange", "base", "quote", "active", "symbol"]
    ordering_fields = ["symbol"]
