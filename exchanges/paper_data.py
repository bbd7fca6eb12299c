"""Where the paper venue reads its market: the Redis snapshot (a feed or the simulator writes it), or fixed
tickers and books (tests, benchmarks, offline runs)."""

from decimal import Decimal
from typing import Protocol

from django.conf import settings

from .depth_profile import DepthProfile, shape_book
from .marketdata import MarketDataSnapshot
from .types import OrderBook, Ticker


class MarketDataSource(Protocol):
    def tickers(self, symbols: list[str] | None = None) -> dict[str, Ticker]: ...
    def book(self, symbol: str, depth: int) -> OrderBook | None: ...
    def books(self, symbols: list[str], depth: int) -> dict[str, OrderBook | None]: ...


class SnapshotSource:
    """Prices from the Redis snapshot; books from it, or shaped from the ticker."""

    def __init__(self, venue: str, *, price_steps: dict[str, Decimal], profile: DepthProfile) -> None:
        self.snapshot = MarketDataSnapshot(venue)
        self.price_steps = price_steps
        self.profile = profile

    def tickers(self, symbols: list[str] | None = None) -> dict[str, Ticker]:
        return self.snapshot.tickers(symbols)

    def book(self, symbol: str, depth: int) -> OrderBook | None:
        return self.books([symbol], depth)[symbol]

    def books(self, symbols: list[str], depth: int) -> dict[str, OrderBook | None]:
        """Each symbol's stored book, unless its ticker is newer: then the book is shaped from the ticker.
        All of them read in one round trip.

        A writer keeps books only for some markets at a time (the simulator: those asked for and
        those mispriced); a book it stopped updating must not price orders once the market moved on.
        """
        stored = self.snapshot.books_and_tickers(symbols, max_age_ms=settings.PAPER_BOOK_MAX_AGE_MS)
        return {symbol: self._current(symbol, book, ticker, depth) for symbol, (book, ticker) in stored.items()}

    def _current(self, symbol: str, book: OrderBook | None, ticker: Ticker | None, depth: int) -> OrderBook | None:
        if book is not None and (ticker is None or book.ts_ms >= ticker.ts_ms):
            return OrderBook(symbol, book.bids[:depth], book.asks[:depth], book.ts_ms)
        if ticker is None or symbol not in self.price_steps:
            return None
        return shape_book(ticker, self.profile, price_step=self.price_steps[symbol], depth=depth)


class StaticSource:
    """Fixed tickers and books (tests, benchmarks, offline runs)."""

    def __init__(self, tickers: dict[str, Ticker] | None = None, books: dict[str, OrderBook] | None = None) -> None:
        self._tickers = dict(tickers or {})
        self._books = dict(books or {})

    def set_book(self, book: OrderBook) -> None:
        self._books[book.symbol] = book
        if book.bids and book.asks:
            self._tickers[book.symbol] = Ticker(
                book.symbol, book.bids[0][0], book.bids[0][1], book.asks[0][0], book.asks[0][1], book.ts_ms
            )

    def tickers(self, symbols: list[str] | None = None) -> dict[str, Ticker]:
        if symbols is None:
            return dict(self._tickers)
        return {s: self._tickers[s] for s in symbols if s in self._tickers}

    def book(self, symbol: str, depth: int) -> OrderBook | None:
        book = self._books.get(symbol)
        return OrderBook(symbol, book.bids[:depth], book.asks[:depth], book.ts_ms) if book else None

    def books(self, symbols: list[str], depth: int) -> dict[str, OrderBook | None]:
        return {symbol: self.book(symbol, depth) for symbol in symbols}
