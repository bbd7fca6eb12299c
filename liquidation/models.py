"""Liquidations ("panic sells"): one row each, routed a hop at a time to a base currency."""

from django.db import models
from django.db.models import Q

from core.fields import amount_field
from core.statemachine import check_transition_map


class PanicSellState(models.TextChoices):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


P = PanicSellState
PANIC_TRANSITIONS = {
    P.ACTIVE: {P.COMPLETED, P.FAILED},
    P.FAILED: {P.ACTIVE},  # an operator asks again
    P.COMPLETED: set(),
}
check_transition_map(PanicSellState, PANIC_TRANSITIONS)


class PanicSell(models.Model):
    """A liquidation of `amount` of `asset` to a base currency, one routed hop at a time.

    Each hop is an order (role `hop`, its `panic_sell` this row); after each fill the rest is
    routed again from where it stands, so a route that breaks midway is
    re-routed, never abandoned. A failed cycle leg starts one (`cycle` set: the
    cycle follows it through the hooks it registers); operators start one on a
    cycle, on a balance, or on a closed position's proceeds.
    """

    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="panic_sells")
    strategy = models.ForeignKey("cycles.Strategy", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cycle = models.ForeignKey(
        "cycles.Cycle", null=True, blank=True, on_delete=models.PROTECT, related_name="panic_sells"
    )
    state = models.CharField(max_length=16, choices=PanicSellState.choices, default=PanicSellState.ACTIVE)
    asset = models.CharField(max_length=32)
    amount = amount_field()
    held_asset = models.CharField(max_length=32)
    held_amount = amount_field()
    base_currencies = models.JSONField(default=list)
    preferred_intermediaries = models.JSONField(default=list, blank=True)
    max_hops = models.PositiveSmallIntegerField(default=4)
    max_total_slippage_bps = models.PositiveIntegerField(default=250)
    hops_done = models.PositiveSmallIntegerField(default=0)  # hop orders accounted for
    residuals = models.JSONField(default=dict, blank=True)
    expected_proceeds = amount_field(null=True, blank=True)
    expected_slippage_bps = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    requested_by = models.CharField(max_length=150)
    reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    ALLOWED_TRANSITIONS = PANIC_TRANSITIONS
    STATUS_FIELD = "state"

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("panic_sell", "Can panic sell a cycle or a balance")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="panic_sell_amount_positive"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="panic_sell_held_not_negative"),
            models.CheckConstraint(condition=Q(max_hops__gte=1, max_hops__lte=6), name="panic_sell_max_hops_1_to_6"),
            models.UniqueConstraint(
                fields=["cycle"], condition=Q(state="ACTIVE"), name="panic_sell_one_active_per_cycle"
            ),
        ]
        indexes = [models.Index(fields=["state", "updated_at"], name="panic_sell_state_updated")]

    def __str__(self) -> str:
        return f"panic sell {self.pk}: {self.held_amount} {self.held_asset} [{self.state}]"
