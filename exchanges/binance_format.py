"""Binance REST and websocket payloads to our values (pure; used by the paper venue and tests).

Reads `/api/v3/exchangeInfo`, `/api/v3/ticker/24hr`, `/api/v3/depth` and the
depth recordings (REST snapshot plus `depth@100ms` diffs, synced by Binance's
`U`/`u` sequence rules).
"""

import gzip
import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .types import MarketInfo, OrderBook, Ticker

ZERO = Decimal(0)


def _filters(symbol: dict) -> dict[str, dict]:
    return {f["filterType"]: f for f in symbol.get("filters", [])}


def parse_exchange_info(payload: dict, *, taker_fee: Decimal = Decimal("0.001"), maker_fee=Decimal("0.001")):
    """Every spot symbol that is TRADING, as MarketInfo. BREAK and others are skipped."""
    markets: list[MarketInfo] = []
    for symbol in payload.get("symbols", []):
        if symbol.get("status") != "TRADING":
            continue
        filters = _filters(symbol)
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        # 2020 lists MIN_NOTIONAL, 2023 lists NOTIONAL: read whichever is there.
        notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL") or {}
        price_step = Decimal(price.get("tickSize", "0")) or Decimal("1e-8")
        amount_step = Decimal(lot.get("stepSize", "0")) or Decimal("1e-8")
        markets.append(
            MarketInfo(
                symbol=symbol["symbol"],
                base=symbol["baseAsset"],
                quote=symbol["quoteAsset"],
                price_step=price_step.normalize(),
                amount_step=amount_step.normalize(),
                min_amount=Decimal(lot.get("minQty", "0")).normalize(),
                min_notional=Decimal(notional.get("minNotional", "0")).normalize(),
                taker_fee=taker_fee,
                maker_fee=maker_fee,
            )
        )
    return markets


def parse_tickers(payload: list[dict], *, ts_ms: int | None = None) -> list[Ticker]:
    """`/api/v3/ticker/24hr` (or bookTicker) rows with a two-sided book."""
    tickers = []
    for row in payload:
        bid, ask = Decimal(row.get("bidPrice", "0")), Decimal(row.get("askPrice", "0"))
        if bid <= 0 or ask <= 0 or ask < bid:
            continue
        tickers.append(
            Ticker(
                symbol=row["symbol"],
                bid=bid,
                bid_size=Decimal(row.get("bidQty", "0")),
                ask=ask,
                ask_size=Decimal(row.get("askQty", "0")),
                ts_ms=int(ts_ms if ts_ms is not None else row.get("closeTime", 0)),
            )
        )
    return tickers


def _levels(rows, *, reverse: bool) -> tuple[tuple[Decimal, Decimal], ...]:
    levels = [(Decimal(p), Decimal(q)) for p, q in rows if Decimal(q) > 0]
    levels.sort(key=lambda lv: lv[0], reverse=reverse)
    return tuple(levels)


def parse_depth(symbol: str, payload: dict, *, ts_ms: int = 0) -> OrderBook:
    """`/api/v3/depth` answer."""
    return OrderBook(
        symbol=symbol,
        bids=_levels(payload.get("bids", []), reverse=True),
        asks=_levels(payload.get("asks", []), reverse=False),
        ts_ms=ts_ms,
    )


class SequenceGap(Exception):
    """A diff does not continue the book: it must be resynced from a new snapshot."""


@dataclass
class LocalBook:
    """An order book kept in sync from a snapshot and diffs, per Binance's rules."""

    symbol: str
    last_update_id: int
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    ts_ms: int = 0
    synced: bool = False

    @classmethod
    def from_snapshot(cls, symbol: str, snapshot: dict, ts_ms: int = 0) -> "LocalBook":
        book = cls(symbol=symbol, last_update_id=int(snapshot["lastUpdateId"]), ts_ms=ts_ms)
        book.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"] if Decimal(q) > 0}
        book.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"] if Decimal(q) > 0}
        return book

    def apply(self, diff: dict, ts_ms: int = 0) -> bool:
        """Apply one depthUpdate. Returns False if it is older than the book (dropped).

        The first applied diff must straddle the snapshot (U <= lastUpdateId+1 <= u);
        each later one must start right after the previous (U == last u + 1).
        """
        first, last = int(diff["U"]), int(diff["u"])
        if last <= self.last_update_id:
            return False
        if not self.synced:
            if not first <= self.last_update_id + 1 <= last:
                raise SequenceGap(f"{self.symbol}: first diff {first}-{last} does not cover {self.last_update_id + 1}")
            self.synced = True
        elif first != self.last_update_id + 1:
            raise SequenceGap(f"{self.symbol}: expected update {self.last_update_id + 1}, got {first}")
        for side, rows in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in rows:
                price, qty = Decimal(p), Decimal(q)
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = last
        self.ts_ms = ts_ms or int(diff.get("E", 0))
        return True

    def snapshot(self, depth: int | None = None) -> OrderBook:
        if depth is None:
            bids = sorted(self.bids.items(), key=lambda lv: lv[0], reverse=True)
            asks = sorted(self.asks.items(), key=lambda lv: lv[0])
        else:  # the top levels only: no need to sort a thousand
            bids = heapq.nlargest(depth, self.bids.items(), key=lambda lv: lv[0])
            asks = heapq.nsmallest(depth, self.asks.items(), key=lambda lv: lv[0])
        return OrderBook(symbol=self.symbol, bids=tuple(bids), asks=tuple(asks), ts_ms=self.ts_ms)


def read_recording(path: Path) -> Iterator[tuple[int, dict]]:
    """(nanosecond timestamp, message) for every line of a depth recording."""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            ts, _, body = line.partition(" ")
            if body.strip():
                yield int(ts), json.loads(body)


def replay_recording(path: Path) -> Iterator[tuple[int, LocalBook]]:
    """Yield (ns timestamp, book) after each applied diff of a recording.

    Diffs that arrive before the REST snapshot are buffered and applied after
    it in order, dropping those the snapshot already contains, as Binance's
    book-sync guide says.
    """
    symbol = path.name.split("_", 1)[0].upper()
    buffered: list[tuple[int, dict]] = []
    book: LocalBook | None = None
    for ts, message in read_recording(path):
        if "lastUpdateId" in message:
            book = LocalBook.from_snapshot(symbol, message, ts_ms=ts // 1_000_000)
            for bts, diff in buffered:
                if book.apply(diff, ts_ms=bts // 1_000_000):
                    yield bts, book
            buffered.clear()
            continue
        data = message.get("data", {})
        if data.get("e") != "depthUpdate":
            continue
        if book is None:
            buffered.append((ts, data))
        elif book.apply(data, ts_ms=ts // 1_000_000):
            yield ts, book


def first_book(path: Path) -> OrderBook:
    """The REST depth snapshot recorded at the start of a recording."""
    symbol = path.name.split("_", 1)[0].upper()
    for ts, message in read_recording(path):
        if "lastUpdateId" in message:
            return parse_depth(symbol, message, ts_ms=ts // 1_000_000)
    raise ValueError(f"{path} holds no depth snapshot")
