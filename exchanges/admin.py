"""Admin for exchange accounts, their markets, balances and the paper venue's faults."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from core.admin_utils import ServiceAdmin, refusal_on_form

from . import services
from .models import Exchange, ExchangeKind, Market, PaperBalance, SignatureType, VenueFaults
from .services import FIXED_AFTER_CREATE

CREDENTIAL_FIELDS = ("api_key", "api_secret", "api_password", "private_key")


class ExchangeAdminForm(forms.ModelForm):
    """Credentials are write-only: the form never renders them; blank keeps the stored value."""

    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    api_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    api_password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    private_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Polymarket: the key that signs orders",
    )
    clear_credentials = forms.BooleanField(required=False, help_text="Erase the stored credentials.")

    class Meta:
        model = Exchange
        fields = [
            "name",
            "kind",
            "ccxt_id",
            "role",
            "mirror_of",
            "mirror_ratio",
            "enabled",
            "ws_url",
            "rest_url",
            "funder",
            "signature_type",
            *CREDENTIAL_FIELDS,
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "signature_type" in self.fields:  # Polymarket only: left out, it stays as stored (EOA for a new account)
            self.fields["signature_type"].required = False
        for name in CREDENTIAL_FIELDS:
            self.initial[name] = ""
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = "Stored. Leave blank to keep it."

    def clean(self):
        data = super().clean()
        stored = Exchange.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        if data.get("signature_type") in (None, ""):
            data["signature_type"] = stored.signature_type if stored is not None else SignatureType.EOA
            self.instance.signature_type = data["signature_type"]
        for name in CREDENTIAL_FIELDS:
            if data.get("clear_credentials"):
                data[name] = ""
            elif not data.get(name) and stored is not None:
                data[name] = getattr(stored, name)
            setattr(self.instance, name, data.get(name, ""))
        return data


class VenueFaultsForm(forms.ModelForm):
    def clean(self):
        data = super().clean()
        try:
            services.venue_faults_check(self.instance.exchange)
        except ValidationError as exc:
            refusal_on_form(self, exc)
        return data


class VenueFaultsInline(admin.StackedInline):
    """A paper account's injected faults, shown once the account exists; saved by venue_faults_update."""

    model = VenueFaults
    form = VenueFaultsForm
    can_delete = False
    extra = 0
    verbose_name_plural = "injected faults (paper venue)"


class PaperBalanceInline(admin.TabularInline):
    model = PaperBalance
    fields = ("asset", "free", "locked")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Exchange)
class ExchangeAdmin(ServiceAdmin):
    """Credentials are write-only: a blank input to replace them for who may change the account,
    and only "set" / "not set" for everyone else (a read-only field would render the decrypted value)."""

    service_check = staticmethod(services.exchange_check)
    service_create = staticmethod(services.exchange_create)
    service_update = staticmethod(services.exchange_update)
    form = ExchangeAdminForm
    inlines = [VenueFaultsInline, PaperBalanceInline]
    list_display = ("name", "kind", "ccxt_id", "role", "mirror_of", "mirror_ratio", "enabled", "has_credentials")
    list_filter = ("kind", "role", "enabled")
    search_fields = ("name", "ccxt_id")

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        if obj is None or obj.kind != ExchangeKind.PAPER:  # faults are injected on paper accounts only
            inlines = [i for i in inlines if not isinstance(i, VenueFaultsInline)]
        return inlines

    def save_formset(self, request, form, formset, change):
        if formset.model is not VenueFaults:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # for the change message
        for faults_form in formset.forms:
            if faults_form.has_changed():
                data = {name: faults_form.cleaned_data[name] for name in faults_form.changed_data
                        if name not in ("id", "exchange", "DELETE")}  # fmt: skip
                faults = services.venue_faults_update(form.instance, data)
                formset.changed_objects.append((faults, list(data)))
        return None

    def _may_write(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)

    def get_fields(self, request, obj=None):
        fields = [f for f in self.form.Meta.fields if f not in CREDENTIAL_FIELDS]
        if self._may_write(request, obj):
            return [*fields, *CREDENTIAL_FIELDS, "clear_credentials", "credentials_status"]
        return [*fields, "credentials_status"]

    def get_readonly_fields(self, request, obj=None):
        if self._may_write(request, obj):
            fixed = FIXED_AFTER_CREATE if obj is not None else ()
            return (*fixed, "credentials_status")
        return (*self.get_fields(request, obj),)

    @admin.display(description="stored credentials")
    def credentials_status(self, obj):
        if obj is None or obj.pk is None:
            return "not set"
        names = CREDENTIAL_FIELDS if obj.kind == ExchangeKind.POLYMARKET else CREDENTIAL_FIELDS[:3]  # a signing key
        return ", ".join(f"{name.removeprefix('api_').replace('_', ' ')} {'set' if getattr(obj, name) else 'not set'}"
                         for name in names)  # fmt: skip

    @admin.display(boolean=True, description="credentials")
    def has_credentials(self, obj):
        return obj.has_credentials


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("symbol", "exchange", "base", "quote", "price_step", "amount_step", "min_notional", "active")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "base", "quote")
    list_select_related = ("exchange",)
    readonly_fields = (
        "exchange", "symbol", "base", "quote", "price_step", "amount_step", "min_amount", "min_notional",
        "taker_fee", "maker_fee", "updated_at",
    )  # fmt: skip

    def has_add_permission(self, request):
        return False  # markets come from sync_markets
