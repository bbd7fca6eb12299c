"""Candles (OHLCV with trade counts) per market and timeframe, the risk figures beat computes from them, and
rebalances (an account's target weights, each plan and its trades)."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.fields import amount_field
from core.statemachine import check_transition_map

from .candles import TIMEFRAMES


class Timeframe(models.TextChoices):
    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"


assert list(Timeframe.values) == list(TIMEFRAMES)  # noqa: S101  (one list of timeframes: the aggregator's)


class Candle(models.Model):
    """A closed candle: the trades printed in [open_time, open_time + its span). Written in bulk by the writers
    (analytics.services.candles_write); the open ones live in Redis until they close."""

    market = models.ForeignKey("exchanges.Market", on_delete=models.CASCADE, related_name="candles")
    timeframe = models.CharField(max_length=3, choices=Timeframe.choices)
    open_time = models.DateTimeField()
    open = amount_field()
    high = amount_field()
    low = amount_field()
    close = amount_field()
    volume = amount_field(help_text="base asset traded")
    quote_volume = amount_field(help_text="quote asset traded")
    trades = models.PositiveIntegerField()

    class Meta:
        ordering = ["market_id", "timeframe", "open_time"]
        constraints = [
            models.UniqueConstraint(fields=["market", "timeframe", "open_time"], name="candle_one_per_span"),
            models.CheckConstraint(
                condition=Q(low__lte=F("open"), high__gte=F("open")) & Q(low__lte=F("close"), high__gte=F("close")),
                name="candle_open_close_within_range",
                violation_error_message="A candle's open and close lie between its low and its high.",
            ),
        ]
        indexes = [models.Index(fields=["timeframe", "open_time"], name="candle_by_age")]  # retention

    def __str__(self) -> str:
        return f"{self.market_id} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M} {self.close}"


FRACTION = [MinValueValidator(Decimal("0.0001")), MaxValueValidator(1)]


class RiskLimits(models.Model):
    """An account's risk limits. Crossing one halts new entries (the kill switch, with the reason); a halt the
    limits set is lifted when they are met again, an operator's never. Empty: no such limit."""

    exchange = models.OneToOneField("exchanges.Exchange", on_delete=models.CASCADE, related_name="risk_limits")
    max_var_99 = models.DecimalField(
        max_digits=6, decimal_places=4, null=True, blank=True, validators=FRACTION,
        help_text="largest one-minute historical VaR at 99% of the portfolio, as a fraction of equity (0.02 = 2%)",
    )  # fmt: skip
    max_drawdown = models.DecimalField(
        max_digits=6, decimal_places=4, null=True, blank=True, validators=FRACTION,
        help_text="largest fall of the account's equity from its peak (equity snapshots), as a fraction",
    )  # fmt: skip
    max_asset_share = models.DecimalField(
        max_digits=6, decimal_places=4, null=True, blank=True, validators=FRACTION,
        help_text="largest share of equity in one asset other than the valuation asset, as a fraction",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "risk limits"
        constraints = [
            models.CheckConstraint(
                condition=(Q(max_var_99__isnull=True) | Q(max_var_99__gt=0, max_var_99__lte=1))
                & (Q(max_drawdown__isnull=True) | Q(max_drawdown__gt=0, max_drawdown__lte=1))
                & (Q(max_asset_share__isnull=True) | Q(max_asset_share__gt=0, max_asset_share__lte=1)),
                name="risk_limits_are_fractions",
                violation_error_message="A risk limit is a fraction above 0 and at most 1.",
            )
        ]

    def __str__(self) -> str:
        return f"risk limits of {self.exchange_id}"


class RiskScope(models.TextChoices):
    ACCOUNT = "account"
    STRATEGY = "strategy"
    WALLET = "wallet"


class RiskReport(models.Model):
    """One computation of risk for an account, a strategy of it or a copied wallet's positions on it."""

    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.CASCADE, related_name="risk_reports")
    scope = models.CharField(max_length=8, choices=RiskScope.choices)
    strategy = models.ForeignKey("cycles.Strategy", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    wallet = models.ForeignKey("wallets.WatchedWallet", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="+")  # fmt: skip
    computed_at = models.DateTimeField()
    valuation_asset = models.CharField(max_length=32)
    value = amount_field(help_text="what the scope holds, in the valuation asset (0 for a strategy's cycles)")
    periods = models.PositiveIntegerField(help_text="returns the figures are computed over")
    weights = models.JSONField(default=dict, help_text="asset -> share of the value")
    figures = models.JSONField(default=dict, help_text="the portfolio's (or the strategy's) figures")
    assets = models.JSONField(default=dict, help_text="asset -> its own figures")
    correlation = models.JSONField(default=dict, help_text='{"assets": [...], "matrix": [[...]]}')
    unmeasured = models.JSONField(default=list, help_text="held assets with no price history (left out)")
    breaches = models.JSONField(default=list, help_text="the limits crossed, as sentences")

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["exchange", "scope", "-computed_at"], name="risk_report_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope="account", strategy__isnull=True, wallet__isnull=True)
                | Q(scope="strategy", strategy__isnull=False, wallet__isnull=True)
                | Q(scope="wallet", strategy__isnull=True, wallet__isnull=False),
                name="risk_report_scope_matches_its_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} risk of {self.exchange_id} at {self.computed_at:%Y-%m-%d %H:%M}"


class RebalanceTarget(models.Model):
    """An account's target weights. The portfolio is the assets named plus the quote, which takes the weight the
    others leave; assets the account holds but the targets do not name are left alone and not counted."""

    exchange = models.OneToOneField("exchanges.Exchange", on_delete=models.CASCADE, related_name="rebalance_target")
    quote = models.CharField(max_length=32, default="USDT", help_text="what every trade sells into or buys with")
    weights = models.JSONField(default=dict, help_text='asset -> weight, e.g. {"BTC": "0.5", "ETH": "0.3"}')
    tolerance = models.DecimalField(
        max_digits=6, decimal_places=4, default=Decimal("0.02"),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("0.5"))],
        help_text="how far a weight may drift from its target before it is traded, in weight (0.02 = 2 points)",
    )  # fmt: skip
    aim = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal("0.9"))],
        help_text="where a traded asset lands: 0 anywhere in its band (cheapest), 0.9 close to its target",
    )  # fmt: skip
    auto = models.BooleanField(
        default=False, help_text="rebalance on its own (beat, every REBALANCE_AUTO_S) whenever a weight drifts out"
    )
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(tolerance__gt=0, tolerance__lte=Decimal("0.5"), aim__gte=0, aim__lte=Decimal("0.9")),
                name="rebalance_target_bounds",
                violation_error_message="The tolerance is above 0 and at most 0.5; the aim between 0 and 0.9.",
            )
        ]

    def __str__(self) -> str:
        return f"rebalance target of {self.exchange_id}"

    def portfolio(self) -> dict[str, Decimal]:
        """asset -> target weight, the quote's share (what the others leave) included."""
        weights = {a: Decimal(w) for a, w in self.weights.items()}
        weights.setdefault(self.quote, 1 - sum(weights.values(), Decimal(0)))
        return weights


