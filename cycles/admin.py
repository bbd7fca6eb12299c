"""Admin for strategies, reservations and cycles (read-only cycles; a failed cycle's panic sell)."""

from django.contrib import admin, messages

from core.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline, ServiceAdmin
from core.errors import DomainError
from orders.admin import OrderInline

from . import liquidating, selectors, strategies
from .models import Cycle, CycleLeg, Reservation, Strategy


@admin.register(Strategy)
class StrategyAdmin(ServiceAdmin):
    service_check = staticmethod(strategies.strategy_check)
    service_create = staticmethod(strategies.strategy_create)
    service_update = staticmethod(strategies.strategy_update)
    list_display = (
        "name", "exchange", "start_asset", "trade_amount", "min_profit_bps", "max_open_cycles", "open_cycles",
        "enabled",
    )  # fmt: skip
    list_filter = ("enabled", "exchange", "start_asset")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "exchange", "enabled", "recovery_hold")}),
        ("Trading", {"fields": ("start_asset", "trade_amount", "min_profit_bps", "max_open_cycles",
                                "reservation_ttl_s", "max_book_age_ms")}),
        ("Order monitoring", {"fields": ("monitor_initial_delay_ms", "monitor_max_delay_ms",
                                         "monitor_backoff_multiplier", "monitor_jitter_factor",
                                         "monitor_cache_ttl_ms")}),
        ("Panic sell", {"fields": ("panic_use_enhanced_routing", "panic_base_currencies",
                                   "panic_preferred_intermediaries", "panic_max_total_slippage_bps",
                                   "panic_max_hops")}),
    )  # fmt: skip

    def get_queryset(self, request):
        return selectors.strategy_list()

    @admin.display(description="open cycles", ordering="open_cycles")
    def open_cycles(self, obj):
        return obj.open_cycles


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "strategy", "created_at", "expires_at", "consumed_at")
    list_filter = ("strategy",)


class CycleLegInline(ReadOnlyTabularInline):
    model = CycleLeg
    fields = ("index", "market", "side", "expected_price", "order")
    readonly_fields = fields
    show_change_link = False


class CycleOrderInline(OrderInline):
    fk_name = "cycle"


@admin.register(Cycle)
class CycleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id", "strategy", "state", "start_asset", "start_amount", "end_amount", "realized_pnl", "held_asset",
        "held_amount", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("state", "strategy")
    search_fields = ("id", "error")
    list_select_related = ("strategy",)
    date_hierarchy = "created_at"
    inlines = [CycleLegInline, CycleOrderInline]
    actions = ["panic_sell"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_panic_sell_permission(self, request) -> bool:
        return request.user.has_perm("liquidation.panic_sell")

    @admin.action(description="Panic sell what the selected failed cycles hold", permissions=["panic_sell"])
    def panic_sell(self, request, queryset):
        who = f"admin:{request.user.get_username()}"
        for cycle in queryset.select_related("strategy__exchange"):
            if not cycle.held_asset or cycle.held_amount <= 0:
                self.message_user(request, f"Cycle {cycle.pk} holds nothing to sell.", messages.WARNING)
                continue
            try:
                panic = liquidating.cycle_panic_sell(cycle=cycle, requested_by=who)
            except DomainError as exc:
                self.message_user(request, f"Cycle {cycle.pk}: {exc.message}", messages.ERROR)
                continue
            self.message_user(
                request, f"Cycle {cycle.pk}: panic sell {panic.pk} of {cycle.held_amount} {cycle.held_asset} started.",
                messages.SUCCESS,
            )  # fmt: skip
