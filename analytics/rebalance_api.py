"""The rebalancing API: each account's target weights; rebalances planned (the dry run: the trades and their
expected cost, nothing placed), then executed or canceled by an operator."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import ServiceWriteViewSet
from core.permissions import HasActionPermission
from exchanges.models import Exchange

from . import rebalance_targets, rebalancing
from .models import Rebalance, RebalanceTarget, RebalanceTrade


class RebalanceTargetSerializer(serializers.ModelSerializer):
    weights = serializers.JSONField(help_text='asset -> weight, e.g. {"BTC": "0.5", "ETH": "0.3"}')

    class Meta:
        model = RebalanceTarget
        fields = ["id", "exchange", "quote", "weights", "tolerance", "aim", "auto", "updated_by", "updated_at"]
        read_only_fields = ["updated_by", "updated_at"]
        extra_kwargs = {f: {"required": False} for f in ("quote", "tolerance", "aim", "auto")}


class RebalanceTargetViewSet(ServiceWriteViewSet):
    """Each account's target weights (the quote takes what the others leave), tolerance and aim."""

    queryset = RebalanceTarget.objects.select_related("exchange").order_by("exchange__name")
    serializer_class = RebalanceTargetSerializer
    filterset_fields = ["exchange"]

    def perform_create(self, serializer):
        serializer.instance = rebalance_targets.rebalance_target_set(
            updated_by=self.request.user.get_username(), **serializer.validated_data
        )

    def perform_update(self, serializer):
        fields = {"exchange": serializer.instance.exchange, "weights": serializer.instance.weights}
        serializer.instance = rebalance_targets.rebalance_target_set(
            updated_by=self.request.user.get_username(), **(fields | serializer.validated_data)
        )


class RebalanceTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = RebalanceTrade
        fields = ["seq", "asset", "side", "amount", "value", "expected_cost", "route", "orders", "state",
                  "conversion", "received", "received_asset", "note"]  # fmt: skip


class RebalanceSerializer(serializers.ModelSerializer):
    trades = RebalanceTradeSerializer(many=True, read_only=True)

    class Meta:
        model = Rebalance
        fields = ["id", "exchange", "state", "quote", "weights", "tolerance", "aim", "value", "before",
                  "expected_after", "expected_cost", "orders", "after", "trades", "requested_by", "error",
                  "created_at", "started_at", "finished_at"]  # fmt: skip


class PlanSerializer(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.filter(enabled=True))


class RebalanceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rebalances, newest first. POST plans one (a dry run: nothing is placed); `execute` places its trades,
    `cancel` drops a plan or stops an executing one before its next trade."""

    queryset = Rebalance.objects.prefetch_related("trades")
    serializer_class = RebalanceSerializer
    filterset_fields = ["exchange", "state"]
    action_permissions = {
        "create": "analytics.add_rebalance",
        "execute": "analytics.execute_rebalance",
        "cancel": "analytics.execute_rebalance",
    }

    @extend_schema(
        request=PlanSerializer,
        responses={201: RebalanceSerializer},
        description="Plan the account's rebalance to its targets: the trades and their expected cost.",
    )
    def create(self, request):  # fmt: skip
        query = PlanSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        rebalance = rebalancing.rebalance_plan(
            exchange=query.validated_data["exchange"], requested_by=request.user.get_username()
        )
        return Response(RebalanceSerializer(rebalance).data, status=status.HTTP_201_CREATED)

    def get_permissions(self):
        if self.action in self.action_permissions:
            return [permissions.IsAuthenticated(), HasActionPermission()]
        return super().get_permissions()

    @extend_schema(request=None, responses={200: RebalanceSerializer})
    @action(detail=True, methods=["post"])
    def execute(self, request, pk=None):
        rebalance = rebalancing.rebalance_execute(rebalance_id=self.get_object().pk,
                                                  requested_by=request.user.get_username())  # fmt: skip
        return Response(RebalanceSerializer(Rebalance.objects.get(pk=rebalance.pk)).data)

    @extend_schema(request=None, responses={200: RebalanceSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        rebalance = rebalancing.rebalance_cancel(rebalance_id=self.get_object().pk,
                                                 requested_by=request.user.get_username())  # fmt: skip
        return Response(RebalanceSerializer(Rebalance.objects.get(pk=rebalance.pk)).data)
