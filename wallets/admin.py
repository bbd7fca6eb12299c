from django import forms
from django.contrib import admin

from orders.admin import OrderInline
from tradingsite.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline

from .addresses import InvalidAddress, to_checksum_address
from .models import CopyTrade, WalletTrade, WatchedWallet


class WatchedWalletForm(forms.ModelForm):
    class Meta:
        model = WatchedWallet
        fields = [
            "address", "chain", "label", "source", "enabled", "copy_exchange", "copy_enabled", "copy_ratio",
            "risk_pct", "max_position_size", "stop_loss_pct", "take_profit_ladder",
        ]  # fmt: skip

    def clean_address(self):
        try:
            return to_checksum_address(self.cleaned_data["address"])
        except InvalidAddress as exc:
            raise forms.ValidationError(str(exc)) from exc


class WalletTradeInline(ReadOnlyTabularInline):
    model = WalletTrade
    fields = ("traded_at", "side", "title", "price", "size", "copy_status", "copy_size", "copy_reason")
    readonly_fields = fields
    ordering = ("-traded_at",)

    @admin.display(description="copy")
    def copy_status(self, obj):
        return getattr(getattr(obj, "copy", None), "status", "—")

    @admin.display(description="copy size")
    def copy_size(self, obj):
        return getattr(getattr(obj, "copy", None), "size", None)

    @admin.display(description="why")
    def copy_reason(self, obj):
        return getattr(getattr(obj, "copy", None), "reason", "")


@admin.register(WatchedWallet)
class WatchedWalletAdmin(admin.ModelAdmin):
    form = WatchedWalletForm
    list_display = ("address", "label", "chain", "source", "enabled", "copy_enabled", "last_trade_at", "next_scan_at")
    list_filter = ("chain", "source", "enabled", "copy_enabled")
    search_fields = ("address", "label")
    readonly_fields = ("cursor", "next_scan_at", "last_scanned_at", "last_trade_at", "created_at", "updated_at")
    inlines = [WalletTradeInline]


class CopyTradeInline(ReadOnlyTabularInline):
    model = CopyTrade
    fields = ("status", "size", "reason", "order", "position")
    readonly_fields = fields


@admin.register(WalletTrade)
class WalletTradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("traded_at", "wallet", "side", "title", "price", "size", "tx_hash")
    list_filter = ("side", "wallet")
    search_fields = ("tx_hash", "dedup_key", "asset", "title")
    list_select_related = ("wallet",)
    inlines = [CopyTradeInline]


class CopyOrderInline(OrderInline):
    fk_name = "copy_trade"


@admin.register(CopyTrade)
class CopyTradeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "wallet_trade", "status", "size", "reason", "position", "created_at")
    list_filter = ("status",)
    search_fields = ("wallet_trade__tx_hash", "reason")
    inlines = [CopyOrderInline]
