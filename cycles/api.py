"""API for strategies, reservations and cycles."""

from rest_framework import serializers, viewsets

from tradingsite.api import ServiceWriteViewSet

from . import selectors, services
from .models import Cycle, CycleLeg, Reservation, Strategy


class StrategySerializer(serializers.ModelSerializer):
    open_cycles = serializers.IntegerField(read_only=True)
    live_reservations = serializers.IntegerField(read_only=True)
    panic_base_currencies = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1)
    panic_preferred_intermediaries = serializers.ListField(child=serializers.CharField(max_length=32), required=False)

    class Meta:
        model = Strategy
        fields = [
            "id", "name", "exchange", "start_asset", "trade_amount", "min_profit_bps", "max_open_cycles",
            "reservation_ttl_s", "max_book_age_ms", "monitor_initial_delay_ms", "monitor_max_delay_ms",
            "monitor_backoff_multiplier", "monitor_jitter_factor", "monitor_cache_ttl_ms",
            "panic_use_enhanced_routing", "panic_base_currencies", "panic_preferred_intermediaries",
            "panic_max_total_slippage_bps", "panic_max_hops", "enabled", "open_cycles", "live_reservations",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]


class StrategyViewSet(ServiceWriteViewSet):
    queryset = selectors.strategy_list()
    serializer_class = StrategySerializer
    filterset_fields = ["exchange", "enabled", "start_asset"]
    ordering_fields = ["name", "created_at"]

    create_service = staticmethod(services.strategy_create)
    update_service = staticmethod(services.strategy_update)


class ReservationSerializer(serializers.ModelSerializer):
    cycle = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Reservation
        fields = ["id", "strategy", "created_at", "expires_at", "consumed_at", "cycle"]


class ReservationViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.reservation_list()
    serializer_class = ReservationSerializer
    filterset_fields = ["strategy"]
    ordering_fields = ["created_at", "expires_at"]


class CycleLegSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="market.symbol", read_only=True)

    class Meta:
        model = CycleLeg
        fields = ["index", "market", "symbol", "side", "expected_price", "order"]


class CycleSerializer(serializers.ModelSerializer):
    legs = CycleLegSerializer(many=True, read_only=True)

    class Meta:
        model = Cycle
        fields = [
            "id", "strategy", "reservation", "state", "expected_net_rate", "start_asset", "start_amount",
            "end_amount", "realized_pnl", "held_asset", "held_amount", "error", "legs", "created_at",
            "started_at", "finished_at", "updated_at",
        ]  # fmt: skip


class CycleViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.cycle_list()
    serializer_class = CycleSerializer
    filterset_fields = ["strategy", "state", "start_asset"]
    ordering_fields = ["created_at", "finished_at", "realized_pnl"]
