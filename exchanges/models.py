"""Venue accounts and the markets they list."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.db.models import F, Q

from core.fields import EncryptedTextField, amount_field, rate_field
from exchanges.types import MarketInfo


class Side(models.TextChoices):
    BUY = "buy", "buy"
    SELL = "sell", "sell"


class ExchangeKind(models.TextChoices):
    PAPER = "paper", "paper venue"
    CCXT = "ccxt", "ccxt exchange"
    POLYMARKET = "polymarket", "Polymarket CLOB V2"


class SignatureType(models.IntegerChoices):
    """How a Polymarket order is signed (py-clob-client-v2's SignatureTypeV2; docs.polymarket.com, V2 migration)."""

    EOA = 0, "EOA: the key's own address holds the funds"
    POLY_PROXY = 1, "Polymarket proxy wallet owned by the key"
    POLY_GNOSIS_SAFE = 2, "Gnosis Safe owned by the key"
    POLY_1271 = 3, "EIP-1271 deposit wallet (smart contract)"


class AccountRole(models.TextChoices):
    MAIN = "main", "main"
    MIRROR = "mirror", "mirror"


def validate_ccxt_id(value: str) -> None:
    """An id ccxt lists in `ccxt.exchanges` (binance, kraken…): anything else cannot be traded through it."""
    import ccxt

    if value and value not in ccxt.exchanges:
        close = [name for name in ccxt.exchanges if name.startswith(value[:3].lower())][:5]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValidationError(f"{value!r} is not an exchange ccxt knows.{hint}")


class OrderMonitoringSettings(models.Model):
    """How closely open orders are watched (the strategy YAML's `order.monitoring` block; see orders.policy).

    Strategies set it for their cycles' orders; an account sets it for every other order placed on it.
    """

    monitor_initial_delay_ms = models.PositiveIntegerField(default=100)
    monitor_max_delay_ms = models.PositiveIntegerField(default=5000)
    monitor_backoff_multiplier = models.DecimalField(max_digits=5, decimal_places=2, default=2)
    monitor_jitter_factor = models.DecimalField(max_digits=4, decimal_places=3, default="0.3")
    monitor_cache_ttl_ms = models.PositiveIntegerField(default=500)

    class Meta:
        abstract = True

    @staticmethod
    def monitoring_constraints(prefix: str) -> list[models.CheckConstraint]:
        return [
            models.CheckConstraint(
                condition=Q(monitor_initial_delay_ms__gte=1, monitor_initial_delay_ms__lte=F("monitor_max_delay_ms")),
                name=f"{prefix}_monitor_delays_ordered",
                violation_error_message="The initial delay must be at least 1 ms and at most the maximum delay.",
            ),
            models.CheckConstraint(
                condition=Q(monitor_backoff_multiplier__gte=1),
                name=f"{prefix}_backoff_multiplier_min_1",
                violation_error_message="The backoff multiplier must be at least 1.",
            ),
            models.CheckConstraint(
                condition=Q(monitor_jitter_factor__gte=0, monitor_jitter_factor__lt=1),
                name=f"{prefix}_jitter_in_range",
                violation_error_message="The jitter factor must be at least 0 and below 1.",
            ),
        ]


class Exchange(OrderMonitoringSettings):
    """One venue account. Credentials are encrypted and never shown."""

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ExchangeKind.choices, default=ExchangeKind.PAPER)
    ccxt_id = models.CharField(
        max_length=64, blank=True, validators=[validate_ccxt_id], help_text="ccxt exchange id, e.g. binance"
    )
    role = models.CharField(max_length=16, choices=AccountRole.choices, default=AccountRole.MAIN)
    mirror_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="mirrors")
    mirror_ratio = models.DecimalField(max_digits=12, decimal_places=6, default=1)
    api_key = EncryptedTextField(blank=True)
    api_secret = EncryptedTextField(blank=True)
    api_password = EncryptedTextField(blank=True)
    # Polymarket: the key that signs orders (EIP-712) and derives the API credentials (api_key, api_secret,
    # api_password hold the L2 key, secret and passphrase), the address holding the funds, and how orders are signed.
    private_key = EncryptedTextField(blank=True)
    funder = models.CharField(
        max_length=42, blank=True, help_text="Polymarket: the wallet holding the funds (empty: the key's own address)"
    )
    signature_type = models.PositiveSmallIntegerField(choices=SignatureType.choices, default=SignatureType.EOA)
    enabled = models.BooleanField(default=True)
    # Where run_feed and the adapter reach the venue; empty: its real endpoints (ccxt's). Tests point them at an
    # emulator on 127.0.0.1.
    ws_url = models.CharField(
        max_length=200, blank=True, validators=[URLValidator(schemes=["ws", "wss"])],
        help_text="market-data websocket base, e.g. wss://stream.binance.com:9443 (empty: the venue's own)",
    )  # fmt: skip
    rest_url = models.CharField(
        max_length=200, blank=True, validators=[URLValidator(schemes=["http", "https"])],
        help_text="REST base, e.g. https://api.binance.com (empty: the venue's own)",
    )  # fmt: skip
    entries_halted_by = models.CharField(
        max_length=150, blank=True, help_text="set: no new position opens on this account (the kill switch); who set it"
    )
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
            models.CheckConstraint(
                condition=~Q(kind=ExchangeKind.POLYMARKET) | Q(signature_type=SignatureType.EOA) | ~Q(funder=""),
                name="exchange_polymarket_funder_for_wallets",
                violation_error_message="A proxy, Safe or deposit-wallet signature type needs the funder address.",
            ),
            models.CheckConstraint(
                condition=Q(funder="") | Q(funder__regex=r"^0x[0-9a-fA-F]{40}$"),
                name="exchange_funder_is_an_address",
                violation_error_message="The funder is an address: 0x followed by 40 hex digits.",
            ),
            *OrderMonitoringSettings.monitoring_constraints("exchange"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credentials(self) -> bool:
        if self.kind == ExchangeKind.POLYMARKET:  # the key signs orders and derives the API credentials
            return bool(self.private_key)
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
    external_id = models.CharField(
        max_length=200, blank=True, help_text="the id another system gives this market (a prediction-market token id)"
    )
    neg_risk = models.BooleanField(default=False, help_text="Polymarket: traded on the Neg Risk CTF Exchange")
    resolved_at = models.DateTimeField(
        null=True, blank=True, help_text="a prediction market: when its resolution was seen (positions then settle)"
    )
    payout = amount_field(null=True, blank=True, help_text="what one token pays at resolution (1, 0, or 0.5)")
    resolved_outcome = models.CharField(max_length=100, blank=True, help_text="the winning outcome's label")
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
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, payout__isnull=True)
                | Q(resolved_at__isnull=False, payout__gte=0, payout__lte=1),
                name="market_resolution_payout_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["exchange", "base"], name="market_exchange_base"),
            models.Index(fields=["exchange", "quote"], name="market_exchange_quote"),
            models.Index(fields=["exchange", "external_id"], condition=~Q(external_id=""), name="market_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}@{self.exchange_id}"

    def info(self) -> MarketInfo:
        """The market as the pure modules (rules, detection, routing) take it."""
        return MarketInfo(
            self.symbol, self.base, self.quote, self.price_step, self.amount_step, self.min_amount,
            self.min_notional, self.taker_fee, self.maker_fee, self.active, self.external_id, self.neg_risk,
        )  # fmt: skip


class PaperBalance(models.Model):
    """The paper venue's ledger: one row per account and asset; never negative."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="paper_balances")
    asset = models.CharField(max_length=32)
    free = amount_field(default=0)
    locked = amount_field(default=0)

    class Meta:
        ordering = ["exchange_id", "asset"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "asset"], name="paper_balance_unique_asset"),
            models.CheckConstraint(
                condition=Q(free__gte=0) & Q(locked__gte=0),
                name="paper_balance_not_negative",
                violation_error_message="A balance can never go negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.free} (+{self.locked} locked)"


class PaperOrderStatus(models.TextChoices):
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class PaperOrder(models.Model):
    """An order as the paper venue holds it (its id is the venue order id)."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="paper_orders")
    client_order_id = models.CharField(max_length=36)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=8)
    price = amount_field(null=True, blank=True)
    amount = amount_field()
    filled = amount_field(default=0)
    cost = amount_field(default=0)
    fee = amount_field(default=0)
    fee_asset = models.CharField(max_length=32, blank=True)
    reserved = amount_field(default=0, help_text="balance this resting order holds locked")
    status = models.CharField(max_length=20, choices=PaperOrderStatus.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "client_order_id"], name="paper_order_unique_client_id"),
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(filled__gte=0) & Q(filled__lte=F("amount")),
                name="paper_order_filled_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["exchange", "symbol"],
                condition=Q(status__in=["OPEN", "PARTIALLY_FILLED"]),
                name="paper_order_resting",
            ),
        ]

    def __str__(self) -> str:
        return f"paper {self.pk} {self.client_order_id} [{self.status}]"