class RebalanceState(models.TextChoices):
    PLANNED = "PLANNED", "planned (dry run)"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


R = RebalanceState
REBALANCE_TRANSITIONS = {
    R.PLANNED: {R.EXECUTING, R.COMPLETED, R.CANCELED},  # completed at once when there is nothing to trade
    R.EXECUTING: {R.COMPLETED, R.FAILED, R.CANCELED},
    R.COMPLETED: set(),
    R.FAILED: set(),
    R.CANCELED: set(),
}
check_transition_map(RebalanceState, REBALANCE_TRANSITIONS)


class Rebalance(models.Model):
    """One plan to bring an account to its targets (a dry run until an operator executes it), and its outcome."""

    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.PROTECT, related_name="rebalances")
    state = models.CharField(max_length=10, choices=RebalanceState.choices, default=RebalanceState.PLANNED)
    quote = models.CharField(max_length=32)
    weights = models.JSONField(help_text="the targets it was planned for")
    tolerance = models.DecimalField(max_digits=6, decimal_places=4)
    aim = models.DecimalField(max_digits=4, decimal_places=2)
    value = amount_field(help_text="the portfolio's value when planned, in the quote")
    before = models.JSONField(help_text="asset -> {amount, price, value, weight} when planned")
    expected_after = models.JSONField(help_text="asset -> weight once the trades are done, as planned")
    expected_cost = amount_field(help_text="fees, spread and depth the trades are expected to lose, in the quote")
    orders = models.PositiveSmallIntegerField(help_text="orders the trades place (a routed trade places several)")
    after = models.JSONField(null=True, blank=True, help_text="asset -> weight once done")
    requested_by = models.CharField(max_length=150)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    ALLOWED_TRANSITIONS = REBALANCE_TRANSITIONS
    STATUS_FIELD = "state"

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("execute_rebalance", "Can execute a planned rebalance")]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange"],
                condition=Q(state="EXECUTING"),
                name="rebalance_one_executing_per_account",
                violation_error_message="A rebalance of this account is executing already.",
            )
        ]

    def __str__(self) -> str:
        return f"rebalance {self.pk} of {self.exchange_id} [{self.state}]"


class RebalanceTradeState(models.TextChoices):
    PLANNED = "PLANNED"
    WORKING = "WORKING", "working (its conversion is placing orders)"
    DONE = "DONE"
    SKIPPED = "SKIPPED", "skipped (under the market's minimum when its turn came)"
    FAILED = "FAILED"


class RebalanceTrade(models.Model):
    """One asset sold to the quote or bought with it. It runs as a conversion (a liquidation.PanicSell to the
    asset wanted), which places its orders through order_place, one hop at a time, with intents of its own."""

    rebalance = models.ForeignKey(Rebalance, on_delete=models.CASCADE, related_name="trades")
    seq = models.PositiveSmallIntegerField()
    asset = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=[("sell", "sell"), ("buy", "buy")])
    amount = amount_field(help_text="a sell: the asset sold; a buy: the quote spent")
    value = amount_field(help_text="in the quote, at the planning price")
    expected_cost = amount_field()
    route = models.JSONField(help_text="the assets it passes through, from the one sold to the one bought")
    orders = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=8, choices=RebalanceTradeState.choices, default=RebalanceTradeState.PLANNED)
    conversion = models.OneToOneField(
        "liquidation.PanicSell", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received = amount_field(null=True, blank=True)
    received_asset = models.CharField(max_length=32, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["rebalance_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["rebalance", "seq"], name="rebalance_trade_seq_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="rebalance_trade_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.asset} ({self.amount}) [{self.state}]"
