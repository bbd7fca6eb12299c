"""Strategies, slot reservations, cycles and their legs."""

from django.db import models
from django.db.models import Q

from core.fields import amount_field
from core.statemachine import check_transition_map
from exchanges.models import OrderMonitoringSettings, Side


class Strategy(OrderMonitoringSettings):
    """A triangular-arbitrage strategy; the fields mirror the strategy YAML (order.monitoring from the base)."""

    name = models.SlugField(max_length=64, unique=True)
    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="strategies")
    start_asset = models.CharField(max_length=32, default="USDT")
    trade_amount = amount_field()
    min_profit_bps = models.DecimalField(max_digits=8, decimal_places=2, default=10)
    max_open_cycles = models.PositiveIntegerField(default=3)
    reservation_ttl_s = models.PositiveIntegerField(default=30)
    max_book_age_ms = models.PositiveIntegerField(default=1500)
    # Set by recovery while it runs, and kept while it finds something an operator must settle:
    # the strategy opens no new cycle until it is empty again.
    recovery_hold = models.TextField(
        blank=True, help_text="Why recovery holds this strategy (no new cycles); empty when clean. Clear it by hand "
        "only once what it names is settled.",
    )  # fmt: skip
    # panic_sell
    panic_use_enhanced_routing = models.BooleanField(
        default=True,
        help_text="Route through intermediaries, up to the hop limit; off: sell straight into a base currency only.",
    )
    panic_base_currencies = models.JSONField(default=list)
    panic_preferred_intermediaries = models.JSONField(default=list, blank=True)
    panic_max_total_slippage_bps = models.PositiveIntegerField(default=250)
    panic_max_hops = models.PositiveSmallIntegerField(default=4)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(trade_amount__gt=0), name="strategy_trade_amount_positive"),
            models.CheckConstraint(condition=Q(max_open_cycles__gte=1), name="strategy_max_open_cycles_min_1"),
            models.CheckConstraint(condition=Q(reservation_ttl_s__gte=1), name="strategy_reservation_ttl_min_1"),
            models.CheckConstraint(
                condition=Q(panic_max_hops__gte=1, panic_max_hops__lte=6), name="strategy_max_hops_1_to_6"
            ),
            # The same bounds as the strategy YAML (strategy_config.py): a negative threshold opens losing cycles.
            models.CheckConstraint(
                condition=Q(min_profit_bps__gte=0, min_profit_bps__lte=10_000),
                name="strategy_min_profit_bps_0_to_10000",
                violation_error_message="The minimum profit is between 0 and 10,000 bps.",
            ),
            models.CheckConstraint(
                condition=Q(panic_max_total_slippage_bps__gte=1, panic_max_total_slippage_bps__lte=10_000),
                name="strategy_slippage_1_to_10000",
                violation_error_message="The panic sell's slippage is between 1 and 10,000 bps.",
            ),
            models.CheckConstraint(condition=Q(max_book_age_ms__gte=1), name="strategy_max_book_age_min_1"),
            *OrderMonitoringSettings.monitoring_constraints("strategy"),
        ]

    def __str__(self) -> str:
        return self.name

    def panic_routing(self) -> dict:
        """The routing fields of a panic sell for this strategy (without enhanced routing: one hop, straight
        into a base currency)."""
        return {
            "base_currencies": self.panic_base_currencies, "preferred_intermediaries":
            self.panic_preferred_intermediaries, "max_hops": self.panic_max_hops if self.panic_use_enhanced_routing
            else 1, "max_total_slippage_bps": self.panic_max_total_slippage_bps,
        }  # fmt: skip


class Reservation(models.Model):
    """A slot under `max_open_cycles`, held until it expires or a cycle consumes it."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="reservations")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")), name="reservation_expires_later"
            ),
        ]
        indexes = [
            models.Index(
                fields=["strategy", "expires_at"], condition=Q(consumed_at__isnull=True), name="reservation_live"
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.pk} of {self.strategy_id}"

    @property
    def consumed(self) -> bool:
        return self.consumed_at is not None


class CycleState(models.TextChoices):
    PENDING = "PENDING"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    LIQUIDATING = "LIQUIDATING"
    LIQUIDATED = "LIQUIDATED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


C = CycleState
# FAILED means "stopped, an operator must look": it may still hold an asset,
# which an operator's panic sell liquidates.
ALLOWED_TRANSITIONS = {
    C.PENDING: {C.EXECUTING, C.CANCELED, C.FAILED},
    C.EXECUTING: {C.COMPLETED, C.LIQUIDATING, C.FAILED, C.CANCELED},  # CANCELED: leg 1 traded nothing
    C.LIQUIDATING: {C.LIQUIDATED, C.FAILED},
    C.FAILED: {C.LIQUIDATING},
    C.COMPLETED: set(),
    C.LIQUIDATED: set(),
    C.CANCELED: set(),
}
check_transition_map(CycleState, ALLOWED_TRANSITIONS)
OPEN_STATES = frozenset({C.PENDING, C.EXECUTING, C.LIQUIDATING})
TERMINAL_STATES = frozenset({C.COMPLETED, C.LIQUIDATED, C.CANCELED})


class Cycle(models.Model):
    """One run of a triangle: start asset → two conversions → start asset."""

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="cycles")
    reservation = models.OneToOneField(
        Reservation, null=True, blank=True, on_delete=models.PROTECT, related_name="cycle"
    )
    state = models.CharField(max_length=16, choices=CycleState.choices, default=CycleState.PENDING)
    expected_net_rate = models.DecimalField(max_digits=20, decimal_places=12)
    start_asset = models.CharField(max_length=32)
    start_amount = amount_field()
    end_amount = amount_field(null=True, blank=True)
    realized_pnl = amount_field(null=True, blank=True)
    held_asset = models.CharField(max_length=32, blank=True)
    held_amount = amount_field(default=0)
    # Lot-size leftovers the cycle could not trade ({asset: amount}), so every unit is accounted for.
    residuals = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    ALLOWED_TRANSITIONS = ALLOWED_TRANSITIONS
    STATUS_FIELD = "state"

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(start_amount__gt=0), name="cycle_start_amount_positive"),
            models.CheckConstraint(condition=Q(held_amount__gte=0), name="cycle_held_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(end_amount__isnull=True) | Q(end_amount__gte=0), name="cycle_end_amount_not_negative"
            ),
            models.CheckConstraint(condition=Q(expected_net_rate__gt=0), name="cycle_expected_rate_positive"),
        ]
        indexes = [
            models.Index(fields=["strategy", "state"], name="cycle_strategy_state"),
            models.Index(fields=["state", "updated_at"], name="cycle_state_updated"),
        ]

    def __str__(self) -> str:
        return f"cycle {self.pk} [{self.state}]"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class CycleLeg(models.Model):
    """One conversion of a cycle; `order` is its current (latest) order."""

    cycle = models.ForeignKey(Cycle, on_delete=models.CASCADE, related_name="legs")
    index = models.PositiveSmallIntegerField()
    market = models.ForeignKey("exchanges.Market", on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=Side.choices)
    expected_price = amount_field()
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["cycle_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "index"], name="cycle_leg_unique_index"),
            models.CheckConstraint(condition=Q(index__lte=2), name="cycle_leg_index_0_to_2"),
            models.CheckConstraint(condition=Q(expected_price__gt=0), name="cycle_leg_price_positive"),
        ]

    def __str__(self) -> str:
        return f"leg {self.index} of cycle {self.cycle_id}: {self.side} {self.market_id}"
