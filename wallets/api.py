"""API for watched wallets, their detected trades and our copies."""

from rest_framework import serializers, viewsets

from tradingsite.api import ServiceWriteViewSet

from . import selectors, services
from .models import CopyTrade, WalletTrade, WatchedWallet


class WatchedWalletSerializer(serializers.ModelSerializer):
    # Validated and checksum-normalized by the service, so any case is accepted here.
    address = serializers.CharField(max_length=42)

    class Meta:
        model = WatchedWallet
        fields = [
            "id", "address", "chain", "label", "source", "copy_exchange", "copy_enabled", "copy_ratio",
            "risk_pct", "max_position_size", "stop_loss_pct", "take_profit_ladder", "cursor", "next_scan_at",
            "last_scanned_at", "last_trade_at", "enabled", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["cursor", "next_scan_at", "last_scanned_at", "last_trade_at", "created_at", "updated_at"]
        validators = []  # uniqueness is checked on the normalized address by the service


class WatchedWalletViewSet(ServiceWriteViewSet):
    queryset = selectors.wallet_list()
    serializer_class = WatchedWalletSerializer
    filterset_fields = ["chain", "source", "enabled", "copy_enabled"]
    ordering_fields = ["label", "created_at", "last_trade_at"]

    create_service = staticmethod(services.wallet_create)
    update_service = staticmethod(services.wallet_update)


class CopyTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CopyTrade
        fields = ["id", "wallet_trade", "status", "size", "reason", "order", "position", "created_at", "updated_at"]


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
