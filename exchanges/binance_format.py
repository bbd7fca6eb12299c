"""Binance REST and websocket payloads to our values (pure; used by the paper venue and tests).

Reads `/api/v3/exchangeInfo`, `/api/v3/ticker/24hr`, `/api/v3/depth` and the
depth recordings (REST snapshot plus `depth@100ms` diffs, synced by Binance's
`U`/`u` sequence rules).
"""

import gzip
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from .local_book import DiffEvent, LocalBook, as_order_book
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


def read_recording(path: Path) -> Iterator[tuple[int, dict]]:
    """(nanosecond timestamp, message) for every line of a depth recording."""
    with gzip.open(path, "rt") as fh:
        for line in fh:
            ts, _, body = line.partition(" ")
            if body.strip():
                yield int(ts), json.loads(body)


def recorded_trades(path: Path) -> Iterator[tuple[str, Decimal, Decimal, int]]:
    """(symbol, price, size, trade time in ms) of every `<symbol>@trade` message of a recording, in order."""
    for _, message in read_recording(path):
        data = message.get("data", {})
        if data.get("e") == "trade":
            yield data["s"], Decimal(data["p"]), Decimal(data["q"]), int(data["T"])


def replay_recording(path: Path, depth: int | None = None) -> Iterator[tuple[int, OrderBook]]:
    """(ns timestamp, the book's top `depth` levels, all if None) after each applied diff of a recording,
    kept by the feeds' local book
    (exchanges/local_book.py): the diffs recorded before the REST snapshot are buffered and those it already
    holds dropped, as Binance's book-sync guide says."""
    symbol = path.name.split("_", 1)[0].upper()
    book = LocalBook(symbol)
    snapshot = None
    for ts, message in read_recording(path):
        if "lastUpdateId" in message:
            snapshot = message
            if book.first_buffered is None:
                continue
            before = book.update_id
            if book.on_snapshot(int(message["lastUpdateId"]), message["bids"], message["asks"]).synced:
                book.event_ms = ts // 1_000_000
                if book.update_id != before and book.applied:
                    yield ts, as_order_book(book, depth)
            continue
        data = message.get("data", {})
        if data.get("e") != "depthUpdate":
            continue
        applied = book.applied
        state = book.on_event(DiffEvent(int(data["U"]), int(data["u"]), data["b"], data["a"]))
        if state.needs_snapshot and snapshot is not None and book.first_buffered is not None:
            state = book.on_snapshot(int(snapshot["lastUpdateId"]), snapshot["bids"], snapshot["asks"])
        if state.synced and book.applied > applied:
            book.event_ms = ts // 1_000_000
            yield ts, as_order_book(book, depth)


def first_book(path: Path) -> OrderBook:
    """The REST depth snapshot recorded at the start of a recording."""
    symbol = path.name.split("_", 1)[0].upper()
    for ts, message in read_recording(path):
        if "lastUpdateId" in message:
            return parse_depth(symbol, message, ts_ms=ts // 1_000_000)
    raise ValueError(f"{path} holds no depth snapshot")
