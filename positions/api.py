"""API for positions, their TP ladders and events; POST opens a managed position."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.apicache import CachedReadsMixin
from core.permissions import HasActionPermission
from exchanges.models import Exchange

from . import actions, opening, selectors
from .models import Position, PositionEvent, TakeProfitLevel


class TakeProfitLevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = TakeProfitLevel
        fields = ["id", "index", "price", "fraction", "status", "order"]


class PositionSerializer(serializers.ModelSerializer):
    symbol = serializers.CharField(source="market.symbol", read_only=True)
    quote = serializers.CharField(source="market.quote", read_only=True)
    take_profits = TakeProfitLevelSerializer(many=True, read_only=True)

    class Meta:
        model = Position
        fields = [
            "id", "exchange", "market", "symbol", "quote", "phase", "source", "mirror_of", "entry_price", "amount",
            "remaining", "stop_loss", "trailing_stop_bps", "breakeven_moved", "close_to_stable", "take_profits", "tier",
            "next_check_at", "last_checked_at", "last_activity_at", "mark_price", "unrealized_pnl", "realized_pnl",
            "created_at", "updated_at", "closed_at",
        ]  # fmt: skip


TINY = Decimal("0.000000000000000001")  # the smallest amount above zero NUMERIC(36, 18) holds


def price_field(**kwargs) -> serializers.DecimalField:
    """A price or amount: above zero, within NUMERIC(36, 18) (the schema says both)."""
    return serializers.DecimalField(max_digits=36, decimal_places=18, min_value=TINY, **kwargs)


class TakeProfitInput(serializers.Serializer):
    price = price_field()
    fraction = serializers.DecimalField(
        max_digits=7,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        max_value=Decimal(1),
        help_text="share of the amount, above 0, at most 1",
    )


class PositionInput(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.all())
    symbol = serializers.RegexField(r"^[A-Za-z0-9._-]{2,64}$", max_length=64, help_text="the venue's id, e.g. BTCUSDT")
    amount = price_field(help_text="in the base asset, a multiple of the market's lot")
    entry_type = serializers.ChoiceField(choices=["market", "limit"], default="market")
    entry_price = price_field(required=False, allow_null=True, help_text="required for a limit entry")
    take_profits = TakeProfitInput(
        many=True,
        required=False,
        default=list,
        max_length=20,
        help_text="each above the entry; fractions adding up to at most 1",
    )
    stop_loss = price_field(required=False, allow_null=True, help_text="under the entry")
    trailing_stop_bps = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5000)


class CloseInput(serializers.Serializer):
    to_stable = serializers.BooleanField(default=False, help_text="route the proceeds on to PANIC_BASE_CURRENCIES")


class MoveStopInput(serializers.Serializer):
    stop_loss = price_field(help_text="on the market's tick")


class ExchangeChoice(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.all(), required=False)


class HaltInput(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.all())
    halted = serializers.BooleanField()


class PositionViewSet(CachedReadsMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Managed positions (reads cached API_CACHE_TTLS["positions"], dropped at each critical event); POST opens one."""

    cache_kind = "positions"

    queryset = selectors.position_list()
    serializer_class = PositionSerializer
    filterset_fields = ["exchange", "market", "phase", "source", "mirror_of", "tier"]
    ordering_fields = ["created_at", "next_check_at", "unrealized_pnl", "realized_pnl"]

    action_permissions = {
        "close": "positions.close_position", "close_all": "positions.close_position",
        "move_stop": "positions.manage_position", "add_take_profit": "positions.manage_position",
        "stop_entries": "positions.halt_entries",
    }  # fmt: skip
    ACTION = [permissions.IsAuthenticated, HasActionPermission]

    def _asked(self, request, form: type[serializers.Serializer]) -> dict:
        """The request's input parsed by `form` (a 400 naming the field), with who asked."""
        data = form(data=request.data)
        data.is_valid(raise_exception=True)
        return {**data.validated_data, "requested_by": f"api:{request.user.get_username()}"}

    @extend_schema(
        request=CloseInput,
        responses={200: PositionSerializer},
        description="Sell what the position holds at market now; with to_stable, its proceeds are then routed to a "
        "base currency like a panic sell (needs positions.close_position).",
    )
    @action(detail=True, methods=["post"], permission_classes=ACTION)
    def close(self, request, pk=None):
        position = actions.position_close_now(position_id=self.get_object().pk, **self._asked(request, CloseInput))
        return Response(PositionSerializer(position).data)

    @extend_schema(
        request=ExchangeChoice,
        responses={200: dict},
        description="Close every open position of an account, or of all (needs positions.close_position).",
    )
    @action(detail=False, methods=["post"], url_path="close-all", permission_classes=ACTION)
    def close_all(self, request):
        asked = self._asked(request, ExchangeChoice)
        report = actions.positions_close_all(exchange=asked.get("exchange"), requested_by=asked["requested_by"])
        return Response({str(k): v for k, v in report.items()})

    @extend_schema(request=MoveStopInput, responses={200: PositionSerializer})
    @action(detail=True, methods=["post"], url_path="move-stop", permission_classes=ACTION)
    def move_stop(self, request, pk=None):
        position = actions.position_move_stop(position_id=self.get_object().pk, **self._asked(request, MoveStopInput))
        return Response(PositionSerializer(position).data)

    @extend_schema(request=TakeProfitInput, responses={201: TakeProfitLevelSerializer})
    @action(detail=True, methods=["post"], url_path="add-take-profit", permission_classes=ACTION)
    def add_take_profit(self, request, pk=None):
        asked = self._asked(request, TakeProfitInput)
        level = actions.position_add_take_profit(position_id=self.get_object().pk, **asked)
        return Response(TakeProfitLevelSerializer(level).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=HaltInput,
        responses={200: dict},
        description="The kill switch: stop (or resume) new entries on an account (positions.halt_entries).",
    )
    @action(detail=False, methods=["post"], url_path="stop-entries", permission_classes=ACTION)
    def stop_entries(self, request):
        exchange = actions.entries_halt(**self._asked(request, HaltInput))
        return Response({"exchange": exchange.name, "entries_halted_by": exchange.entries_halted_by})

    @extend_schema(request=PositionInput, responses={201: PositionSerializer})
    def create(self, request, *args, **kwargs):
        fields = self._asked(request, PositionInput)
        fields["take_profits"] = [(level["price"], level["fraction"]) for level in fields.get("take_profits", [])]
        position = opening.position_open(**fields)
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
