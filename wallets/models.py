"""Watched wallets, the trades detected in them, and our copy of each trade."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from core.fields import amount_field
from core.statemachine import check_transition_map
from exchanges.models import Side


def validate_ladder(ladder) -> None:
    """A TP ladder of finite Decimals: each pct in (0, 1000], each fraction in (0, 1], fractions adding to <= 1.

    Numbers may be given as numbers or numeric strings; booleans, NaN, Infinity and exponents beyond the bounds
    are refused, the level named.
    """
    from exchanges.parsing import to_decimal
    from positions.rules import ladder_over_whole

    if not isinstance(ladder, list):
        raise ValidationError('Give a list like [{"pct": 5, "fraction": 0.5}].')
    if len(ladder) > 20:
        raise ValidationError("At most 20 levels.")
    fractions = []
    for i, level in enumerate(ladder):
        if not isinstance(level, dict) or set(level) - {"pct", "fraction"} or {"pct", "fraction"} - set(level):
            raise ValidationError(f'Level {i}: give exactly {{"pct": …, "fraction": …}}.')
        pct = to_decimal(level["pct"], name="pct", error=ValidationError, what=f"Level {i}")
        fraction = to_decimal(level["fraction"], name="fraction", error=ValidationError, what=f"Level {i}")
        if pct > 1000:
            raise ValidationError(f"Level {i}: pct is at most 1,000.")
        if fraction > 1:
            raise ValidationError(f"Level {i}: fraction is at most 1.")
        fractions.append(fraction)
    if (total := ladder_over_whole(fractions)) is not None:
        raise ValidationError(f"Fractions add up to {total:.2%}; at most 100%.")


address_validator = RegexValidator(r"^0x[0-9a-fA-F]{40}$", "Enter an address: 0x followed by 40 hex digits.")


class Chain(models.TextChoices):
    POLYGON = "polygon", "Polygon (137)"
    ETHEREUM = "ethereum", "Ethereum (1)"


CHAIN_IDS = {Chain.POLYGON: 137, Chain.ETHEREUM: 1}


class WalletSource(models.TextChoices):
    POLYMARKET = "polymarket", "Polymarket Data API (/activity)"
    POLYMARKET_V2 = "polymarket_v2", "Polymarket Data API v2 (/v2/activity, keyset pages)"
    ETHERSCAN = "etherscan", "Etherscan API V2 (token1155tx + tokentx)"


class WatchedWallet(models.Model):
    address = models.CharField(max_length=42, validators=[address_validator], help_text="EIP-55 checksummed")
    chain = models.CharField(max_length=16, choices=Chain.choices, default=Chain.POLYGON)
    label = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=16, choices=WalletSource.choices, default=WalletSource.POLYMARKET)
    # Copy settings: where copies go and how they are sized.
    copy_exchange = models.ForeignKey(
        "exchanges.Exchange", null=True, blank=True, on_delete=models.PROTECT, related_name="copied_wallets"
    )
    copy_enabled = models.BooleanField(default=False)
    copy_ratio = models.DecimalField(max_digits=8, decimal_places=4, default=1)
    risk_pct = models.DecimalField(max_digits=6, decimal_places=3, default=1, help_text="% of equity risked a trade")
    max_position_size = amount_field(null=True, blank=True, help_text="in the quote asset")
    stop_loss_pct = models.DecimalField(max_digits=6, decimal_places=3, default=5)
    take_profit_ladder = models.JSONField(
        default=list, blank=True, validators=[validate_ladder],
        help_text='[{"pct": 5, "fraction": 0.5}, …] above entry: pct over 0 and at most 1,000, fractions over 0 '
        "adding up to at most 1",
    )  # fmt: skip
    cursor = models.CharField(max_length=200, blank=True, help_text="block number or keyset of the last scan")
    stream_block = models.BigIntegerField(null=True, blank=True, help_text="the newest block the log stream recorded")
    next_scan_at = models.DateTimeField(null=True, blank=True)
    scan_tier = models.CharField(max_length=8, blank=True, help_text="how often it is scanned, from its activity")
    last_scanned_at = models.DateTimeField(null=True, blank=True)
    last_trade_at = models.DateTimeField(null=True, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True, help_text="when its source last answered for it")
    last_error = models.TextField(blank=True)
    errors_in_a_row = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label", "address"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "address"], name="wallet_unique_chain_address"),
            models.CheckConstraint(condition=Q(address__regex=r"^0x[0-9a-fA-F]{40}$"), name="wallet_address_format"),
            models.CheckConstraint(condition=Q(copy_ratio__gt=0), name="wallet_copy_ratio_positive"),
            models.CheckConstraint(
                condition=Q(copy_ratio__lte=1000),
                name="wallet_copy_ratio_at_most_1000",
                violation_error_message="The copy ratio is at most 1,000.",
            ),
            models.CheckConstraint(condition=Q(risk_pct__gt=0, risk_pct__lte=100), name="wallet_risk_pct_range"),
            models.CheckConstraint(
                condition=Q(stop_loss_pct__gt=0, stop_loss_pct__lt=100), name="wallet_stop_loss_pct_range"
            ),
            models.CheckConstraint(
                condition=Q(max_position_size__isnull=True) | Q(max_position_size__gt=0),
                name="wallet_max_position_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["next_scan_at"], condition=Q(enabled=True), name="wallet_enabled_due"),
        ]

    def __str__(self) -> str:
        return self.label or self.address


class WalletTrade(models.Model):
    """One fill by a watched wallet. `dedup_key` is unique per fill, not per transaction."""

    wallet = models.ForeignKey(WatchedWallet, on_delete=models.CASCADE, related_name="trades")
    dedup_key = models.CharField(max_length=320, unique=True, help_text="wallet, transaction and fill, with an ordinal")
    tx_hash = models.CharField(max_length=66)
    block_number = models.BigIntegerField(null=True, blank=True)
    traded_at = models.DateTimeField()
    market = models.CharField(max_length=200, help_text="venue market or prediction-market condition id")
    asset = models.CharField(max_length=200, help_text="token or outcome asset id")
    title = models.CharField(max_length=300, blank=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = amount_field()
    size = amount_field()
    raw = models.JSONField(default=dict)
    detected_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-traded_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0) & Q(size__gt=0), name="wallet_trade_values_valid"),
        ]
        indexes = [
            models.Index(fields=["wallet", "traded_at"], name="wallet_trade_timeline"),
            models.Index(fields=["tx_hash"], name="wallet_trade_tx"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.size} {self.asset[:16]} @ {self.price}"


class CopyTradeStatus(models.TextChoices):
    PENDING = "PENDING"
    SKIPPED = "SKIPPED"
    SUBMITTED = "SUBMITTED"
    FILLED = "FILLED"
    FAILED = "FAILED"


CT = CopyTradeStatus
COPY_ALLOWED_TRANSITIONS = {
    CT.PENDING: {CT.SKIPPED, CT.SUBMITTED, CT.FAILED},
    CT.SUBMITTED: {CT.FILLED, CT.FAILED},
    CT.SKIPPED: set(),
    CT.FILLED: set(),
    CT.FAILED: set(),
}
check_transition_map(CopyTradeStatus, COPY_ALLOWED_TRANSITIONS)


class CopyTrade(models.Model):
    """Our decision on one wallet trade: at most one, ever (the one-to-one is the guard)."""

    wallet_trade = models.OneToOneField(WalletTrade, on_delete=models.PROTECT, related_name="copy")
    status = models.CharField(max_length=12, choices=CopyTradeStatus.choices, default=CopyTradeStatus.PENDING)
    size = amount_field(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="why this size, or why skipped")
    decision = models.JSONField(default=dict, blank=True, help_text="the sizing inputs and each cap, as decided")
    submitted_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    position = models.ForeignKey(
        "positions.Position", null=True, blank=True, on_delete=models.PROTECT, related_name="copies"
    )
    last_error = models.TextField(blank=True, help_text="why settling or sending it again failed")
    errors_in_a_row = models.PositiveSmallIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="after a failure: not looked at again before")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    ALLOWED_TRANSITIONS = COPY_ALLOWED_TRANSITIONS

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__isnull=True) | Q(size__gt=0), name="copy_trade_size_positive"),
            models.CheckConstraint(
                condition=~Q(status=CopyTradeStatus.SKIPPED) | ~Q(reason=""), name="copy_trade_skip_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"copy of trade {self.wallet_trade_id} [{self.status}]"
