"""Any other ccxt exchange's market data: ccxt's own websocket layer (ccxt.pro: watch_bids_asks, else watch_tickers,
and watch_order_book, which keeps its own local book by the exchange's rules) into the same snapshot; where an
exchange has no websocket for it, a REST poller (one fetch_bids_asks / fetch_tickers call per interval, within
ccxt's rate limit). A watcher that fails reconnects with backoff and jitter, and REST keeps the tickers fresh
meanwhile; a book whose watcher fails is dropped from the snapshot until it is back.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

from core.resilience import REDIS_OUTAGES
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import Exchange

from .common import BOOK_DEPTH, FeedStats, RedisWatch, backoff_s
from .selection import rest_client

log = logging.getLogger(__name__)


class CcxtFeed:
    def __init__(self, account: Exchange, *, snapshot: MarketDataSnapshot, tickers: Iterable[str],
                 books: Callable[[], set[str]], on_stats: Callable[[FeedStats], None] | None = None, client=None,
                 poll_s: float = 1.0, trades=None) -> None:  # fmt: skip
        self.account = account
        self.snapshot = snapshot
        self.ticker_symbols = sorted(set(tickers))
        self._wanted = books
        self.books: dict[str, asyncio.Task] = {}
        self.on_stats = on_stats
        self.rest = client or rest_client(account, streaming=True)
        self.ws_base = "ccxt.pro"
        self.poll_s = poll_s
        self.stats = FeedStats()
        self._stop = asyncio.Event()
        self._watching_tickers = False
        self._redis = RedisWatch(f"{account.name} feed")
        self.trades = trades  # where public trades go (an exchanges.trades.TradeThread: candles), for its symbols
        self.trade_streams: dict[str, asyncio.Task] = {}

    def stop(self) -> None:
        self._stop.set()

    def _unified(self) -> dict[str, str]:
        """Our market ids (BTCUSDT) -> ccxt's unified symbols (BTC/USDT)."""
        return {m["id"]: symbol for symbol, m in self.rest.markets.items() if m.get("spot")}

    async def run(self, *, seconds: float | None = None) -> FeedStats:
        await self.rest.load_markets()
        unified = self._unified()
        self._ids = {v: k for k, v in unified.items()}
        symbols = [unified[s] for s in self.ticker_symbols if s in unified]
        tasks = [asyncio.create_task(self._tickers(symbols)), asyncio.create_task(self._poll(symbols)),
                 asyncio.create_task(self._follow_books(unified)), asyncio.create_task(self._publish())]  # fmt: skip
        trading = self.trades is not None and bool(self.rest.has.get("watchTrades"))  # none without a stream
        if trading:
            await asyncio.to_thread(self.trades.start)
            tasks.append(asyncio.create_task(self._follow_trades(unified)))
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass
        finally:
            self._stop.set()
            streams = [*tasks, *self.books.values(), *self.trade_streams.values()]
            for task in streams:
                task.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
            if trading:
                await asyncio.to_thread(self.trades.stop)  # what arrived is written
        return self.stats

    def _write_tickers(self, tickers: dict) -> None:
        now = int(time.time() * 1000)
        rows = {}
        for symbol, t in tickers.items():
            if t.get("bid") is None or t.get("ask") is None or symbol not in self._ids:
                continue
            rows[self._ids[symbol]] = (repr(t["bid"]), repr(t.get("bidVolume") or 0), repr(t["ask"]),
                                       repr(t.get("askVolume") or 0), now)  # fmt: skip
        if rows and self._write(rows, {}):
            self.stats.ticker_updates += len(rows)
            self.stats.writes += 1
            self.stats.last_message_ms = now

    async def _tickers(self, symbols: list[str]) -> None:
        """Watch the tickers over the exchange's websocket (bids/asks where it has them)."""
        has = self.rest.has
        watch = self.rest.watch_bids_asks if has.get("watchBidsAsks") else (
            self.rest.watch_tickers if has.get("watchTickers") else None)  # fmt: skip
        if watch is None or not symbols:
            return
        attempt = 0
        while not self._stop.is_set():
            try:
                tickers = await watch(symbols)
                self._watching_tickers, attempt = True, 0
                self.stats.connected = 1
                self.stats.messages += 1
                self._write_tickers(tickers)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._watching_tickers, self.stats.connected = False, 0
                self.stats.reconnects += 1
                log.warning("%s feed: tickers stream failed: %s", self.account.name, exc)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1

    async def _poll(self, symbols: list[str]) -> None:
        """REST tickers while the stream is down (or where there is none), one call per interval."""
        has = self.rest.has
        fetch = self.rest.fetch_bids_asks if has.get("fetchBidsAsks") else self.rest.fetch_tickers
        while not self._stop.is_set():
            await asyncio.sleep(self.poll_s)
            if self._watching_tickers or not symbols:
                continue
            try:
                self._write_tickers(await fetch(symbols))
                self.stats.rest_fallbacks += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s feed: REST tickers failed: %s", self.account.name, exc)

    def _write(self, tickers: dict, books: dict) -> bool:
        """Into the snapshot; Redis away: one line when it goes, one when it is back, the values dropped (the
        next ones replace them)."""
        try:
            self.snapshot.put_raw(tickers, books)
        except REDIS_OUTAGES as exc:
            self._redis.down(exc)
            return False
        self._redis.back()
        return True

    async def _follow_books(self, unified: dict[str, str], every_s: float = 5.0) -> None:
        while not self._stop.is_set():
            try:
                wanted = {s for s in await asyncio.to_thread(self._wanted) if s in unified}
            except Exception as exc:  # the database or Redis away: the books stay as they are
                log.warning("%s feed: wanted books unavailable: %s", self.account.name, exc)
                await asyncio.sleep(every_s)
                continue
            for symbol in wanted - set(self.books):
                self.books[symbol] = asyncio.create_task(self._book(symbol, unified[symbol]))
            for symbol in set(self.books) - wanted:
                self.books.pop(symbol).cancel()
                self.snapshot.drop_book(symbol)
            await asyncio.sleep(every_s)

    async def _book(self, symbol: str, unified: str) -> None:
        watching = self.rest.has.get("watchOrderBook")
        attempt = 0
        while not self._stop.is_set():
            try:
                if watching:
                    book = await self.rest.watch_order_book(unified, BOOK_DEPTH)
                else:
                    book = await self.rest.fetch_order_book(unified, BOOK_DEPTH)
                    await asyncio.sleep(self.poll_s)
                attempt = 0
                bids = [[repr(p), repr(q)] for p, q, *_ in book["bids"][:BOOK_DEPTH]]
                asks = [[repr(p), repr(q)] for p, q, *_ in book["asks"][:BOOK_DEPTH]]
                if self._write({}, {symbol: (bids, asks, int(time.time() * 1000), book.get("nonce"))}):
                    self.stats.book_updates += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                with contextlib.suppress(*REDIS_OUTAGES):
                    self.snapshot.drop_book(symbol)
                self.stats.resyncs += 1
                log.warning("%s feed: book %s failed: %s", self.account.name, symbol, exc)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1

    async def _follow_trades(self, unified: dict[str, str], every_s: float = 5.0) -> None:
        """A trade stream for each market the candles want, started and stopped as that changes."""
        while not self._stop.is_set():
            wanted = {s for s in self.trades.symbols() if s in unified}
            for symbol in wanted - set(self.trade_streams):
                self.trade_streams[symbol] = asyncio.create_task(self._trade_stream(symbol, unified[symbol]))
            for symbol in set(self.trade_streams) - wanted:
                self.trade_streams.pop(symbol).cancel()
            await asyncio.sleep(every_s)

    async def _trade_stream(self, symbol: str, unified: str) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                for trade in await self.rest.watch_trades(unified):  # the trades since the last call
                    self.trades.put(symbol, repr(trade["price"]), repr(trade["amount"]), trade["timestamp"])
                    self.stats.trades += 1
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s feed: trades of %s failed: %s", self.account.name, symbol, exc)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1

    async def _publish(self, every_s: float = 1.0) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(every_s)
            self.stats.books_synced = sum(1 for t in self.books.values() if not t.done())
            if self.on_stats is not None:
                with contextlib.suppress(*REDIS_OUTAGES):
                    self.on_stats(self.stats)
