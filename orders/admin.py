"""Admin for orders and fills: read-only, with cancel and re-check actions behind their permissions."""

from django.contrib import admin, messages

from core.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline
from core.errors import DomainError
from exchanges.errors import VenueError

from . import actions
from .models import Fill, Order


class FillInline(ReadOnlyTabularInline):
    model = Fill
    fields = ("trade_id", "price", "amount", "cost", "fee", "fee_asset", "is_maker", "executed_at")
    readonly_fields = fields


class OrderInline(ReadOnlyTabularInline):
    """Orders shown on whatever they serve (cycle, position, copy)."""

    model = Order
    fk_name = None
    fields = ("client_order_id", "role", "side", "type", "price", "amount", "filled", "average", "status", "updated_at")
    readonly_fields = fields
    ordering = ("created_at",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "client_order_id", "exchange", "market", "side", "type", "price", "amount", "filled", "average",
        "status", "purpose", "role", "next_check_at", "updated_at",
    )  # fmt: skip
    list_filter = ("status", "purpose", "role", "side", "type", "exchange")
    search_fields = ("client_order_id", "exchange_order_id", "intent", "market__symbol")
    list_select_related = ("exchange", "market")
    date_hierarchy = "created_at"
    inlines = [FillInline]
    actions = ["cancel_orders", "recheck_orders"]

    def _run(self, request, queryset, service, done: str) -> None:
        ok, failed = 0, []
        for order in queryset.order_by("pk"):
            try:
                service(order_id=order.pk, requested_by=f"admin:{request.user.get_username()}")
                ok += 1
            except (DomainError, VenueError) as exc:
                failed.append(f"{order.client_order_id}: {exc}" if order.client_order_id not in str(exc) else str(exc))
        if ok:
            self.message_user(request, f"{ok} order(s) {done}.", messages.SUCCESS)
        for line in failed:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Cancel selected orders on the venue", permissions=["cancel"])
    def cancel_orders(self, request, queryset):
        self._run(request, queryset, actions.order_cancel, "cancelled or settled")

    @admin.action(description="Re-check selected orders with the venue now", permissions=["recheck"])
    def recheck_orders(self, request, queryset):
        self._run(request, queryset, actions.order_recheck, "re-checked")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def has_recheck_permission(self, request) -> bool:
        return request.user.has_perm("orders.recheck_order")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("trade_id", "order", "price", "amount", "cost", "fee", "fee_asset", "executed_at")
    list_filter = ("exchange", "is_maker")
    search_fields = ("trade_id", "order__client_order_id")
    list_select_related = ("order",)
