"""API for panic sells: the liquidations in progress and done, and a balance's sale to a base currency."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from core.api import asset_field
from core.permissions import HasActionPermission
from exchanges.models import Exchange

from . import services
from .models import PanicSell


class PanicSellSerializer(serializers.ModelSerializer):
    class Meta:
        model = PanicSell
        fields = [
            "id", "exchange", "strategy", "cycle", "state", "asset", "amount", "held_asset", "held_amount",
            "base_currencies", "preferred_intermediaries", "max_hops", "max_total_slippage_bps", "hops_done",
            "expected_proceeds", "expected_slippage_bps", "residuals", "requested_by", "reason", "error",
            "created_at", "finished_at",
        ]  # fmt: skip


class BalancePanicSellInput(serializers.Serializer):
    exchange = serializers.PrimaryKeyRelatedField(queryset=Exchange.objects.all())
    asset = asset_field()
    amount = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal("0.000000000000000001"))
    base_currencies = serializers.ListField(child=asset_field(), required=False, min_length=1, max_length=10)


class PanicSellViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Liquidations in progress and done; POST sells a balance (asset, amount) to a base currency."""

    queryset = PanicSell.objects.select_related("exchange", "cycle")
    serializer_class = PanicSellSerializer
    filterset_fields = ["exchange", "state", "cycle"]
    ordering_fields = ["created_at"]
    action_permissions = {"create": "liquidation.panic_sell"}

    def get_permissions(self):
        if self.action == "create":
            return [permissions.IsAuthenticated(), HasActionPermission()]
        return super().get_permissions()

    @extend_schema(
        request=BalancePanicSellInput, responses={202: PanicSellSerializer},
        description="Sell `amount` of `asset` on the account through the best route to a base currency "
        "(needs liquidation.panic_sell; recorded with who asked). Runs in the background; poll the returned row.",
    )  # fmt: skip
    def create(self, request, *args, **kwargs):
        data = BalancePanicSellInput(data=request.data)
        data.is_valid(raise_exception=True)
        panic = services.panic_sell_start(requested_by=f"api:{request.user.get_username()}", **data.validated_data)
        return Response(PanicSellSerializer(panic).data, status=status.HTTP_202_ACCEPTED)
