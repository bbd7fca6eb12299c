"""API for watched wallets, their detected trades and our copies."""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ServiceWriteViewSet
from core.permissions import HasActionPermission

from . import selectors, services
from .models import CopyTrade, WalletTrade, WatchedWallet


@extend_schema_field({
    "type": "array", "maxItems": 20, "description": "take-profits above the entry; fractions add up to at most 1",
    "items": {"type": "object", "required": ["pct", "fraction"], "additionalProperties": False, "properties": {
        "pct": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1000},  # OpenAPI 3.0 style
        "fraction": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
    }},
})  # fmt: skip
class LadderField(serializers.JSONField):
    """The wallet's TP ladder; validated by wallets.models.validate_ladder (the same rule as the admin's)."""


class WatchedWalletSerializer(serializers.ModelSerializer):
    # Validated and checksum-normalized by the service, so any case is accepted here.
    address = serializers.RegexField(
        r"^0x[0-9a-fA-F]{40}$", max_length=42,
        error_messages={"invalid": "Enter an address: 0x followed by 40 hex digits."},
    )  # fmt: skip
    take_profit_ladder = LadderField(required=False)

    class Meta:
        model = WatchedWallet
        fields = [
            "id", "address", "chain", "label", "source", "copy_exchange", "copy_enabled", "copy_ratio",
            "risk_pct", "max_position_size", "stop_loss_pct", "take_profit_ladder", "cursor", "next_scan_at",
            "scan_tier", "last_scanned_at", "last_trade_at", "validated_at", "last_error", "errors_in_a_row",
            "enabled", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = [
            "cursor", "next_scan_at", "scan_tier", "last_scanned_at", "last_trade_at", "validated_at", "last_error",
            "errors_in_a_row", "enabled", "created_at", "updated_at",
        ]  # fmt: skip
        validators = []  # uniqueness is checked on the normalized address by the service
        extra_kwargs = {  # the database's bounds (wallets/models.py)
            "copy_ratio": {"min_value": Decimal("0.0001"), "max_value": 1000},
            "risk_pct": {"min_value": Decimal("0.001"), "max_value": 100},
            "stop_loss_pct": {"min_value": Decimal("0.001"), "max_value": Decimal("99.999")},
            "max_position_size": {"min_value": Decimal("0.000000000000000001")},
        }


class WatchedWalletViewSet(ServiceWriteViewSet):
    queryset = selectors.wallet_list()
    serializer_class = WatchedWalletSerializer
    filterset_fields = ["chain", "source", "enabled", "copy_enabled"]
    ordering_fields = ["label", "created_at", "last_trade_at"]

    create_service = staticmethod(services.wallet_create)
    update_service = staticmethod(services.wallet_update)
    action_permissions = dict.fromkeys(("validate", "enable", "disable"), "wallets.change_watchedwallet")
    WRITE = [permissions.IsAuthenticated, HasActionPermission]

    @extend_schema(
        request=None, responses={200: OpenApiTypes.OBJECT},
        description="Ask the wallet's source about it now (one or two calls): ok, or the error.",
    )  # fmt: skip
    @action(detail=True, methods=["post"], permission_classes=WRITE)
    def validate(self, request, pk=None):
        return Response(services.wallet_validate(self.get_object()))

    @extend_schema(
        request=None, responses={200: WatchedWalletSerializer},
        description="Scan it again; it starts from the present (what it did meanwhile is not copied).",
    )  # fmt: skip
    @action(detail=True, methods=["post"], permission_classes=WRITE)
    def enable(self, request, pk=None):
        return Response(WatchedWalletSerializer(services.wallet_set_enabled(self.get_object(), True)).data)

    @extend_schema(request=None, responses={200: WatchedWalletSerializer}, description="Stop scanning it.")
    @action(detail=True, methods=["post"], permission_classes=WRITE)
    def disable(self, request, pk=None):
        return Response(WatchedWalletSerializer(services.wallet_set_enabled(self.get_object(), False)).data)


class CopyTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CopyTrade
        fields = [
            "id", "wallet_trade", "status", "size", "reason", "decision", "order", "position", "submitted_at",
            "created_at", "updated_at",
        ]  # fmt: skip


class WalletTradeSerializer(serializers.ModelSerializer):
    copy = CopyTradeSerializer(read_only=True)

    class Meta:
        model = WalletTrade
        fields = [
            "id", "wallet", "dedup_key", "tx_hash", "block_number", "traded_at", "market", "asset", "title",
            "side", "price", "size", "copy", "detected_at",
        ]  # fmt: skip


class WalletTradeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.wallet_trade_list()
    serializer_class = WalletTradeSerializer
    filterset_fields = ["wallet", "side", "tx_hash"]
    ordering_fields = ["traded_at", "detected_at"]


class CopyTradeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.copy_trade_list()
    serializer_class = CopyTradeSerializer
    filterset_fields = ["status", "wallet_trade__wallet"]
    ordering_fields = ["created_at"]
