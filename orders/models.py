"""Orders and fills, normalized: one row an order, one row a venue trade."""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from core.fields import amount_field
from core.statemachine import check_transition_map
from exchanges.models import OrderMonitoringSettings, Side


class OrderStatus(models.TextChoices):
    NEW = "NEW"
    PENDING_SUBMIT = "PENDING_SUBMIT"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"


S = OrderStatus
TERMINAL_STATUSES = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED})
LIVE_STATUSES = frozenset(set(S) - TERMINAL_STATUSES)
# Placed and known to the venue, not yet ended: what an open-orders answer settles and a pushed update moves on
# (UNKNOWN and PENDING_SUBMIT need a lookup first).
RESTING_STATUSES = (S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL)

# UNKNOWN means "submitted, outcome not known": it leaves only by looking the
# order up on the venue, which may find it in any state, or declare it never
# placed (REJECTED) after the grace window.
ALLOWED_TRANSITIONS = {
    S.NEW: {S.PENDING_SUBMIT, S.CANCELED, S.REJECTED},
    S.PENDING_SUBMIT: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.EXPIRED, S.CANCELED, S.UNKNOWN},
    S.UNKNOWN: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.REJECTED, S.EXPIRED, S.CANCELED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.FILLED, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED},
    S.PENDING_CANCEL: {S.CANCELED, S.FILLED, S.PARTIALLY_FILLED, S.OPEN, S.EXPIRED},
    S.FILLED: set(),
    S.CANCELED: set(),
    S.REJECTED: set(),
    S.EXPIRED: set(),
}
check_transition_map(OrderStatus, ALLOWED_TRANSITIONS)


class OrderType(models.TextChoices):
    MARKET = "market"
    LIMIT = "limit"
    IOC = "ioc", "limit, immediate or cancel"


class OrderPurpose(models.TextChoices):
    CYCLE = "cycle"
    POSITION = "position"
    COPY = "copy"
    MANUAL = "manual", "operator action"
    ADOPTED = "adopted", "found on the venue, not placed by us"
    LIQUIDATION = "liquidation", "a panic sell's hop"


