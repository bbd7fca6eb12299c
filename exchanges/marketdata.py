"""The market-data snapshot in Redis: every ticker and top-N books per venue, with an age gate.

Writers: the simulator (paper venue) or a market-data feed. Readers: the
paper venue, the scanner, positions. Hits, misses and ages are counted for
/api/cache-stats/.
"""

import json
import time
from collections import Counter
from decimal import Decimal

import redis

from core.redis_client import counters_add, counters_read, redis_client

from .rules import fmt
from .types import OrderBook, Quote, Ticker

STATS_KEY = "md:stats"
WANTED_FOR_S = 600.0  # a book asked for is kept this long after the last ask


def now_ms() -> int:
    return int(time.time() * 1000)


class MarketDataSnapshot:
    def __init__(self, venue: str, client: redis.Redis | None = None) -> None:
        self.venue = venue
        self.r = client or redis_client()
        self._tickers_key = f"md:{venue}:tickers"
        self._wanted_key = f"md:{venue}:wanted_at"  # symbol -> when it was last asked for (a sorted set)
        self._updates_channel = f"md:{venue}:updated"

    def _book_key(self, symbol: str) -> str:
        return f"md:{self.venue}:book:{symbol}"

    # --- writing -------------------------------------------------------------
    def put_tickers(self, tickers: list[Ticker]) -> None:
        """Store tickers and tell waiting readers (`UpdateWaiter`), in one round trip.

        A writer that also publishes books writes them first, so a reader woken here finds them.
        """
        if not tickers:
            return
        mapping = {
            t.symbol: f"{fmt(t.bid)}|{fmt(t.bid_size)}|{fmt(t.ask)}|{fmt(t.ask_size)}|{t.ts_ms}" for t in tickers
        }
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(self._tickers_key, mapping=mapping)
        pipe.publish(self._updates_channel, len(mapping))
        pipe.execute()

    def waiter(self) -> "UpdateWaiter":
        """Subscribe to ticker updates (before the first read, so none falls in between)."""
        return UpdateWaiter(self.r, self._updates_channel)

    def put_books(self, books: list[OrderBook], ttl_s: int = 60) -> None:
        pipe = self.r.pipeline(transaction=False)
        for book in books:
            body = json.dumps(
                {"b": [[fmt(p), fmt(q)] for p, q in book.bids], "a": [[fmt(p), fmt(q)] for p, q in book.asks],
                 "ts": book.ts_ms}
            )  # fmt: skip
            pipe.set(self._book_key(book.symbol), body, ex=ttl_s)
        pipe.execute()

    def publish(self, tickers: list[Ticker], books: list[OrderBook] = ()) -> None:
        """A writer's tick: the books first, then the tickers, whose write wakes the readers (who then find them)."""
        if books:
            self.put_books(list(books))
        self.put_tickers(tickers)

    def publish_books(self, books: list[OrderBook], ts_ms: int) -> None:
        """Books stamped `ts_ms`, with the tickers their tops make (a replay, a fixed market)."""
        stamped = [OrderBook(b.symbol, b.bids, b.asks, ts_ms) for b in books]
        self.publish([Ticker(b.symbol, *b.bids[0], *b.asks[0], ts_ms) for b in stamped if b.bids and b.asks], stamped)

    def put_raw(self, tickers: dict[str, tuple[str, str, str, str, int]], books: dict[str, tuple], *,
                ttl_s: int = 60) -> None:  # fmt: skip
        """A feed's batch, as the venue's decimal strings (no Decimal work on the hot path): books
        {symbol: (bids, asks, ts_ms, update_id)} then tickers {symbol: (bid, bid_size, ask, ask_size, ts_ms)}, in
        one round trip. Readers parse them as they parse the simulator's (`Decimal(text)`); `u` (the venue's
        update id of the book) lets a check compare the stored book with the venue's."""
        if not tickers and not books:
            return
        pipe = self.r.pipeline(transaction=False)
        for symbol, (bids, asks, ts, update_id) in books.items():
            pipe.set(self._book_key(symbol), json.dumps({"b": bids, "a": asks, "ts": ts, "u": update_id}), ex=ttl_s)
        if tickers:
            pipe.hset(self._tickers_key, mapping={s: "|".join(map(str, t)) for s, t in tickers.items()})
            pipe.publish(self._updates_channel, len(tickers))
        pipe.execute()

    def drop_book(self, symbol: str) -> None:
        """A book that can no longer be kept (its stream lost sync): readers find none rather than an old one."""
        self.r.delete(self._book_key(symbol))

    def want_books(self, symbols: list[str]) -> None:
        """Ask the writer to keep top-N books for these symbols (for WANTED_FOR_S from now)."""
        if symbols:
            self.r.zadd(self._wanted_key, dict.fromkeys(symbols, time.time()))

    def wanted_books(self) -> set[str]:
        """The symbols asked for within WANTED_FOR_S (older asks are forgotten)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zremrangebyscore(self._wanted_key, "-inf", time.time() - WANTED_FOR_S)
        pipe.zrange(self._wanted_key, 0, -1)
        return {s.decode() for s in pipe.execute()[1]}

    # --- reading -------------------------------------------------------------
    @staticmethod
    def _parse_ticker(symbol: str, raw: bytes) -> Ticker:
        bid, bid_size, ask, ask_size, ts = raw.decode().split("|")
        return Ticker(symbol, Decimal(bid), Decimal(bid_size), Decimal(ask), Decimal(ask_size), int(ts))

    def _count(self, *, hits: int = 0, misses: int = 0, stale: int = 0, age_ms: int = 0) -> None:
        counts = {"hits": hits, "age_ms_total": age_ms if hits else 0, "misses": misses, "stale": stale}
        counters_add(STATS_KEY, counts, client=self.r)

    def tickers(self, symbols: list[str] | None = None) -> dict[str, Ticker]:
        """Every ticker (one HGETALL), or those of `symbols` (one HMGET)."""
        if symbols is None:
            raw = {k.decode(): v for k, v in self.r.hgetall(self._tickers_key).items()}
        else:
            raw = {s: v for s, v in zip(symbols, self.r.hmget(self._tickers_key, symbols), strict=True) if v}
        result = {s: self._parse_ticker(s, v) for s, v in raw.items()}
        now = now_ms()
        missing = (len(symbols) - len(result)) if symbols is not None else (0 if result else 1)
        self._count(hits=len(result), misses=missing, age_ms=sum(max(0, now - t.ts_ms) for t in result.values()))
        return result

    def changed_quotes(self, seen: dict[str, bytes]) -> list[Quote]:
        """The touch prices of the tickers whose stored value differs from `seen` (updated in place).

        For a reader that keeps every ticker in memory and scores with floats (the scanner): one HGETALL a pass,
        and only the markets that moved are parsed.
        """
        changed = []
        for key, raw in self.r.hgetall(self._tickers_key).items():
            if seen.get(symbol := key.decode()) != raw:
                seen[symbol] = raw
                bid, _, ask, _, ts = raw.split(b"|")
                changed.append(Quote(symbol, float(bid), float(ask), int(ts)))
        if changed:
            now = now_ms()
            self._count(hits=len(changed), age_ms=sum(max(0, now - q.ts_ms) for q in changed))
        return changed

    def ticker(self, symbol: str) -> Ticker | None:
        return self.tickers([symbol]).get(symbol)

    def book(self, symbol: str, *, max_age_ms: int | None = None) -> OrderBook | None:
        tally = Counter()
        book = self._parse_book(symbol, self.r.get(self._book_key(symbol)), max_age_ms, tally)
        self._count(**tally)
        return book

    def books_and_tickers(
        self, symbols: list[str], *, max_age_ms: int | None = None
    ) -> dict[str, tuple[OrderBook | None, Ticker | None]]:
        """The stored book and the ticker of each of `symbols`, all read in one round trip."""
        if not symbols:
            return {}
        pipe = self.r.pipeline(transaction=False)
        pipe.mget([self._book_key(s) for s in symbols])
        pipe.hmget(self._tickers_key, symbols)
        raw_books, raw_tickers = pipe.execute()
        tally = Counter()
        result = {
            s: (self._parse_book(s, book, max_age_ms, tally), self._parse_ticker(s, ticker) if ticker else None)
            for s, book, ticker in zip(symbols, raw_books, raw_tickers, strict=True)
        }
        self._count(**tally)
        return result

    @staticmethod
    def _parse_book(symbol: str, raw: bytes | None, max_age_ms: int | None, tally: Counter) -> OrderBook | None:
        """The stored book (None when absent or older than `max_age_ms`), its outcome added to `tally`."""
        if raw is None:
            tally["misses"] += 1
            return None
        body = json.loads(raw)
        book = OrderBook(
            symbol=symbol,
            bids=tuple((Decimal(p), Decimal(q)) for p, q in body["b"]),
            asks=tuple((Decimal(p), Decimal(q)) for p, q in body["a"]),
            ts_ms=int(body["ts"]),
        )
        age = max(0, now_ms() - book.ts_ms)
        if max_age_ms is not None and age > max_age_ms:
            tally["stale"] += 1
            return None
        tally["hits"] += 1
        tally["age_ms"] += age
        return book

    def is_fresh(self, symbol: str, max_age_ms: int) -> bool:
        raw = self.r.hget(self._tickers_key, symbol)
        if raw is None:
            return False
        return now_ms() - self._parse_ticker(symbol, raw).ts_ms <= max_age_ms

    def clear(self) -> None:
        keys = list(self.r.scan_iter(f"md:{self.venue}:*"))
        if keys:
            self.r.delete(*keys)


class UpdateWaiter:
    """Blocks until the snapshot's tickers change, or a timeout: readers react to a tick, not a timer.

    Notices are fire-and-forget (Redis pub/sub), so a reader still re-reads at its
    timeout; a burst of notices wakes it once.
    """

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)

    def wait(self, timeout: float) -> bool:
        """True when an update arrived within `timeout` seconds (every pending notice is consumed)."""
        deadline = time.monotonic() + timeout
        woken = False
        while True:
            left = 0.0 if woken else max(0.0, deadline - time.monotonic())
            try:
                message = self.pubsub.get_message(timeout=left)
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(left)  # Redis is away: fall back to the timer
                return False
            if message is None:
                if woken or time.monotonic() >= deadline:
                    return woken
                continue
            woken = True

    def close(self) -> None:
        self.pubsub.close()


def snapshot_stats(client: redis.Redis | None = None) -> dict:
    raw = counters_read(STATS_KEY, client=client)
    hits, misses, stale = raw["hits"], raw["misses"], raw["stale"]
    lookups = hits + misses + stale
    return {
        "hits": hits,
        "misses": misses,
        "stale_refused": stale,
        "hit_rate": round(hits / lookups, 4) if lookups else None,
        "mean_age_ms": round(raw["age_ms_total"] / hits, 1) if hits else None,
    }
