"""API for positions, their TP ladders and events."""

from rest_framework import serializers, viewsets

from . import selectors
from .models import Position, PositionEvent, TakeProfitLevel


class TakeProfitLevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = TakeProfitLevel
        fields = ["id", "index", "price", "fraction", "status", "order"]


class PositionSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="market.symbol", read_only=True)
    take_profits = TakeProfitLevelSerializer(many=True, read_only=True)

    class Meta:
        model = Position
        fields = [
            "id", "exchange", "market", "symbol", "phase", "source", "mirror_of", "entry_price", "amount",
            "remaining", "stop_loss", "trailing_stop_bps", "breakeven_moved", "take_profits", "next_check_at",
            "last_activity_at", "mark_price", "unrealized_pnl", "realized_pnl", "created_at", "updated_at",
            "closed_at",
        ]  # fmt: skip


class PositionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.position_list()
    serializer_class = PositionSerializer
    filterset_fields = ["exchange", "market", "phase", "source", "mirror_of"]
    ordering_fields = ["created_at", "next_check_at", "unrealized_pnl", "realized_pnl"]


class PositionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositionEvent
        fields = ["id", "position", "kind", "critical", "payload", "created_at"]


class PositionEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.position_event_list()
    serializer_class = PositionEventSerializer
    filterset_fields = ["position", "kind", "critical"]
    ordering_fields = ["created_at"]
