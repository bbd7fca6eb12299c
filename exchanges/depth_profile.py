"""Book shapes learned from real recorded books, applied to any market's top of book (pure)."""

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from .binance_format import first_book
from .rules import ceil_to_step, floor_to_step
from .types import OrderBook, Ticker

log = logging.getLogger(__name__)

# Distance from the touch, in basis points, at which each synthesized level sits.
BUCKET_EDGES_BPS = (0, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 40, 50, 65, 80, 100, 125, 150, 200, 250, 300)


@dataclass(frozen=True)
class DepthProfile:
    """Per side: (offset in bps from the touch, size as a multiple of the touch size)."""

    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    source: str


def _side_profile(levels, *, touch: Decimal) -> tuple[tuple[float, float], ...]:
    top_size = float(levels[0][1])
    buckets = [0.0] * (len(BUCKET_EDGES_BPS) - 1)
    for price, size in levels[1:]:
        distance = float(abs(price - touch) / touch) * 10_000
        for i in range(len(buckets)):
            if BUCKET_EDGES_BPS[i] <= distance < BUCKET_EDGES_BPS[i + 1]:
                buckets[i] += float(size)
                break
    profile = [(0.0, 1.0)]
    for i, size in enumerate(buckets):
        if size > 0:
            mid = (BUCKET_EDGES_BPS[i] + BUCKET_EDGES_BPS[i + 1]) / 2
            profile.append((mid, size / top_size))
    return tuple(profile)


def profile_from_book(book: OrderBook, source: str) -> DepthProfile:
    return DepthProfile(
        bids=_side_profile(book.bids, touch=book.bids[0][0]),
        asks=_side_profile(book.asks, touch=book.asks[0][0]),
        source=source,
    )


FALLBACK = DepthProfile(
    bids=tuple((edge, 1.0 + i * 0.6) for i, edge in enumerate(BUCKET_EDGES_BPS)),
    asks=tuple((edge, 1.0 + i * 0.6) for i, edge in enumerate(BUCKET_EDGES_BPS)),
    source="built-in geometric profile",
)


@cache
def load_profile(path: str) -> DepthProfile:
    """The profile of a recorded book; the built-in one (logged) if the file is absent."""
    p = Path(path)
    if not p.exists():
        log.warning("depth recording not found, using the built-in book shape", extra={"path": path})
        return FALLBACK
    return profile_from_book(first_book(p), source=p.name)


def shape_book(ticker: Ticker, profile: DepthProfile, *, price_step: Decimal, depth: int = 20) -> OrderBook:
    """A book around `ticker` whose depth follows `profile`, on the market's tick grid."""

    def side(touch: Decimal, touch_size: Decimal, shape, sign: int):
        levels: list[tuple[Decimal, Decimal]] = []
        last = None
        for offset_bps, ratio in shape[:depth]:
            raw = touch * (1 + sign * Decimal(offset_bps) / Decimal(10_000))
            price = floor_to_step(raw, price_step) if sign < 0 else ceil_to_step(raw, price_step)
            if last is not None and (price >= last if sign < 0 else price <= last):
                price = last + sign * price_step
            if price <= 0:
                break
            levels.append((price, (touch_size * Decimal(ratio)).quantize(Decimal("1e-8"))))
            last = price
        return tuple(lv for lv in levels if lv[1] > 0)

    return OrderBook(
        symbol=ticker.symbol,
        bids=side(ticker.bid, ticker.bid_size, profile.bids, -1),
        asks=side(ticker.ask, ticker.ask_size, profile.asks, +1),
        ts_ms=ticker.ts_ms,
    )
