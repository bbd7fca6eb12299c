"""Admin for panic sells: read-only, the liquidations in progress and done."""

from django.contrib import admin

from core.admin_utils import ReadOnlyAdminMixin

from .models import PanicSell


@admin.register(PanicSell)
class PanicSellAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id", "exchange", "cycle", "state", "asset", "amount", "held_asset", "held_amount", "expected_proceeds",
        "expected_slippage_bps", "requested_by", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("state", "exchange")
    search_fields = ("asset", "requested_by", "reason", "error")
    list_select_related = ("exchange", "cycle")
