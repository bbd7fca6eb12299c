"""The analytics API: candles of a market (closed ones paginated, the open one beside them), risk reports (and an
assessment on demand), each account's risk limits."""

import csv
import io

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import ServiceWriteViewSet
from core.permissions import HasActionPermission
from exchanges.models import Exchange, Market

from . import performance, selectors, services
from .models import Candle, RiskLimits, RiskReport, Timeframe


class CandleQuerySerializer(serializers.Serializer):
    exchange = serializers.CharField(required=False, help_text="the account's name")
    symbol = serializers.CharField(required=False, help_text="one market of the account (with `exchange`)")
    tf = serializers.ChoiceField(choices=Timeframe.choices, default=Timeframe.M1)
    since = serializers.DateTimeField(required=False, help_text="candles opening at or after this time")

    def validate(self, attrs):
        if "symbol" not in attrs:
            return attrs | {"market": None}
        if "exchange" not in attrs:
            raise ValidationError({"exchange": "Name the account whose market `symbol` is."})
        market = Market.objects.filter(exchange__name=attrs["exchange"], symbol=attrs["symbol"].upper()).first()
        if market is None:
            why = f"{attrs['symbol']} is not a market of an account named {attrs['exchange']}."
            raise ValidationError({"symbol": why})
        return attrs | {"market": market}


class CandleSerializer(serializers.ModelSerializer):
    closed = serializers.BooleanField(default=True, read_only=True)

    class Meta:
        model = Candle
        fields = ["open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades", "closed"]


class OpenCandleSerializer(serializers.Serializer):
    open_time = serializers.DateTimeField()
    open = serializers.DecimalField(max_digits=36, decimal_places=18)
    high = serializers.DecimalField(max_digits=36, decimal_places=18)
    low = serializers.DecimalField(max_digits=36, decimal_places=18)
    close = serializers.DecimalField(max_digits=36, decimal_places=18)
    volume = serializers.DecimalField(max_digits=36, decimal_places=18)
    quote_volume = serializers.DecimalField(max_digits=36, decimal_places=18)
    trades = serializers.IntegerField()
    closed = serializers.BooleanField()


@extend_schema_view(list=extend_schema(parameters=[CandleQuerySerializer]))
class CandleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """OHLCV candles of one timeframe (`tf`), oldest first from `since`: of one market (`exchange`, `symbol`), with
    the candle still open in `open` (null when its writer has none); or of every market (of `exchange`)."""

    queryset = Candle.objects.all()
    serializer_class = CandleSerializer
    filter_backends = []

    def _query(self) -> dict:
        if not hasattr(self, "_parsed"):
            query = CandleQuerySerializer(data=self.request.query_params)
            query.is_valid(raise_exception=True)
            self._parsed = query.validated_data
        return self._parsed

    def get_queryset(self):
        if self.action != "list":
            return Candle.objects.all()
        query = self._query()
        return selectors.candles_of(market=query["market"], timeframe=query["tf"], since=query.get("since"),
                                    exchange=query.get("exchange"))  # fmt: skip

    def get_paginated_response(self, data):
        query = self._query()
        response = super().get_paginated_response(data)
        market, current = query["market"], None
        if market is not None:
            current = selectors.open_candle_row(market=market, timeframe=query["tf"], since=query.get("since"))
        response.data["open"] = OpenCandleSerializer(current).data if current else None
        return response


class RiskReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskReport
        fields = ["id", "exchange", "scope", "strategy", "wallet", "computed_at", "valuation_asset", "value", "periods",
                  "weights", "figures", "assets", "correlation", "unmeasured", "breaches"]  # fmt: skip


class AssessSerializer(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.filter(enabled=True))


class RiskReportViewSet(viewsets.ReadOnlyModelViewSet):
    """Risk reports, newest first (beat writes them every ANALYTICS_RISK_S); `assess` computes an account's now."""

    queryset = RiskReport.objects.all()
    serializer_class = RiskReportSerializer
    filterset_fields = ["exchange", "scope", "strategy", "wallet"]
    ordering_fields = ["computed_at"]
    action_permissions = {"assess": "analytics.add_riskreport"}

    @extend_schema(
        request=AssessSerializer, responses={200: RiskReportSerializer},
        description="The account's risk now (its limits enforced), and its strategies' and copied wallets'.",
    )  # fmt: skip
    @action(detail=False, methods=["post"], permission_classes=[permissions.IsAuthenticated, HasActionPermission])
    def assess(self, request):
        query = AssessSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        exchange = query.validated_data["exchange"]
        report = services.risk_assess_account(exchange=exchange)
        services.risk_assess_strategies(exchange=exchange)
        services.risk_assess_wallets(exchange=exchange)
        return Response(RiskReportSerializer(report).data)


class RiskLimitsSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskLimits
        fields = ["id", "exchange", "max_var_99", "max_drawdown", "max_asset_share", "updated_at"]
        read_only_fields = ["updated_at"]


class RiskLimitsViewSet(ServiceWriteViewSet):
    """Each account's risk limits (a fraction each, empty for none); crossing one halts the account's entries."""

    queryset = RiskLimits.objects.select_related("exchange").order_by("exchange__name")
    serializer_class = RiskLimitsSerializer
    filterset_fields = ["exchange"]
    create_service = staticmethod(lambda **fields: services.risk_limits_set(**fields))
    update_service = staticmethod(
        lambda limits, fields: services.risk_limits_set(**({"exchange": limits.exchange} | fields))
    )


class CSVRenderer(renderers.BaseRenderer):
    """A report's rows as CSV (nested figures as `pnl.USDT` columns)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = [performance.flatten(row) for row in data] if isinstance(data, list) else [data]
        columns = list(dict.fromkeys(key for row in rows for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


class PerformanceQuerySerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=sorted(performance.REPORTS), default="account")
    since = serializers.DateTimeField(required=False, help_text="what ended at or after this time (default: all)")


class PerformanceView(APIView):
    """Performance per cycle strategy, copied wallet or account: PnL per asset, win rate, fees per asset, slippage
    against what was expected at decision time, latency. `?format=csv` for a spreadsheet."""

    required_permissions = ["cycles.view_cycle", "positions.view_position", "orders.view_order"]
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]

    @extend_schema(parameters=[PerformanceQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = PerformanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = performance.REPORTS[query.validated_data["scope"]]
        return Response(report(since=query.validated_data.get("since")))
