"""The one API router: every app's viewsets under /api/."""

from rest_framework.routers import DefaultRouter

from analytics.api import CandleViewSet, RiskLimitsViewSet, RiskReportViewSet
from analytics.rebalance_api import RebalanceTargetViewSet, RebalanceViewSet
from cycles.api import CycleViewSet, ReservationViewSet, StrategyViewSet
from exchanges.api import ExchangeViewSet, MarketViewSet
from liquidation.api import PanicSellViewSet
from orders.api import FillViewSet, OrderViewSet
from positions.api import PositionEventViewSet, PositionViewSet
from wallets.api import CopyTradeViewSet, WalletTradeViewSet, WatchedWalletViewSet

router = DefaultRouter()
router.register("exchanges", ExchangeViewSet)
router.register("markets", MarketViewSet)
router.register("orders", OrderViewSet)
router.register("fills", FillViewSet)
router.register("strategies", StrategyViewSet)
router.register("reservations", ReservationViewSet)
router.register("cycles", CycleViewSet)
router.register("panic-sells", PanicSellViewSet)
router.register("positions", PositionViewSet)
router.register("position-events", PositionEventViewSet)
router.register("wallets", WatchedWalletViewSet)
router.register("wallet-trades", WalletTradeViewSet)
router.register("copy-trades", CopyTradeViewSet)
router.register("candles", CandleViewSet)
router.register("risk-reports", RiskReportViewSet)
router.register("risk-limits", RiskLimitsViewSet)
router.register("rebalance-targets", RebalanceTargetViewSet)
router.register("rebalances", RebalanceViewSet)

app_name = "api"
urlpatterns = router.urls