class OrderRole(models.TextChoices):
    """What an order is to its owner (the intent is only the idempotency key: nothing reads it)."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit", "take profit"
    STOP = "stop"
    CLOSE = "close", "operator's close"
    REDUCE = "reduce"
    LEG = "leg", "cycle leg"
    HOP = "hop", "panic-sell hop"
    MANUAL = "manual"
    ADOPTED = "adopted"


class Order(OrderMonitoringSettings):
    """One order on one venue.

    Its owner is named by `purpose` and one foreign key (cycle, position, panic sell, copy), and `role` says
    what the order is to it. `intent` is the idempotency key its owner chose (a cycle leg, a TP level…);
    `attempt` counts placements of that intent. The client order id is derived from both, so the same
    attempt can never be placed twice, and a partial unique constraint allows one live order per intent.
    How closely it is watched (the monitoring fields) was handed over by its owner when it was placed.
    """

    # No index holds `status` or `updated_at`: the indexes that need "is it live" read the generated `live`
    # column, which a change from OPEN to PARTIALLY_FILLED leaves alone, so such an update is HOT (one heap
    # tuple on the same page, no index entry written; the table keeps room for it, migration 0010). The owner
    # keys are indexed only where set (an order has one owner), the account by the composite indexes that lead
    # with it (bench/run.py orders: normalized_update_wal_ratio).
    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="orders", db_index=False)
    market = models.ForeignKey("exchanges.Market", on_delete=models.PROTECT, related_name="orders")
    purpose = models.CharField(max_length=16, choices=OrderPurpose.choices)
    cycle = models.ForeignKey(
        "cycles.Cycle", null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    position = models.ForeignKey(
        "positions.Position", null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    copy_trade = models.ForeignKey(
        "wallets.CopyTrade", null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    panic_sell = models.ForeignKey(
        "liquidation.PanicSell",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,
    )
    role = models.CharField(max_length=16, choices=OrderRole.choices)
    intent = models.CharField(max_length=48)
    attempt = models.PositiveSmallIntegerField(default=1)
    client_order_id = models.CharField(max_length=36)
    # NULL until the venue answers; NULLs never collide in the unique constraint.
    # A venue without client order ids (Polymarket) names the order before it is sent: its hash is set here with
    # the row, and the signed order is kept, so a lost answer is looked up by that hash, never posted again.
    exchange_order_id = models.CharField(max_length=66, null=True, blank=True)  # noqa: DJ001
    signed_order = models.JSONField(null=True, blank=True, help_text="the order as signed and sent (Polymarket)")
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8, choices=OrderType.choices)
    price = amount_field(null=True, blank=True)
    amount = amount_field()
    filled = amount_field(default=0)
    average = amount_field(null=True, blank=True)
    cost = amount_field(default=0)
    fee = amount_field(default=0)
    fee_asset = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW)
    # Written by PostgreSQL from `status`; filter on it (`Order.objects.filter(live=True)`) to use the indexes.
    live = models.GeneratedField(
        expression=Q(status__in=sorted(LIVE_STATUSES)), output_field=models.BooleanField(), db_persist=True
    )
    next_check_at = models.DateTimeField(null=True, blank=True)
    check_count = models.PositiveIntegerField(default=0)
    # UNKNOWN orders: venue lookups that found nothing; enough of them, past the grace window, mean "not placed".
    lookup_misses = models.PositiveSmallIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    errors_in_a_row = models.PositiveSmallIntegerField(default=0, help_text="checks in a row that failed here")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    ALLOWED_TRANSITIONS = ALLOWED_TRANSITIONS

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("cancel_order", "Can cancel orders on the venue"),
            ("recheck_order", "Can re-check orders with the venue now"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "client_order_id"], name="order_unique_client_id"),
            models.UniqueConstraint(
                fields=["exchange", "exchange_order_id"],
                condition=Q(exchange_order_id__isnull=False),
                name="order_unique_exchange_id",
            ),
            models.UniqueConstraint(fields=["exchange", "intent", "attempt"], name="order_unique_intent_attempt"),
            models.UniqueConstraint(
                fields=["exchange", "intent"],
                condition=Q(live=True),
                name="order_one_live_per_intent",
                violation_error_message="This intent already has a live order.",
            ),
            # Two exits (a stop and a take-profit, a close and a copy's reduce…) must never sell the same coins.
            models.UniqueConstraint(
                fields=["position"],
                condition=Q(side="sell", position__isnull=False, live=True),
                name="order_one_live_sell_per_position",
                violation_error_message="A sell is already working on this position.",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=Q(filled__gte=0) & Q(filled__lte=F("amount")), name="order_filled_within_amount"
            ),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"),
            models.CheckConstraint(
                condition=Q(type=OrderType.MARKET) | Q(price__isnull=False), name="order_limit_needs_price"
            ),
            # A fee may be negative: a maker rebate is paid to us.
            models.CheckConstraint(condition=Q(cost__gte=0), name="order_cost_not_negative"),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="order_attempt_from_one"),
            models.CheckConstraint(
                condition=(
                    Q(purpose=OrderPurpose.CYCLE, cycle__isnull=False)
                    | Q(purpose=OrderPurpose.POSITION, position__isnull=False)
                    | Q(purpose=OrderPurpose.COPY, copy_trade__isnull=False)
                    | Q(purpose=OrderPurpose.LIQUIDATION, panic_sell__isnull=False)
                    | Q(purpose=OrderPurpose.MANUAL)
                    | Q(purpose=OrderPurpose.ADOPTED)
                ),
                name="order_purpose_has_owner",
            ),
            *OrderMonitoringSettings.monitoring_constraints("order"),
        ]
        indexes = [
            # The monitoring sweeper: live orders by due time.
            models.Index(fields=["next_check_at"], condition=Q(live=True), name="order_live_due"),
            # The monitor's per-market questions (how many live, when is the next one due).
            models.Index(fields=["exchange", "market"], condition=Q(live=True), name="order_live_by_market"),
            *(
                models.Index(fields=[owner], condition=Q(**{f"{owner}__isnull": False}), name=f"order_{owner}")
                for owner in ("cycle", "position", "copy_trade", "panic_sell")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.amount} {self.market_id} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    # What an order traded, for its owner's ledger (the market must be loaded).
    @property
    def received_asset(self) -> str:
        return self.market.base if self.side == Side.BUY else self.market.quote

    @property
    def received(self) -> Decimal:
        """What the fills gave us, net of the fees taken in that asset."""
        got = self.filled if self.side == Side.BUY else self.cost
        return got - (self.fee if self.fee_asset == self.received_asset else 0)

    @property
    def spent(self) -> Decimal:
        """What the fills took from us (a buy's fee is taken from what it received, not from this)."""
        return self.cost if self.side == Side.BUY else self.filled


class Fill(models.Model):
    """One venue trade against one of our orders. Append-only (a trigger refuses UPDATE and DELETE)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="fills")
    trade_id = models.CharField(max_length=64)
    price = amount_field()
    amount = amount_field()
    cost = amount_field()
    fee = amount_field(default=0)
    fee_asset = models.CharField(max_length=32, blank=True)
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["executed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "trade_id"], name="fill_unique_trade_id"),
            models.CheckConstraint(
                condition=Q(price__gt=0) & Q(amount__gt=0) & Q(cost__gte=0),
                name="fill_values_valid",  # the fee may be negative (a maker rebate)
            ),
        ]

    def __str__(self) -> str:
        return f"fill {self.trade_id} {self.amount}@{self.price}"
