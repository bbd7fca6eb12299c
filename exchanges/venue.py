"""The Venue interface: everything the platform may ask of an exchange."""

from abc import ABC, abstractmethod
from decimal import Decimal

from core.limiter import DEFAULT_WEIGHTS

from .errors import NotSupported
from .types import BalanceEntry, Kline, MarketInfo, OrderBook, Resolution, Ticker, VenueOrder, VenueTrade

ORDER_TYPES = ("market", "limit", "ioc")


class Venue(ABC):
    """One venue account. Every method may raise an exchanges.errors.VenueError."""

    name: str

    def request_weight(self, endpoint: str) -> int:
        """What one call to `endpoint` costs against the rate budget (Binance's weights by default)."""
        return DEFAULT_WEIGHTS.get(endpoint, 1)

    def budget_left(self) -> float:
        """Share of the shared rate budget left now (1.0 full); callers stretch their delays as it runs low."""
        return 1.0

    @abstractmethod
    def load_markets(self) -> list[MarketInfo]: ...

    @abstractmethod
    def fetch_tickers(self) -> dict[str, Ticker]:
        """Every symbol's best bid and ask, in one call."""

    @abstractmethod
    def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    def feed_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        """The book when this process can read it without asking the venue (a fresh book the market-data
        feed keeps), else None. No request goes out, so it costs no request weight."""
        return None

    def feed_books(self, symbols: list[str], depth: int = 20) -> dict[str, OrderBook]:
        """`feed_book` for several symbols (read together where the venue can): those it has."""
        return {s: book for s in symbols if (book := self.feed_book(s, depth)) is not None}

    @abstractmethod
    def create_order(
        self,
        *,
        symbol: str,
        side: str,
        type: str,
        amount: Decimal,
        price: Decimal | None = None,
        client_order_id: str,
        prepared: dict | None = None,
    ) -> VenueOrder:
        """Place an order. `prepared` is what `prepare_order` returned for it, recorded with our order row."""

    def prepare_order(
        self, *, symbol: str, side: str, type: str, amount: Decimal, price: Decimal | None, client_order_id: str
    ) -> dict | None:
        """For a venue that keeps no client order id (Polymarket): the order as it will be sent, signed, with its
        venue id (`{"id": ..., ...}`), so the caller records it before sending and a lost answer is looked up by that
        id, never sent again. None: the venue keys orders by our client order id."""
        return None

    @abstractmethod
    def fetch_order(
        self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> VenueOrder:
        """By venue id, or by our client order id; raises OrderNotFound."""

    @abstractmethod
    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    @abstractmethod
    def cancel_order(self, *, symbol: str, order_id: str | None = None, client_order_id: str | None = None):
        """Returns the order as it stands after the cancel."""

    @abstractmethod
    def fetch_balance(self) -> dict[str, BalanceEntry]: ...

    @abstractmethod
    def fetch_my_trades(self, *, symbol: str | None = None, since_ms: int | None = None) -> list[VenueTrade]: ...

    def fetch_klines(self, symbol: str, *, timeframe: str = "1m", since_ms: int, limit: int = 1000) -> list[Kline]:
        """Closed and current candles from `since_ms`, oldest first, at most `limit` (the venue's REST history).
        Raises NotSupported where the venue keeps none."""
        raise NotSupported(f"{self.name}: this venue keeps no candle history to fetch.")

    # --- prediction markets ---------------------------------------------------------------
    def fetch_resolution(self, symbol: str) -> Resolution | None:
        """The market's outcome once it has resolved, else None (spot markets never resolve)."""
        return None

    def redeem(self, symbol: str) -> Decimal:
        """Turn every token of the resolved market `symbol` this account holds into collateral at its payout; what
        was paid (0 when nothing is held, so calling again is harmless). Raises NotSupported where the account cannot
        redeem through this venue (the tokens stay redeemable; the payout is claimed elsewhere)."""
        raise NotSupported(f"{self.name}: redeeming is not something this venue does.")
