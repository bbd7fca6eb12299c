"""Admin for positions, their take-profit levels and events."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from core.admin_utils import ReadOnlyAdminMixin, ReadOnlyTabularInline
from core.fields import AMOUNT_MAX
from exchanges.models import Exchange
from orders.admin import OrderInline

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


class OpenPositionForm(forms.Form):
    exchange = forms.ModelChoiceField(queryset=Exchange.objects.filter(enabled=True))
    symbol = forms.CharField(max_length=64, help_text="e.g. BTCUSDT")
    amount = forms.DecimalField(max_digits=36, decimal_places=18, help_text="in the base asset")
    entry_type = forms.ChoiceField(choices=[("market", "market"), ("limit", "limit")])
    entry_price = forms.DecimalField(max_digits=36, decimal_places=18, required=False)
    take_profits = forms.CharField(required=False, help_text="price:fraction pairs, lowest first: 61000:0.5, 62000:0.5")
    stop_loss = forms.DecimalField(max_digits=36, decimal_places=18, required=False)
    trailing_stop_bps = forms.IntegerField(required=False)

    def clean_take_profits(self) -> list[tuple[Decimal, Decimal]]:
        levels = []
        for item in filter(None, (part.strip() for part in self.cleaned_data["take_profits"].split(","))):
            price, _, fraction = item.partition(":")
            try:
                level = (Decimal(price), Decimal(fraction))
            except InvalidOperation:
                raise ValidationError(f"{item!r} is not price:fraction, e.g. 61000:0.5") from None
            if not all(v.is_finite() and 0 < v < AMOUNT_MAX for v in level):
                raise ValidationError(f"{item!r}: the price and the fraction are finite numbers above zero")
            levels.append(level)
        return levels


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
    actions = ["close_now", "close_now_to_stable"]

    @admin.action(description="Close now (sell at market)", permissions=["close"])
    def close_now(self, request, queryset):
        self._close(request, queryset, to_stable=False)

    @admin.action(description="Close now, proceeds routed on to a stablecoin", permissions=["close"])
    def close_now_to_stable(self, request, queryset):
        self._close(request, queryset, to_stable=True)

    def _close(self, request, queryset, *, to_stable: bool) -> None:
        from core.errors import DomainError

        from .actions import position_close_now

        for position in queryset:
            try:
                closed = position_close_now(position_id=position.pk, to_stable=to_stable,
                                            requested_by=f"admin:{request.user.get_username()}")  # fmt: skip
                self.message_user(request, f"Position {position.pk}: close sent; now {closed.phase}.", messages.SUCCESS)
            except DomainError as exc:  # venue errors and rejections included
                self.message_user(request, f"Position {position.pk}: {exc}", messages.ERROR)

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("positions.close_position")

    def get_urls(self):
        opened = self.admin_site.admin_view(self.open_view)
        return [path("open/", opened, name="positions_position_open"), *super().get_urls()]

    def open_view(self, request):
        """The admin's way to open a position: the same service as the API, its errors on the form's fields."""
        from .opening import position_open

        if not request.user.has_perm("positions.add_position"):
            raise PermissionDenied
        form = OpenPositionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                position = position_open(requested_by=f"admin:{request.user.get_username()}", **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except Exception as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Position {position.pk} opened ({position.phase}).", messages.SUCCESS)
                return redirect("admin:positions_position_change", position.pk)
        context = {**self.admin_site.each_context(request), "form": form, "title": "Open a position",
                   "opts": self.model._meta}  # fmt: skip
        return TemplateResponse(request, "admin/positions/open_position.html", context)


@admin.register(PositionEvent)
class PositionEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "position", "kind", "critical")
    list_filter = ("kind", "critical")
    search_fields = ("position__id",)
