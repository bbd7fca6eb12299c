"""Venue accounts and the markets they list."""

from django.db import models
from django.db.models import F, Q

from tradingsite.fields import EncryptedTextField, amount_field, rate_field


class Side(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class ExchangeKind(models.TextChoices):
    PAPER = "paper", "paper venue"
    CCXT = "ccxt", "ccxt exchange"


class AccountRole(models.TextChoices):
    MAIN = "main", "main"
    MIRROR = "mirror", "mirror"


class Exchange(models.Model):
    """One venue account. Credentials are encrypted and never shown."""

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ExchangeKind.choices, default=ExchangeKind.PAPER)
    ccxt_id = models.CharField(max_length=64, blank=True, help_text="ccxt exchange id, e.g. binance")
    role = models.CharField(max_length=16, choices=AccountRole.choices, default=AccountRole.MAIN)
    mirror_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="mirrors")
    mirror_ratio = models.DecimalField(max_digits=12, decimal_places=6, default=1)
    api_key = EncryptedTextField(blank=True)
    api_secret = EncryptedTextField(blank=True)
    api_password = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role=AccountRole.MAIN, mirror_of__isnull=True)
                | Q(role=AccountRole.MIRROR, mirror_of__isnull=False),
                name="exchange_mirror_of_matches_role",
                violation_error_message="A mirror account needs the main account it mirrors; a main account has none.",
            ),
            models.CheckConstraint(
                condition=~Q(mirror_of=F("id")),
                name="exchange_not_mirror_of_itself",
            ),
            models.CheckConstraint(
                condition=Q(mirror_ratio__gt=0),
                name="exchange_mirror_ratio_positive",
                violation_error_message="The mirror ratio must be above zero.",
            ),
            models.CheckConstraint(
                condition=~Q(kind=ExchangeKind.CCXT) | ~Q(ccxt_id=""),
                name="exchange_ccxt_needs_id",
                violation_error_message="A ccxt exchange needs its ccxt id (e.g. binance).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.api_secret)


class Market(models.Model):
    """A spot market as the venue lists it; `symbol` is the venue's own id (BTCUSDT)."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="markets")
    symbol = models.CharField(max_length=64)
    base = models.CharField(max_length=32)
    quote = models.CharField(max_length=32)
    price_step = amount_field()
    amount_step = amount_field()
    min_amount = amount_field(default=0)
    min_notional = amount_field(default=0)
    taker_fee = rate_field(default="0.001")
    maker_fee = rate_field(default="0.001")
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange_id", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="market_unique_symbol"),
            models.CheckConstraint(condition=Q(price_step__gt=0), name="market_price_step_positive"),
            models.CheckConstraint(condition=Q(amount_step__gt=0), name="market_amount_step_positive"),
            models.CheckConstraint(
                condition=Q(min_amount__gte=0) & Q(min_notional__gte=0), name="market_minimums_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(taker_fee__gte=0, taker_fee__lt="0.1", maker_fee__gt="-0.01", maker_fee__lt="0.1"),
                name="market_fees_in_range",
            ),
            models.CheckConstraint(condition=~Q(base=F("quote")), name="market_base_differs_from_quote"),
        ]
        indexes = [
            models.Index(fields=["exchange", "base"], name="market_exchange_base"),
            models.Index(fields=["exchange", "quote"], name="market_exchange_quote"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}@{self.exchange_id}"
