"""Binance spot market data over websockets into the Redis snapshot: `<symbol>@bookTicker` for the tickers,
`<symbol>@depth@100ms` with a local order book (feeds/book.py) for the books that are wanted.

Protocol facts, from Binance's spot docs (developers.binance.com/docs/binance-spot-api-docs/web-socket-streams):
combined streams at `/stream?streams=a/b/c`, each event wrapped as {"stream": name, "data": payload}; stream
names lower case; at most 1024 streams a connection; at most 5 incoming messages a second on a connection
(pings, pongs and SUBSCRIBE / UNSUBSCRIBE count), so we send one control message every 0.5 s; a connection is cut
at 24 hours, so each is replaced (the new one opened before the old one closes) well before; the server pings
every 20 s and cuts a connection that does not pong within a minute (aiohttp answers pings itself); a
`serverShutdown` event announces a cut. REST snapshot `GET /api/v3/depth?limit=1000` (weight 50) and, while a
connection is down, `GET /api/v3/ticker/bookTicker` (weight 4 for every symbol) through ccxt's implicit API.

A book whose stream is lost or out of sequence is dropped from the snapshot at once (readers find none, never an
old one) and rebuilt from a new snapshot; the tickers of a connection that is down are kept fresh by REST.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import aiohttp
import orjson

from core.resilience import REDIS_OUTAGES
from exchanges.local_book import DiffEvent, LocalBook
from exchanges.marketdata import MarketDataSnapshot

from .binance_streams import MAX_STREAMS_PER_CONNECTION, Handover, plan_connections
from .common import BOOK_DEPTH, FeedStats, RedisWatch, backoff_s

log = logging.getLogger(__name__)

BINANCE_WS = "wss://stream.binance.com:9443"  # spot market streams (data-stream.binance.vision: market data only)
STREAMS_IN_URL = 200  # the rest are subscribed after the connection opens
STREAMS_PER_REQUEST = 200
CONTROL_INTERVAL_S = 0.5  # under 5 incoming messages a second, with room for pongs
MAX_CONNECTION_AGE_S = 23 * 3600  # replaced before Binance's 24-hour cut
STALL_S = 30.0  # nothing at all for this long (the server pings every 20 s): the connection is dead
SNAPSHOT_LIMIT = 1000
FLUSH_EVERY_MESSAGES = 500  # a batch is written at least this often under a flood


class BinanceFeed:
    """One account's market data. `rest` is a ccxt async Binance whose URLs point where the account says."""

    def __init__(
        self,
        *,
        snapshot: MarketDataSnapshot,
        ws_base: str,
        rest,
        tickers: Iterable[str],
        books: Callable[[], set[str]] | Iterable[str] = (),
        max_connection_age_s: float = MAX_CONNECTION_AGE_S,
        stall_s: float = STALL_S,
        sample_latency_every: int = 0,
        on_stats: Callable[[FeedStats], None] | None = None,
        trades=None,
    ) -> None:
        """`trades`: where `<symbol>@trade` prints go (an exchanges.trades.TradeThread: candles), for its symbols."""
        self.snapshot = snapshot
        self.trades = trades
        self.trade_symbols: set[str] = set()
        self.ws_base = ws_base.rstrip("/")
        self.rest = rest
        self.ticker_symbols = sorted(set(tickers))
        self._wanted = books if callable(books) else (lambda fixed=frozenset(books): set(fixed))
        self.max_connection_age_s = max_connection_age_s
        self.stall_s = stall_s
        self.sample_every = sample_latency_every
        self.on_stats = on_stats
        self.stats = FeedStats()
        self.books: dict[str, LocalBook] = {}
        self._pending_tickers: dict[str, tuple] = {}
        self._pending_books: set[str] = set()
        self._received_at: list[float] = []
        self._flush_scheduled = False
        self._down: set[str] = set()  # ticker symbols whose connection is down (kept fresh by REST)
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.session: aiohttp.ClientSession | None = None
        self._redis = RedisWatch("binance feed")  # the latest values are held while Redis is away
        self._pending_drops: set[str] = set()
        self._plan: list[list[str]] = []
        self._control: list[asyncio.Queue] = []

    # --- messages ----------------------------------------------------------------------------------------
    def on_message(self, raw: str | bytes, received: float) -> None:
        """One combined-stream message (the hot path: no Decimal, strings go to Redis as they came)."""
        message = orjson.loads(raw)
        data = message.get("data")
        if data is None:
            if message.get("result", 0) is None or "id" in message:  # a SUBSCRIBE answer
                return
            data = message
        stats = self.stats
        stats.messages += 1
        event = data.get("e")
        if event is None and "u" in data and "b" in data:  # bookTicker carries no event type
            self._pending_tickers[data["s"]] = (data["b"], data["B"], data["a"], data["A"], int(time.time() * 1000))
            stats.ticker_updates += 1
        elif event == "depthUpdate":
            self._on_depth(data)
        elif event == "trade":
            if self.trades is not None:
                self.trades.put(data["s"], data["p"], data["q"], data["T"])
            stats.trades += 1
            return
        elif event == "serverShutdown":
            log.warning("binance feed: the server announced a shutdown; reconnecting")
            raise ConnectionResetError("serverShutdown")
        else:
            return
        if self.sample_every and stats.messages % self.sample_every == 0:
            self._received_at.append(received)
        if len(self._pending_tickers) + len(self._pending_books) >= FLUSH_EVERY_MESSAGES:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def _on_depth(self, data: dict) -> None:
        symbol = data["s"]
        book = self.books.get(symbol)
        if book is None:
            return  # no longer wanted
        was_synced = book.synced
        state = book.on_event(DiffEvent(data["U"], data["u"], data["b"], data["a"]))
        if state.synced:
            self._pending_books.add(symbol)
            self.stats.book_updates += 1
            book.event_ms = int(time.time() * 1000)  # when we heard it (bookTicker carries no time either)
        elif was_synced:  # a gap: the stored book goes at once, a new snapshot rebuilds it
            self.stats.resyncs += 1
            self._pending_books.discard(symbol)
            self._drop(symbol)
            log.info("binance feed: %s lost sequence at %s; resyncing", symbol, data["U"])
        if state.needs_snapshot:
            self._want_snapshot(symbol)

    def flush(self) -> None:
        """Write what arrived since the last flush: books first, then the tickers (whose write wakes readers)."""
        self._flush_scheduled = False
        if self._pending_drops:  # before anything else is written: a dropped book is never read again
            try:
                for symbol in list(self._pending_drops):
                    self.snapshot.drop_book(symbol)
                    self._pending_drops.discard(symbol)
            except REDIS_OUTAGES as exc:
                self.redis_down(exc)
                return
        if not self._pending_tickers and not self._pending_books:
            return
        books = {}
        for symbol in self._pending_books:
            book = self.books.get(symbol)
            top = book.top(BOOK_DEPTH) if book is not None else None
            if top is not None:
                books[symbol] = (top[0], top[1], book.event_ms, book.update_id)
        tickers, self._pending_tickers, self._pending_books = self._pending_tickers, {}, set()
        try:
            self.snapshot.put_raw(tickers, books)
        except REDIS_OUTAGES as exc:  # kept (newer values win) and written once Redis is back
            self._pending_tickers = tickers | self._pending_tickers
            self._pending_books |= set(books)
            self.redis_down(exc)
            return
        self._redis.back()
        self.stats.writes += 1
        if self._received_at:
            done = time.perf_counter()
            self.stats.latencies_ms.extend((done - t) * 1000 for t in self._received_at)
            self._received_at = []
        self.stats.last_message_ms = int(time.time() * 1000)

    def _drop(self, symbol: str) -> None:
        """The stored book goes (now, or first thing once Redis is back)."""
        self._pending_books.discard(symbol)
        self._pending_drops.add(symbol)
        self.flush()

    def redis_down(self, exc: BaseException) -> None:
        """Redis away: the batch is tried again every 0.5 s."""
        self._redis.down(exc)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.5, self.flush)

    # --- snapshots ---------------------------------------------------------------------------------------
    def _want_snapshot(self, symbol: str) -> None:
        task = self._snapshot_tasks.get(symbol)
        if task is None or task.done():
            self._snapshot_tasks[symbol] = asyncio.get_running_loop().create_task(self._fetch_snapshot(symbol))

    async def _fetch_snapshot(self, symbol: str) -> None:
        attempt = 0
        await asyncio.sleep(0.05)  # let the stream's first events be buffered before the snapshot is read
        while not self._stop.is_set():
            book = self.books.get(symbol)
            if book is None or book.synced:
                return
            try:
                answer = await self.rest.publicGetDepth({"symbol": symbol, "limit": SNAPSHOT_LIMIT})
            except Exception as exc:  # a venue error or a lost connection: try again with backoff
                log.warning("binance feed: depth snapshot of %s failed: %s", symbol, exc)
                await asyncio.sleep(backoff_s(attempt))
                attempt += 1
                continue
            self.stats.snapshots += 1
            state = book.on_snapshot(int(answer["lastUpdateId"]), answer["bids"], answer["asks"])
            if state.synced:
                self.stats.books_synced += 1
                book.event_ms = int(time.time() * 1000)
                self._pending_books.add(symbol)
                self.flush()
                return
            await asyncio.sleep(min(1.0, 0.1 * 2**attempt))  # older than what was buffered: again
            attempt += 1

    # --- connections -------------------------------------------------------------------------------------
    async def run(self, *, seconds: float | None = None) -> FeedStats:
        """Run until stopped (or for `seconds`); returns the statistics."""
        self.session = aiohttp.ClientSession()
        try:
            wanted = await asyncio.to_thread(self._wanted)
            for symbol in wanted:
                self.books[symbol] = LocalBook(symbol)
            if self.trades is not None:
                self.trade_symbols = set((await asyncio.to_thread(self.trades.start)).symbols())
            self._plan = plan_connections(self.ticker_symbols, wanted, self.trade_symbols) or [[]]
            self._control = [asyncio.Queue() for _ in self._plan]
            self.stats.streams = sum(len(p) for p in self._plan)
            self._tasks = [asyncio.create_task(self._connection(streams)) for streams in self._plan]
            self._tasks.append(asyncio.create_task(self._rest_fallback()))
            self._tasks.append(asyncio.create_task(self._refresh_books()))
            self._tasks.append(asyncio.create_task(self._publish_stats()))
            if seconds is not None:
                await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            else:
                await self._stop.wait()
        except TimeoutError:
            pass
        finally:
            self._stop.set()
            for task in [*self._tasks, *self._snapshot_tasks.values()]:
                task.cancel()
            await asyncio.gather(*self._tasks, *self._snapshot_tasks.values(), return_exceptions=True)
            self.flush()
            await self.session.close()
            if self.trades is not None:
                await asyncio.to_thread(self.trades.stop)  # what arrived is written
        return self.stats

    def stop(self) -> None:
        self._stop.set()

    async def _connection(self, streams: list[str]) -> None:
        """Keep one connection up for `streams`: reconnect with backoff and jitter; replace it before its age
        limit with a new one opened first (`_session`), so no event falls in between."""
        attempt = 0
        current: asyncio.Task | None = None
        while not self._stop.is_set():
            try:
                current = await (current if current is not None else self._session(streams))
                if current is not None:  # handed over to its replacement: the books stay synced across
                    attempt = 0
                    continue
            except (aiohttp.ClientError, OSError, TimeoutError, ConnectionResetError) as exc:
                log.warning("binance feed: connection lost (%d streams): %s", len(streams), exc)
            current = None
            if self._stop.is_set():
                return
            self.stats.reconnects += 1
            self._down |= {s.split("@")[0].upper() for s in streams if s.endswith("@bookTicker")}
            # Nothing arrives for its books now: drop them, rebuild them on the next connection.
            for symbol in {s.split("@")[0].upper() for s in streams if "@depth" in s}:
                book = self.books.get(symbol)
                if book is not None and book.synced:
                    book.discard()
                    self._drop(symbol)
            await asyncio.sleep(backoff_s(attempt))
            attempt += 1

    async def _session(self, streams: list[str], *, takeover: "Handover | None" = None) -> asyncio.Task | None:
        """One connection's life; it raises when the connection is lost. Past its age limit it opens its
        replacement, hands over once the replacement receives, and returns the replacement's task.

        A replacement holds what it receives until the connection it replaces has closed, then works through
        it: everything the old one delivered comes first, what both delivered is ignored by sequence."""
        url = f"{self.ws_base}/stream?streams=" + "/".join(streams[:STREAMS_IN_URL])
        async with self.session.ws_connect(url, autoping=True, max_msg_size=0, compress=0) as ws:
            self.stats.connected += 1
            opened = time.monotonic()
            symbols = {s.split("@")[0].upper() for s in streams if s.endswith("@bookTicker")}
            depth = {s.split("@")[0].upper() for s in streams if "@depth" in s}
            held: list | None = [] if takeover is not None else None
            successor: tuple[asyncio.Task, Handover] | None = None
            last_try = 0.0
            control = asyncio.create_task(self._subscribe(ws, streams[STREAMS_IN_URL:], self._queue_of(streams)))
            try:
                self._down -= symbols
                while True:
                    message = await ws.receive(timeout=self.stall_s)
                    if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        if held is not None:
                            held.append(message.data)
                            if not takeover.receiving.is_set():
                                takeover.since = time.monotonic()
                                takeover.receiving.set()
                            if b"depthUpdate" in message.data if isinstance(message.data, bytes) else (
                                    "depthUpdate" in message.data):  # fmt: skip
                                data = orjson.loads(message.data)["data"]
                                takeover.first_update.setdefault(data["s"], data["U"])
                        else:
                            self.on_message(message.data, time.perf_counter())
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                          aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):  # fmt: skip
                        raise ConnectionResetError(f"closed ({ws.close_code})")
                    if held is not None and takeover.old_closed.is_set():
                        for data in held:
                            self.on_message(data, time.perf_counter())
                        held = None
                    now = time.monotonic()
                    if successor is None and now - opened > self.max_connection_age_s and now - last_try > 10:
                        last_try = now
                        handover = Handover()
                        successor = (asyncio.create_task(self._session(streams, takeover=handover)), handover)
                        self._tasks.append(successor[0])  # cancelled with the rest when the feed stops
                        self.stats.planned_reconnects += 1
                    if successor is not None:
                        task, handover = successor
                        if handover.caught_up(self.books, depth):
                            control.cancel()
                            await ws.close()
                            handover.old_closed.set()
                            return task
                        if task.done():  # the replacement failed before it received: try again later
                            if not task.cancelled() and task.exception() is not None:
                                log.warning("binance feed: replacement connection failed: %s", task.exception())
                            successor = None
            finally:
                control.cancel()
                self.stats.connected -= 1

    def _queue_of(self, streams: list[str]) -> asyncio.Queue | None:
        for plan, queue in zip(self._plan, self._control, strict=True):
            if plan is streams:
                return queue
        return None

    async def _subscribe(self, ws, streams: list[str], queue: asyncio.Queue | None) -> None:
        """The streams the URL could not hold, then each change asked for: one control message every
        CONTROL_INTERVAL_S (Binance counts them, with pings and pongs, against 5 a second)."""
        n = 0
        for i in range(0, len(streams), STREAMS_PER_REQUEST):
            n += 1
            await asyncio.sleep(CONTROL_INTERVAL_S)
            await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": streams[i : i + STREAMS_PER_REQUEST],
                                            "id": n}).decode())  # fmt: skip
        while queue is not None:
            method, names = await queue.get()
            await asyncio.sleep(CONTROL_INTERVAL_S)
            n += 1
            await ws.send_str(orjson.dumps({"method": method, "params": names, "id": n}).decode())

    async def _refresh_books(self, every_s: float = 5.0) -> None:
        """Follow what is wanted: a new book's depth stream (and a new market's trade stream) subscribed where a
        connection has room; a book no longer wanted unsubscribed and dropped from the snapshot."""
        while not self._stop.is_set():
            await asyncio.sleep(every_s)
            try:
                wanted = await asyncio.to_thread(self._wanted)
            except Exception as exc:  # the database away: the books stay as they are
                log.warning("binance feed: wanted books unavailable: %s", exc)
                continue
            for symbol in sorted(wanted - set(self.books)):
                if self._add_stream(f"{symbol.lower()}@depth@100ms"):
                    self.books[symbol] = LocalBook(symbol)
            for symbol in sorted(set(self.books) - wanted):
                self._remove_stream(f"{symbol.lower()}@depth@100ms")
                del self.books[symbol]
                self._drop(symbol)
            trades = self.trades.symbols() if self.trades is not None else set()
            self.trade_symbols |= {
                s for s in sorted(trades - self.trade_symbols) if self._add_stream(f"{s.lower()}@trade")
            }
            for symbol in sorted(self.trade_symbols - trades):
                self._remove_stream(f"{symbol.lower()}@trade")
                self.trade_symbols.discard(symbol)
            self.stats.streams = sum(len(p) for p in self._plan)

    def _add_stream(self, name: str) -> bool:
        room = next((i for i, p in enumerate(self._plan) if len(p) < MAX_STREAMS_PER_CONNECTION), None)
        if room is None:
            log.warning("binance feed: no connection has room for %s", name)
            return False
        self._plan[room].append(name)
        self._control[room].put_nowait(("SUBSCRIBE", [name]))
        return True

    def _remove_stream(self, name: str) -> None:
        for plan, queue in zip(self._plan, self._control, strict=True):
            if name in plan:
                plan.remove(name)
                queue.put_nowait(("UNSUBSCRIBE", [name]))

    async def _rest_fallback(self, every_s: float = 1.0) -> None:
        """While a connection is down, its tickers from REST (one call for every symbol, weight 4)."""
        while not self._stop.is_set():
            await asyncio.sleep(every_s)
            if not self._down:
                continue
            try:
                answer = await self.rest.publicGetTickerBookTicker()
            except Exception as exc:
                log.warning("binance feed: REST tickers failed: %s", exc)
                continue
            now = int(time.time() * 1000)
            for row in answer:
                if row["symbol"] in self._down:
                    self._pending_tickers[row["symbol"]] = (row["bidPrice"], row["bidQty"], row["askPrice"],
                                                            row["askQty"], now)  # fmt: skip
            self.stats.rest_fallbacks += 1
            self.flush()

    async def _publish_stats(self, every_s: float = 1.0) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(every_s)
            if self.on_stats is not None:
                try:
                    self.on_stats(self.stats)
                except REDIS_OUTAGES as exc:
                    self.redis_down(exc)
