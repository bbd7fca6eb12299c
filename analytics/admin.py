"""Admin for analytics: risk limits are set here; candles and risk reports are the platform's, read only."""

from django.contrib import admin

from core.admin_utils import ReadOnlyAdminMixin

from . import services
from .models import Candle, RiskLimits, RiskReport


@admin.register(RiskLimits)
class RiskLimitsAdmin(admin.ModelAdmin):
    list_display = ["exchange", "max_var_99", "max_drawdown", "max_asset_share", "updated_at"]

    def save_model(self, request, obj, form, change):
        services.risk_limits_set(exchange=obj.exchange, **{f: getattr(obj, f) for f in form.changed_data
                                                           if f != "exchange"})  # fmt: skip


@admin.register(RiskReport)
class RiskReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["computed_at", "exchange", "scope", "strategy", "wallet", "value", "periods", "breaches"]
    list_filter = ["scope", "exchange"]


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["market", "timeframe", "open_time", "open", "high", "low", "close", "volume", "trades"]
    list_filter = ["timeframe"]
    list_select_related = ["market"]
