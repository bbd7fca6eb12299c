"""API for strategies, reservations and cycles (a failed cycle's panic sell too)."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ServiceWriteViewSet, asset_field
from core.permissions import HasActionPermission
from liquidation.api import PanicSellSerializer

from . import liquidating, selectors, strategies
from .models import Cycle, CycleLeg, Reservation, Strategy


class StrategySerializer(serializers.ModelSerializer):
    open_cycles = serializers.IntegerField(read_only=True)
    live_reservations = serializers.IntegerField(read_only=True)
    panic_base_currencies = serializers.ListField(child=asset_field(), min_length=1, max_length=10)
    panic_preferred_intermediaries = serializers.ListField(child=asset_field(), required=False, max_length=20)

    class Meta:
        model = Strategy
        fields = [
            "id", "name", "exchange", "start_asset", "trade_amount", "min_profit_bps", "max_open_cycles",
            "reservation_ttl_s", "max_book_age_ms", "monitor_initial_delay_ms", "monitor_max_delay_ms",
            "monitor_backoff_multiplier", "monitor_jitter_factor", "monitor_cache_ttl_ms",
            "panic_use_enhanced_routing", "panic_base_currencies", "panic_preferred_intermediaries",
            "panic_max_total_slippage_bps", "panic_max_hops", "enabled", "recovery_hold", "open_cycles",
            "live_reservations", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["recovery_hold", "created_at", "updated_at"]
        # The database's bounds (cycles/models.py), so the schema says what the API accepts.
        extra_kwargs = {
            "trade_amount": {"min_value": Decimal("0.000000000000000001")},
            "min_profit_bps": {"min_value": 0, "max_value": 10_000},
            "max_open_cycles": {"min_value": 1, "max_value": 1000},
            "reservation_ttl_s": {"min_value": 1, "max_value": 3600},
            "max_book_age_ms": {"min_value": 1, "max_value": 3_600_000},
            "monitor_initial_delay_ms": {"min_value": 1, "max_value": 3_600_000},
            "monitor_max_delay_ms": {"min_value": 1, "max_value": 3_600_000},
            "monitor_backoff_multiplier": {"min_value": 1},
            "monitor_jitter_factor": {"min_value": 0, "max_value": Decimal("0.999")},
            "monitor_cache_ttl_ms": {"max_value": 3_600_000},
            "panic_max_total_slippage_bps": {"min_value": 1, "max_value": 10_000},
            "panic_max_hops": {"min_value": 1, "max_value": 6},
        }


class StrategyViewSet(ServiceWriteViewSet):
    queryset = selectors.strategy_list()
    serializer_class = StrategySerializer
    filterset_fields = ["exchange", "enabled", "start_asset"]
    ordering_fields = ["name", "created_at"]

    create_service = staticmethod(strategies.strategy_create)
    update_service = staticmethod(strategies.strategy_update)


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
    action_permissions = {"panic_sell": "liquidation.panic_sell"}

    @extend_schema(
        request=None, responses={202: PanicSellSerializer},
        description="Liquidate what a FAILED cycle still holds through the best route to a base currency "
        "(needs liquidation.panic_sell; recorded with who asked).",
    )  # fmt: skip
    @action(detail=True, methods=["post"], url_path="panic-sell",
            permission_classes=[permissions.IsAuthenticated, HasActionPermission])  # fmt: skip
    def panic_sell(self, request, pk=None):
        cycle = self.get_object()
        if not cycle.held_asset or cycle.held_amount <= 0:
            return Response({"detail": f"Cycle {cycle.pk} holds nothing to sell."}, status=status.HTTP_409_CONFLICT)
        panic = liquidating.cycle_panic_sell(cycle=cycle, requested_by=f"api:{request.user.get_username()}")
        return Response(PanicSellSerializer(panic).data, status=status.HTTP_202_ACCEPTED)
