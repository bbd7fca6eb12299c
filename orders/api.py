"""API for orders and fills (read-only: orders are placed by the services)."""

import django_filters
from rest_framework import serializers, viewsets

from . import selectors
from .models import Fill, Order


class FillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Fill
        fields = [
            "id", "order", "trade_id", "price", "amount", "cost", "fee", "fee_asset", "is_maker",
            "executed_at", "recorded_at",
        ]  # fmt: skip


class OrderSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="market.symbol", read_only=True)

    class Meta:
        model = Order
        fields = [
            "id", "exchange", "market", "symbol", "purpose", "cycle", "position", "copy_trade", "intent",
            "attempt", "client_order_id", "exchange_order_id", "side", "type", "price", "amount", "filled",
            "average", "cost", "fee", "fee_asset", "status", "next_check_at", "check_count", "last_checked_at",
            "last_error", "created_at", "updated_at", "submitted_at", "closed_at",
        ]  # fmt: skip


class OrderFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["exchange", "market", "status", "side", "purpose", "cycle", "position", "copy_trade",
                  "client_order_id"]  # fmt: skip


class OrderViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.order_list()
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "updated_at", "next_check_at"]


class FillViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.fill_list()
    serializer_class = FillSerializer
    filterset_fields = ["order", "exchange", "trade_id"]
    ordering_fields = ["executed_at"]