class PaperTrade(models.Model):
    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="paper_trades")
    order = models.ForeignKey(PaperOrder, on_delete=models.CASCADE, related_name="trades")
    price = amount_field()
    amount = amount_field()
    cost = amount_field()
    fee = amount_field()
    fee_asset = models.CharField(max_length=32)
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["exchange", "executed_at"], name="paper_trade_time")]

    def __str__(self) -> str:
        return f"paper trade {self.pk} {self.amount}@{self.price}"


class VenueFaults(models.Model):
    """Faults the paper venue injects, each with a probability; editable at run time."""

    exchange = models.OneToOneField(Exchange, on_delete=models.CASCADE, related_name="faults")
    enabled = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0, help_text="added to every call (at most 60,000)")
    rate_limit_p = models.FloatField(default=0, help_text="429 with Retry-After")
    retry_after_s = models.FloatField(default=1.0, help_text="0 to 3,600")
    ban_p = models.FloatField(default=0, help_text="418: banned for ban_s")
    ban_s = models.FloatField(default=60.0, help_text="0 to 86,400")
    server_error_p = models.FloatField(default=0, help_text="5xx")
    timeout_after_accept_p = models.FloatField(
        default=0, help_text="create_order: the order is placed, the answer is lost"
    )
    partial_fill_p = models.FloatField(default=0, help_text="market/IOC fill only part of the amount")
    partial_fill_ratio = models.FloatField(default=0.5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "venue faults"
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_limit_p__gte=0, rate_limit_p__lte=1)
                & Q(ban_p__gte=0, ban_p__lte=1)
                & Q(server_error_p__gte=0, server_error_p__lte=1)
                & Q(timeout_after_accept_p__gte=0, timeout_after_accept_p__lte=1)
                & Q(partial_fill_p__gte=0, partial_fill_p__lte=1)
                & Q(partial_fill_ratio__gt=0, partial_fill_ratio__lt=1),
                name="venue_faults_probabilities",
                violation_error_message="Probabilities lie between 0 and 1; the partial ratio strictly inside.",
            ),
            models.CheckConstraint(
                condition=Q(latency_ms__lte=60_000)
                & Q(retry_after_s__gte=0, retry_after_s__lte=3600)
                & Q(ban_s__gte=0, ban_s__lte=86_400),
                name="venue_faults_durations",
                violation_error_message="Latency is at most 60,000 ms, Retry-After 0 to 3,600 s, a ban 0 to 86,400 s.",
            ),
        ]

    def __str__(self) -> str:
        return f"faults of {self.exchange_id}"
