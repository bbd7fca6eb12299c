from django.contrib import admin

from orders.admin import OrderInline
from tradingsite.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Position, PositionEvent, TakeProfitLevel


class TakeProfitInline(ReadOnlyTabularInline):
    model = TakeProfitLevel
    fields = ("index", "price", "fraction", "status", "order")
    readonly_fields = fields
    show_change_link = False


class PositionOrderInline(OrderInline):
    fk_name = "position"


class PositionEventInline(ReadOnlyTabularInline):
    model = PositionEvent
    fields = ("created_at", "kind", "critical", "payload")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id", "exchange", "market", "phase", "source", "entry_price", "amount", "remaining", "stop_loss",
        "mark_price", "unrealized_pnl", "realized_pnl", "next_check_at",
    )  # fmt: skip
    list_filter = ("phase", "source", "exchange", "breakeven_moved")
    search_fields = ("id", "market__symbol")
    list_select_related = ("exchange", "market")
    inlines = [TakeProfitInline, PositionOrderInline, PositionEventInline]


@admin.register(PositionEvent)
class PositionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "position", "kind", "critical")
    list_filter = ("kind", "critical")
    search_fields = ("position__id",)
