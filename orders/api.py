"""API for orders and fills (read-only: orders are placed by the services)."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.apicache import CachedReadsMixin
from core.permissions import HasActionPermission

from . import actions, selectors
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
            "id", "exchange", "market", "symbol", "purpose", "role", "cycle", "position", "copy_trade", "panic_sell",
            "intent",
            "attempt", "client_order_id", "exchange_order_id", "side", "type", "price", "amount", "filled",
            "average", "cost", "fee", "fee_asset", "status", "next_check_at", "check_count", "last_checked_at",
            "lookup_misses", "last_error", "created_at", "updated_at", "submitted_at", "closed_at",
        ]  # fmt: skip


class OrderFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["exchange", "market", "status", "side", "purpose", "role", "cycle", "position", "copy_trade",
                  "panic_sell", "client_order_id"]  # fmt: skip


class OrderViewSet(CachedReadsMixin, viewsets.ReadOnlyModelViewSet):
    cache_kind = "orders"  # reads cached API_CACHE_TTLS["orders"], dropped whenever an order changes state
    """Orders are placed by the services; operators may cancel one or have it re-checked now."""

    queryset = selectors.order_list()
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "updated_at", "next_check_at"]
    action_permissions = {"cancel": "orders.cancel_order", "recheck": "orders.recheck_order"}

    def _requested_by(self) -> str:
        return f"api:{self.request.user.get_username()}"

    @extend_schema(
        request=None,
        responses=OrderSerializer,
        description="Cancel the order on the venue (needs orders.cancel_order). Returns what the venue did: "
        "CANCELED, or FILLED if it filled first. 409 if the order has ended or its placement is not settled.",
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated, HasActionPermission])
    def cancel(self, request, pk=None):
        order = actions.order_cancel(order_id=self.get_object().pk, requested_by=self._requested_by())
        return Response(OrderSerializer(order).data)

    @extend_schema(
        request=None,
        responses=OrderSerializer,
        description="Ask the venue about the order now, bypassing the status cache (needs orders.recheck_order).",
    )
    @action(detail=True, methods=["post"], permission_classes=[permissions.IsAuthenticated, HasActionPermission])
    def recheck(self, request, pk=None):
        order = actions.order_recheck(order_id=self.get_object().pk, requested_by=self._requested_by())
        return Response(OrderSerializer(order).data)


class FillViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.fill_list()
    serializer_class = FillSerializer
    filterset_fields = ["order", "exchange", "trade_id"]
    ordering_fields = ["executed_at"]
