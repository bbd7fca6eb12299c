"""Candles (OHLCV with trade counts) per market and timeframe, and the risk figures beat computes from them."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from core.fields import amount_field

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
