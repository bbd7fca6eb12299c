from django.contrib import admin, messages

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
    actions = ["close_now"]

    @admin.action(description="Close now (sell at market)", permissions=["close"])
    def close_now(self, request, queryset):
        from exchanges.errors import VenueError
        from tradingsite.errors import DomainError

        from .services import position_close_now

        for position in queryset:
            try:
                position_close_now(position_id=position.pk, requested_by=f"admin:{request.user.get_username()}")
                self.message_user(request, f"Position {position.pk} closed.", messages.SUCCESS)
            except (DomainError, VenueError) as exc:
                self.message_user(request, f"Position {position.pk}: {exc}", messages.ERROR)

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("positions.close_position")


@admin.register(PositionEvent)
class PositionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "position", "kind", "critical")
    list_filter = ("kind", "critical")
    search_fields = ("position__id",)
