"""Admin for watched wallets, their trades and our copies."""

from django import forms
from django.contrib import admin, messages

from core.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline
from orders.admin import OrderInline

from . import services
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

    def clean(self):
        data = super().clean()
        if data.get("copy_enabled") and not data.get("copy_exchange"):
            self.add_error("copy_exchange", "Copying needs an account to copy to.")
        return data


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
    readonly_fields = (
        "cursor", "next_scan_at", "scan_tier", "last_scanned_at", "last_trade_at", "validated_at", "last_error",
        "errors_in_a_row", "created_at", "updated_at",
    )  # fmt: skip
    inlines = [WalletTradeInline]
    actions = ["validate", "enable", "disable"]

    @admin.action(description="Validate with the source (one call)", permissions=["change"])
    def validate(self, request, queryset):
        for wallet in queryset:
            result = services.wallet_validate(wallet)
            if result["ok"]:
                self.message_user(request, f"{wallet}: {result['source']} answers; scanning starts at "
                                           f"{result['present']}.", messages.SUCCESS)  # fmt: skip
            else:
                self.message_user(request, f"{wallet}: {result['error']}", messages.ERROR)

    @admin.action(description="Enable (starts from the present)", permissions=["change"])
    def enable(self, request, queryset):
        for wallet in queryset:
            services.wallet_set_enabled(wallet, True)
        self.message_user(request, f"{queryset.count()} wallet(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request, queryset):
        for wallet in queryset:
            services.wallet_set_enabled(wallet, False)
        self.message_user(request, f"{queryset.count()} wallet(s) disabled.", messages.SUCCESS)

    def save_model(self, request, obj, form, change):
        if change:
            services.wallet_update(WatchedWallet.objects.get(pk=obj.pk), form.cleaned_data)
        else:
            created = services.wallet_create(**form.cleaned_data)
            obj.pk = created.pk


class CopyTradeInline(ReadOnlyTabularInline):
    model = CopyTrade
    fields = ("status", "size", "reason", "decision", "order", "position", "submitted_at")
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
    readonly_fields = ("wallet_trade", "status", "size", "reason", "decision", "order", "position", "submitted_at",
                       "created_at", "updated_at")  # fmt: skip
    list_filter = ("status",)
    search_fields = ("wallet_trade__tx_hash", "reason")
    inlines = [CopyOrderInline]
