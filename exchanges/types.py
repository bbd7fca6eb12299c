"""Plain values that cross the Venue interface (no Django, no venue-specific shapes)."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class MarketInfo:
    symbol: str
    base: str
    quote: str
    price_step: Decimal
    amount_step: Decimal
    min_amount: Decimal
    min_notional: Decimal
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    active: bool = True
    external_id: str = ""  # another system's id for it (a Polymarket token id)
    neg_risk: bool = False  # Polymarket: orders go to the Neg Risk CTF Exchange


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal
    ts_ms: int


class Kline(NamedTuple):
    """One candle as a venue's REST history gives it (trades and quote volume 0 where the venue's rows lack them)."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int


class Quote(NamedTuple):
    """A ticker's touch prices as floats, for scoring (no Decimal work on the scanner's hot path)."""

    symbol: str
    bid: float
    ask: float
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """A prediction market's outcome: what one token of `symbol` pays (1 for the winner, 0 for a loser, 0.5 each
    in a 50-50 resolution), as the venue reports it."""

    symbol: str
    payout: Decimal
    outcome: str  # the winning outcome's label ("Yes"), or "50-50"
    source: str  # where it was read (for the position's event)


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids best (highest) first, asks best (lowest) first; each level (price, amount)."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class VenueTrade:
    id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    ts_ms: int


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue sees it; `status` uses orders.models.OrderStatus values."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    price: Decimal | None
    amount: Decimal
    filled: Decimal
    cost: Decimal
    fee: Decimal
    fee_asset: str
    status: str
    ts_ms: int
    trades: tuple[VenueTrade, ...] = field(default=())

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None


@dataclass(frozen=True, slots=True)
class BalanceEntry:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked
