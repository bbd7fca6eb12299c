"""Admin for analytics: risk limits and rebalance targets are set here, and rebalances planned and executed;
candles and risk reports are the platform's, read only."""

from django import forms
from django.contrib import admin, messages

from core.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline
from core.errors import DomainError
from exchanges.errors import VenueError

from . import rebalance_targets, rebalancing, services
from .models import Candle, Rebalance, RebalanceTarget, RebalanceTrade, RiskLimits, RiskReport


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


class RebalanceTargetForm(forms.ModelForm):
    class Meta:
        model = RebalanceTarget
        fields = ["exchange", "quote", "weights", "tolerance", "aim", "auto"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["quote"], weights, data["tolerance"], data["aim"] = rebalance_targets.rebalance_target_check(
                exchange=data["exchange"], weights=data.get("weights"), quote=data.get("quote"),
                tolerance=data.get("tolerance"), aim=data.get("aim"),
            )  # fmt: skip
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        data["weights"] = {a: str(w) for a, w in weights.items()}
        return data


@admin.register(RebalanceTarget)
class RebalanceTargetAdmin(admin.ModelAdmin):
    form = RebalanceTargetForm
    list_display = ["exchange", "quote", "weights", "tolerance", "aim", "auto", "updated_by", "updated_at"]
    actions = ["plan"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="Plan a rebalance to these targets (a dry run: nothing is placed)",
                  permissions=["plan"])  # fmt: skip
    def plan(self, request, queryset):
        for target in queryset.select_related("exchange"):
            try:
                rebalance = rebalancing.rebalance_plan(exchange=target.exchange,
                                                       requested_by=request.user.get_username())  # fmt: skip
            except (DomainError, VenueError) as exc:
                self.message_user(request, f"{target.exchange.name}: {exc}", level=messages.ERROR)
                continue
            summary = (f"{target.exchange.name}: rebalance {rebalance.pk} planned, {rebalance.trades.count()} trades "
                       f"({rebalance.orders} orders), expected cost {rebalance.expected_cost:.2f} {rebalance.quote}; "
                       "execute it from the rebalances")  # fmt: skip
            self.message_user(request, summary)

    def has_plan_permission(self, request):
        return request.user.has_perm("analytics.add_rebalance")


class RebalanceTradeInline(ReadOnlyTabularInline):
    model = RebalanceTrade
    show_change_link = False
    fields = ["seq", "side", "asset", "amount", "value", "expected_cost", "route", "orders", "state", "conversion",
              "received", "received_asset", "note"]  # fmt: skip
    readonly_fields = fields


@admin.register(Rebalance)
class RebalanceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rebalances are planned from the targets' page (the action) or the API, and executed from here."""

    list_display = ["id", "exchange", "state", "value", "orders", "expected_cost", "requested_by", "created_at"]
    list_filter = ["state", "exchange"]
    inlines = [RebalanceTradeInline]
    actions = ["execute", "cancel"]

    @admin.action(description="Execute the selected planned rebalances", permissions=["execute"])
    def execute(self, request, queryset):
        self._each(request, queryset, rebalancing.rebalance_execute, "executing")

    @admin.action(description="Cancel the selected rebalances", permissions=["execute"])
    def cancel(self, request, queryset):
        self._each(request, queryset, rebalancing.rebalance_cancel, "canceled")

    def has_execute_permission(self, request):
        return request.user.has_perm("analytics.execute_rebalance")

    def _each(self, request, queryset, service, verb):
        for rebalance in queryset:
            try:
                service(rebalance_id=rebalance.pk, requested_by=request.user.get_username())
                self.message_user(request, f"rebalance {rebalance.pk}: {verb}")
            except DomainError as exc:
                self.message_user(request, f"rebalance {rebalance.pk}: {exc.message}", level=messages.ERROR)
