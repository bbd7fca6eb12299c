"""Managed positions, their take-profit ladders and their event log."""

from django.db import models
from django.db.models import F, Q

from core.fields import amount_field
from core.statemachine import check_transition_map


class PositionPhase(models.TextChoices):
    BUILDING = "BUILDING", "building (entry filling)"
    MONITORING = "MONITORING"
    PROFIT_TAKING = "PROFIT_TAKING", "profit taking"
    CLOSED = "CLOSED"


P = PositionPhase
ALLOWED_TRANSITIONS = {
    P.BUILDING: {P.MONITORING, P.CLOSED},
    P.MONITORING: {P.PROFIT_TAKING, P.CLOSED},
    P.PROFIT_TAKING: {P.CLOSED},
    P.CLOSED: set(),
}
check_transition_map(PositionPhase, ALLOWED_TRANSITIONS)


class PositionSource(models.TextChoices):
    MANUAL = "manual"
    COPY = "copy"
    CYCLE = "cycle"


class Position(models.Model):
    """A spot holding managed with a TP ladder and a stop (long only: spot cannot short)."""

    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="positions")
    market = models.ForeignKey("exchanges.Market", on_delete=models.PROTECT, related_name="positions")
    phase = models.CharField(max_length=16, choices=PositionPhase.choices, default=PositionPhase.BUILDING)
    source = models.CharField(max_length=8, choices=PositionSource.choices, default=PositionSource.MANUAL)
    mirror_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="mirrors")
    entry_price = amount_field(null=True, blank=True)
    cost_basis = amount_field(null=True, blank=True, help_text="what each unit held cost, the entry's fees included")
    amount = amount_field()
    remaining = amount_field(default=0)
    stop_loss = amount_field(null=True, blank=True)
    trailing_stop_bps = models.PositiveIntegerField(null=True, blank=True)
    breakeven_moved = models.BooleanField(default=False)
    breakeven_at = models.DateTimeField(null=True, blank=True)
    last_exit_order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="the last whole-position exit (stop or close) already accounted",
    )  # fmt: skip
    reduces_accounted = models.PositiveIntegerField(
        default=0, help_text="reduce sells (intent p<id>-reduce-<tag>) accounted so far, in the order placed"
    )
    close_to_stable = models.BooleanField(
        default=False, help_text="an operator's close converts its proceeds to a base currency (PANIC_BASE_CURRENCIES)"
    )
    tier = models.CharField(max_length=10, blank=True, help_text="urgency tier of the last check")
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="why the last check failed (cleared by the next good one)")
    errors_in_a_row = models.PositiveSmallIntegerField(default=0)
    mark_price = amount_field(null=True, blank=True)
    unrealized_pnl = amount_field(default=0)
    realized_pnl = amount_field(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    ALLOWED_TRANSITIONS = ALLOWED_TRANSITIONS
    STATUS_FIELD = "phase"

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("close_position", "Can close positions now (one, or all)"),
            ("manage_position", "Can move a position's stop and add take-profits"),
            ("halt_entries", "Can stop and resume new position entries on an account"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="position_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")), name="position_remaining_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(entry_price__isnull=True) | Q(entry_price__gt=0), name="position_entry_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(stop_loss__isnull=True) | Q(stop_loss__gt=0), name="position_stop_loss_positive"
            ),
            models.CheckConstraint(
                condition=~Q(phase=PositionPhase.CLOSED) | Q(next_check_at__isnull=True),
                name="position_closed_not_scheduled",
            ),
            models.CheckConstraint(condition=~Q(mirror_of=F("id")), name="position_not_mirror_of_itself"),
        ]
        indexes = [
            models.Index(fields=["next_check_at"], condition=~Q(phase=PositionPhase.CLOSED), name="position_open_due"),
            models.Index(fields=["exchange", "phase"], name="position_exchange_phase"),
        ]

    def __str__(self) -> str:
        return f"position {self.pk} {self.market_id} [{self.phase}]"


class TakeProfitStatus(models.TextChoices):
    PENDING = "PENDING", "pending (watching the price)"
    TRIGGERED = "TRIGGERED", "triggered (order working)"
    FILLED = "FILLED"
    CANCELED = "CANCELED"


T = TakeProfitStatus
TP_ALLOWED_TRANSITIONS = {
    T.PENDING: {T.TRIGGERED, T.CANCELED},
    T.TRIGGERED: {T.FILLED, T.PENDING, T.CANCELED},
    T.FILLED: set(),
    T.CANCELED: set(),
}
check_transition_map(TakeProfitStatus, TP_ALLOWED_TRANSITIONS)


class TakeProfitLevel(models.Model):
    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="take_profits")
    index = models.PositiveSmallIntegerField()
    price = amount_field()
    fraction = models.DecimalField(max_digits=7, decimal_places=6, help_text="share of the position amount, 0 to 1")
    status = models.CharField(max_length=12, choices=TakeProfitStatus.choices, default=TakeProfitStatus.PENDING)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    ALLOWED_TRANSITIONS = TP_ALLOWED_TRANSITIONS

    class Meta:
        ordering = ["position_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["position", "index"], name="tp_unique_index"),
            models.CheckConstraint(condition=Q(price__gt=0), name="tp_price_positive"),
            models.CheckConstraint(condition=Q(fraction__gt=0, fraction__lte=1), name="tp_fraction_0_to_1"),
        ]

    def __str__(self) -> str:
        return f"TP{self.index} {self.fraction}@{self.price}"


class PositionEventKind(models.TextChoices):
    TP_HIT = "tp_hit"
    SL_HIT = "sl_hit"
    POSITION_CLOSED = "position_closed"
    MONITOR_CREATED = "monitor_created"
    MONITOR_REMOVED = "monitor_removed"
    BREAKEVEN_MOVED = "breakeven_moved"
    OPERATOR_ACTION = "operator_action"
    POSITION_UPDATE = "position_update"
    PARTIAL_FILL = "partial_fill"
    ORDER_ADJUSTMENT = "order_adjustment"
    MONITORING_UPDATE = "monitoring_update"
    MARKET_RESOLVED = "market_resolved"


K = PositionEventKind
CRITICAL_EVENT_KINDS = frozenset(
    {
        K.TP_HIT,
        K.SL_HIT,
        K.POSITION_CLOSED,
        K.MONITOR_CREATED,
        K.MONITOR_REMOVED,
        K.BREAKEVEN_MOVED,
        K.OPERATOR_ACTION,
        K.MARKET_RESOLVED,
    }
)


class PositionEvent(models.Model):
    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=PositionEventKind.choices)
    critical = models.BooleanField()
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(critical=True, kind__in=sorted(CRITICAL_EVENT_KINDS))
                | (Q(critical=False) & ~Q(kind__in=sorted(CRITICAL_EVENT_KINDS))),
                name="position_event_critical_matches_kind",
            ),
        ]
        indexes = [models.Index(fields=["position", "created_at"], name="position_event_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} on position {self.position_id}"
