"""API for venue accounts (credentials write-only) and markets."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ServiceWriteViewSet
from core.apicache import CachedReadsMixin

from . import selectors, services
from .models import Exchange, Market, VenueFaults


class ExchangeSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=True, style={"input_type": "password"})
    api_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    api_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    private_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    has_credentials = serializers.BooleanField(read_only=True)

    class Meta:
        model = Exchange
        fields = [
            "id", "name", "kind", "ccxt_id", "role", "mirror_of", "mirror_ratio", "enabled",
            "api_key", "api_secret", "api_password", "private_key", "funder", "signature_type", "has_credentials",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]


class VenueFaultsSerializer(serializers.ModelSerializer):
    class Meta:
        model = VenueFaults
        fields = [
            "enabled", "latency_ms", "rate_limit_p", "retry_after_s", "ban_p", "ban_s", "server_error_p",
            "timeout_after_accept_p", "partial_fill_p", "partial_fill_ratio", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["updated_at"]


class ExchangeViewSet(ServiceWriteViewSet):
    queryset = selectors.exchange_list()
    serializer_class = ExchangeSerializer
    filterset_fields = ["kind", "role", "enabled"]
    ordering_fields = ["name", "created_at"]

    create_service = staticmethod(services.exchange_create)
    update_service = staticmethod(services.exchange_update)

    @extend_schema(
        request=VenueFaultsSerializer,
        responses=VenueFaultsSerializer,
        description="Faults the paper venue injects (probabilities 0 to 1). Changing them needs "
        "the permission exchanges.change_venuefaults.",
    )
    @action(detail=True, methods=["get", "put", "patch"])
    def faults(self, request, pk=None):
        exchange = self.get_object()
        if request.method == "GET":
            faults = VenueFaults.objects.filter(exchange=exchange).first() or VenueFaults(exchange=exchange)
            return Response(VenueFaultsSerializer(faults).data)
        if not request.user.has_perm("exchanges.change_venuefaults"):
            self.permission_denied(request, message="Changing venue faults needs exchanges.change_venuefaults.")
        serializer = VenueFaultsSerializer(data=request.data, partial=request.method == "PATCH")
        serializer.is_valid(raise_exception=True)
        faults = services.venue_faults_update(exchange, serializer.validated_data)
        return Response(VenueFaultsSerializer(faults).data)


class MarketSerializer(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = [
            "id", "exchange", "symbol", "base", "quote", "price_step", "amount_step", "min_amount",
            "min_notional", "taker_fee", "maker_fee", "active", "updated_at",
        ]  # fmt: skip


class MarketViewSet(CachedReadsMixin, viewsets.ReadOnlyModelViewSet):
    """Markets and their trading rules (reads cached API_CACHE_TTLS["market_data"], dropped when markets sync)."""

    cache_kind = "market_data"
    queryset = selectors.market_list()
    serializer_class = MarketSerializer
    filterset_fields = ["exchange", "base", "quote", "active", "symbol"]
    ordering_fields = ["symbol"]
