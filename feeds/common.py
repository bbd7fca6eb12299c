"""What every feed shares: its statistics, the reconnect backoff, the book depth it stores, and how it
reports a Redis outage (one line as it goes, one as it comes back)."""

import logging
import random
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BOOK_DEPTH = 20  # levels a side written to the snapshot
RECONNECT_MIN_S, RECONNECT_MAX_S = 0.25, 30.0


def backoff_s(attempt: int, *, rng: random.Random = random._inst) -> float:
    """Full jitter: a random wait up to min(max, min * 2^attempt)."""
    return rng.uniform(0, min(RECONNECT_MAX_S, RECONNECT_MIN_S * 2**attempt)) + RECONNECT_MIN_S / 2


@dataclass
class FeedStats:
    messages: int = 0
    ticker_updates: int = 0
    book_updates: int = 0
    trades: int = 0  # public trades passed on (candles)
    writes: int = 0
    resyncs: int = 0
    snapshots: int = 0
    reconnects: int = 0
    planned_reconnects: int = 0
    rest_fallbacks: int = 0
    connected: int = 0
    streams: int = 0
    last_message_ms: int = 0
    books_synced: int = 0
    latencies_ms: list = field(default_factory=list)  # message received -> written, a sample

    def as_dict(self) -> dict:
        age = int(time.time() * 1000) - self.last_message_ms if self.last_message_ms else None
        return {"messages": self.messages, "ticker_updates": self.ticker_updates, "book_updates": self.book_updates,
                "trades": self.trades,
                "writes": self.writes, "resyncs": self.resyncs, "snapshots": self.snapshots,
                "reconnects": self.reconnects, "planned_reconnects": self.planned_reconnects,
                "rest_fallbacks": self.rest_fallbacks, "connected": self.connected, "streams": self.streams,
                "books_synced": self.books_synced, "last_message_age_ms": age}  # fmt: skip


class RedisWatch:
    """A feed's Redis outages, logged once each way."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down_since: float | None = None

    def down(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("%s: redis unavailable, holding the latest values: %s", self.name, exc)

    def back(self) -> None:
        if self.down_since is not None:
            log.warning("%s: redis back after %.1f s; resuming", self.name, time.monotonic() - self.down_since)
            self.down_since = None
