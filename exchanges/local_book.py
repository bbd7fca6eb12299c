"""One market's local order book, kept from a REST depth snapshot and the diff-depth stream (pure, no I/O): the
feeds keep live books with it, the simulator replays recordings with it.

Binance spot's rules ("How to manage a local order book correctly", Binance spot API docs, web-socket-streams.md,
as changed in 2024-12; developers.binance.com/docs/binance-spot-api-docs/web-socket-streams):

1. buffer the stream's events and note the first event's `U`;
2. fetch a snapshot (`GET /api/v3/depth`); if its `lastUpdateId` is below that first `U`, fetch again;
3. discard buffered events whose `u` <= `lastUpdateId`; the book is the snapshot, its update id `lastUpdateId`;
4. apply the buffered events, then each new one: an event whose `u` <= the book's id is ignored; one whose
   `U` > the book's id + 1 means updates were missed: the book is discarded and rebuilt from a new snapshot;
   otherwise each level's quantity is set (0 removes it; removing an absent level is normal) and the book's id
   becomes `u`.

While a book is being (re)built it is not served: `top()` answers None.
"""

import heapq
from dataclasses import dataclass
from decimal import Decimal

from .types import OrderBook


@dataclass(slots=True)
class DiffEvent:
    first: int  # U
    last: int  # u
    bids: list  # [[price, quantity], ...] as the venue's strings
    asks: list


@dataclass(slots=True)
class BookState:
    """What the feed must do next for this book."""

    synced: bool
    needs_snapshot: bool


class LocalBook:
    """Levels keyed by the venue's price strings (exact), quantities as its strings; sorted only when read."""

    def __init__(self, symbol: str, *, max_buffer: int = 10_000) -> None:
        self.symbol = symbol
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.update_id: int | None = None  # None: not synced
        self.buffer: list[DiffEvent] = []
        self.first_buffered: int | None = None
        self.max_buffer = max_buffer
        self.resyncs = 0
        self.applied = 0
        self.event_ms = 0  # the venue's time of the last event applied (the stored book's age)

    @property
    def synced(self) -> bool:
        return self.update_id is not None

    def on_event(self, event: DiffEvent) -> BookState:
        """One diff from the stream. Returns whether the book is synced and whether a snapshot is wanted."""
        if self.update_id is None:
            if self.first_buffered is None:
                self.first_buffered = event.first
            self.buffer.append(event)
            if len(self.buffer) > self.max_buffer:  # no snapshot came: keep the newest, ask again
                self.buffer = self.buffer[-self.max_buffer // 2 :]
                self.first_buffered = self.buffer[0].first
            return BookState(False, True)
        if event.last <= self.update_id:
            return BookState(True, False)
        if event.first > self.update_id + 1:
            self.discard()
            self.resyncs += 1
            self.first_buffered = event.first
            self.buffer.append(event)
            return BookState(False, True)
        self._apply(event)
        return BookState(True, False)

    def on_snapshot(self, last_update_id: int, bids: list, asks: list) -> BookState:
        """The REST snapshot. Too old for what was buffered (or nothing buffered yet): another is wanted."""
        if self.update_id is not None:
            return BookState(True, False)
        if self.first_buffered is None or last_update_id < self.first_buffered:
            return BookState(False, True)
        self.bids = {p: q for p, q in bids if not _zero(q)}
        self.asks = {p: q for p, q in asks if not _zero(q)}
        self.update_id = last_update_id
        pending, self.buffer, self.first_buffered = self.buffer, [], None
        for event in pending:
            if event.last <= self.update_id:
                continue
            if event.first > self.update_id + 1:  # the snapshot is ahead of a hole in the buffer
                self.discard()
                self.resyncs += 1
                return BookState(False, True)
            self._apply(event)
        return BookState(True, False)

    def _apply(self, event: DiffEvent) -> None:
        for side, levels in ((self.bids, event.bids), (self.asks, event.asks)):
            for price, quantity in levels:
                if _zero(quantity):
                    side.pop(price, None)
                else:
                    side[price] = quantity
        self.update_id = event.last
        self.applied += 1

    def discard(self) -> None:
        """Forget the book (a gap, a lost connection): nothing is served until a new snapshot syncs it."""
        self.bids, self.asks, self.update_id = {}, {}, None
        self.buffer, self.first_buffered = [], None

    def top(self, depth: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]] | None:
        """The best `depth` levels a side (bids highest first, asks lowest first), or None while not synced."""
        if self.update_id is None:
            return None
        bids = heapq.nlargest(depth, self.bids.items(), key=lambda level: float(level[0]))
        asks = heapq.nsmallest(depth, self.asks.items(), key=lambda level: float(level[0]))
        return bids, asks


def as_order_book(book: LocalBook, depth: int | None = None) -> OrderBook | None:
    """The book's top `depth` levels a side (all of them if None) as an OrderBook, stamped `event_ms`."""
    top = book.top(depth if depth is not None else max(len(book.bids), len(book.asks), 1))
    if top is None:
        return None
    bids, asks = top
    return OrderBook(book.symbol, tuple((Decimal(p), Decimal(q)) for p, q in bids),
                     tuple((Decimal(p), Decimal(q)) for p, q in asks), book.event_ms)  # fmt: skip


def _zero(quantity: str) -> bool:
    return not float(quantity)
