"""Binance spot stream plans: which streams each connection carries (at most 1024 a connection, Binance's limit:
developers.binance.com/docs/binance-spot-api-docs/web-socket-streams), and the handover from a connection to the
replacement opened before Binance's 24-hour cut."""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_STREAMS_PER_CONNECTION = 1024


def plan_connections(tickers: Iterable[str], books: Iterable[str], trades: Iterable[str] = ()) -> list[list[str]]:
    """Stream names spread over connections of at most MAX_STREAMS_PER_CONNECTION (books first, so a
    connection's depth streams share it with as few tickers as possible)."""
    streams = [f"{s.lower()}@depth@100ms" for s in sorted(books)] + [f"{s.lower()}@bookTicker" for s in sorted(tickers)]
    streams += [f"{s.lower()}@trade" for s in sorted(trades)]
    return [streams[i : i + MAX_STREAMS_PER_CONNECTION] for i in range(0, len(streams), MAX_STREAMS_PER_CONNECTION)]


@dataclass
class Handover:
    """Between a connection and its replacement: the replacement receives, then the old one has closed."""

    receiving: asyncio.Event = field(default_factory=asyncio.Event)
    old_closed: asyncio.Event = field(default_factory=asyncio.Event)
    first_update: dict = field(default_factory=dict)  # symbol -> `U` of the first depth event the new one holds
    since: float = 0.0

    def caught_up(self, books: dict, symbols: set[str], *, patience_s: float = 5.0) -> bool:
        """The old connection has applied everything up to where the new one starts, for every book (or the
        new one has waited `patience_s` for a quiet book's first event)."""
        if not self.receiving.is_set():
            return False
        if time.monotonic() - self.since > patience_s:
            return True
        for symbol in symbols:
            book = books.get(symbol)
            first = self.first_update.get(symbol)
            if book is not None and book.synced and (first is None or book.update_id < first - 1):
                return False
        return True
