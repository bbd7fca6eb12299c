"""API for positions, their TP ladders and events; POST opens a managed position."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from exchanges.models import Exchange

from . import selectors, services
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
            "remaining", "stop_loss", "trailing_stop_bps", "breakeven_moved", "take_profits", "tier",
            "next_check_at", "last_checked_at", "last_activity_at", "mark_price", "unrealized_pnl", "realized_pnl",
            "created_at", "updated_at", "closed_at",
        ]  # fmt: skip


class TakeProfitInput(serializers.Serializer):
    price = serializers.DecimalField(max_digits=36, decimal_places=18)
    fraction = serializers.DecimalField(max_digits=7, decimal_places=6)


class PositionInput(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.all())
    symbol = serializers.CharField(max_length=64)
    amount = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal("0.000000000000000001"))
    entry_type = serializers.ChoiceField(choices=["market", "limit"], default="market")
    entry_price = serializers.DecimalField(max_digits=36, decimal_places=18, required=False, allow_null=True)
    take_profits = TakeProfitInput(many=True, required=False, default=list)
    stop_loss = serializers.DecimalField(max_digits=36, decimal_places=18, required=False, allow_null=True)
    trailing_stop_bps = serializers.IntegerField(required=False, allow_null=True)


class PositionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Managed positions; POST opens one (its entry is placed at once; needs positions.add_position)."""

    queryset = selectors.position_list()
    serializer_class = PositionSerializer
    filterset_fields = ["exchange", "market", "phase", "source", "mirror_of", "tier"]
    ordering_fields = ["created_at", "next_check_at", "unrealized_pnl", "realized_pnl"]

    @extend_schema(request=PositionInput, responses={201: PositionSerializer})
    def create(self, request, *args, **kwargs):
        data = PositionInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields["take_profits"] = [(level["price"], level["fraction"]) for level in fields.get("take_profits", [])]
        position = services.position_open(requested_by=f"api:{request.user.get_username()}", **fields)
        return Response(PositionSerializer(position).data, status=status.HTTP_201_CREATED)


class PositionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = PositionEvent
        fields = ["id", "position", "kind", "critical", "payload", "created_at"]


class PositionEventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.position_event_list()
    serializer_class = PositionEventSerializer
    filterset_fields = ["position", "kind", "critical"]
    ordering_fields = ["created_at"]
