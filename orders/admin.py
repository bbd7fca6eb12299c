from django.contrib import admin

from tradingsite.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .models import Fill, Order


class FillInline(ReadOnlyTabularInline):
    model = Fill
    fields = ("trade_id", "price", "amount", "cost", "fee", "fee_asset", "is_maker", "executed_at")
    readonly_fields = fields


class OrderInline(ReadOnlyTabularInline):
    """Orders shown on whatever they serve (cycle, position, copy)."""

    model = Order
    fk_name = None
    fields = ("client_order_id", "side", "type", "price", "amount", "filled", "average", "status", "updated_at")
    readonly_fields = fields
    ordering = ("created_at",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "client_order_id", "exchange", "market", "side", "type", "price", "amount", "filled", "average",
        "status", "purpose", "next_check_at", "updated_at",
    )  # fmt: skip
    list_filter = ("status", "purpose", "side", "type", "exchange")
    search_fields = ("client_order_id", "exchange_order_id", "intent", "market__symbol")
    list_select_related = ("exchange", "market")
    date_hierarchy = "created_at"
    inlines = [FillInline]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("trade_id", "order", "price", "amount", "cost", "fee", "fee_asset", "executed_at")
    list_filter = ("exchange", "is_maker")
    search_fields = ("trade_id", "order__client_order_id")
    list_select_related = ("order",)
