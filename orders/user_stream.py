"""Fills pushed, not only polled: one account's user-data stream, each order update recorded through the same
service polling uses (order_record_pushed -> order_record_answer; a fill is keyed by its trade id, so the same
trade seen by both paths is recorded once). While the stream is connected and subscribed it says so every second
(orders.pushed) and the monitor polls that account only as a safety net; when it drops, polling takes over at
once and the stream reconnects with backoff and jitter.

Binance spot: ccxt.pro's watch_orders, which subscribes through the WebSocket API
(`userDataStream.subscribe.signature` on wss://ws-api.binance.com:443/ws-api/v3, signed with the account's key;
the listenKey flow was retired in February 2026: developers.binance.com/docs/binance-spot-api-docs/
user-data-stream) and parses each `executionReport`; a TRADE execution's trade is ccxt's parse_ws_trade of the
same report, so the fill and the order's new state are recorded together. Other ccxt exchanges: watch_orders, the
trades where the exchange's updates carry them (otherwise the monitor fetches them at once).
"""

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import ccxt
from django.db import connections

from core.resilience import Outages
from exchanges.ccxt_venue import ccxt_order, ccxt_trade
from exchanges.errors import VenueError
from exchanges.models import Exchange
from feeds.common import backoff_s
from feeds.selection import rest_client

from .pushed import stream_alive, stream_down
from .services import order_record_pushed

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    connected: bool = False
    updates: int = 0
    recorded: int = 0
    not_ours: int = 0
    reconnects: int = 0
    last_update_ms: int = 0
    committed_ns: dict = field(default_factory=dict)  # trade id -> when its fill was committed (the last 1000)

    def as_dict(self) -> dict:
        return {"connected": self.connected, "updates": self.updates, "recorded": self.recorded,
                "not_ours": self.not_ours, "reconnects": self.reconnects,
                "last_update_ms": self.last_update_ms}  # fmt: skip


class UserStream:
    def __init__(self, account: Exchange, *, client=None) -> None:
        self.account = account
        self.client = client or rest_client(account, streaming=True, private=True)
        self.stats = StreamStats()
        self._stop = asyncio.Event()
        self._outages = Outages(f"{account.name} user stream")
        # One thread for the database and Redis work: updates are recorded in the order they came, and the
        # thread's connections are closed when the stream stops.
        self._db = ThreadPoolExecutor(1, thread_name_prefix=f"userstream-{account.pk}")

    async def _in_db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def stop(self) -> None:
        self._stop.set()
        self._outages.stop.set()

    async def run(self, *, seconds: float | None = None) -> StreamStats:
        self._updates: asyncio.Queue = asyncio.Queue()
        self._watching = asyncio.create_task(self._watch())
        self._recording = asyncio.create_task(self._record_updates())
        tasks = [self._watching, self._recording, asyncio.create_task(self._heartbeat())]
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass
        finally:
            self.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.stats.connected:
                await self._in_db(self._down, "stopped")
            await self._in_db(connections.close_all)
            self._db.shutdown()
            with contextlib.suppress(Exception):
                await self.client.close()
        return self.stats

    # --- the stream -----------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        """Receive: each answer of watch_orders is queued and the next watch begins at once, with no await
        between them. ccxt resolves an update only for a watch already waiting (one that arrives in between is
        held until the next update comes), so recording here, in the database thread, would delay the fill
        pushed while the previous one was recorded."""
        attempt = 0
        while not self._stop.is_set():
            try:
                if not self.client.markets:  # the venue unreachable at start-up too: tried again with backoff
                    await self.client.load_markets()
                updates = await self.client.watch_orders()
            except asyncio.CancelledError:
                raise
            except (ccxt.NetworkError, ccxt.ExchangeError, OSError) as exc:
                if self.stats.connected:
                    await self._in_db(self._down, f"{type(exc).__name__}: {exc}")
                attempt += 1
                await asyncio.sleep(backoff_s(attempt))
                continue
            attempt = 0
            for raw in updates:
                self._updates.put_nowait(raw)

    async def _record_updates(self) -> None:
        """Record: the queued updates in the order they came, in the database thread."""
        while True:
            raw = await self._updates.get()
            self.stats.updates += 1
            try:
                await self._in_db(self._outages.guard, lambda raw=raw: self._record(raw))
            except Exception:  # a bug, not an outage: this update is left to polling, the stream goes on
                log.exception("%s: an order update was not recorded; its orders are polled now", self.account.name)
                await self._in_db(self._outages.guard, self._poll_now)
            self.stats.last_update_ms = int(time.time() * 1000)

    def _connection(self):
        """ccxt's websocket client of the stream when it is open (and, on Binance, subscribed), else None."""
        url = self.client.urls["api"]["ws"].get("ws-api", {}).get("spot") if self.account.ccxt_id == "binance" else None
        live = [c for u, c in self.client.clients.items() if url is None or u == url]
        if not live or any(c.closed() for c in live) or (url is not None and not live[0].subscriptions):
            return None
        return live[0]

    async def _heartbeat(self) -> None:
        """Every second: alive while subscribed (the monitor backs off), down at once when not."""
        seen = None
        while not self._stop.is_set():
            working = not (self._watching.done() or self._recording.done())
            connection = self._connection() if working else None  # nothing watching or recording: not pushed
            try:
                if connection is not None and seen is not None and connection is not seen and self.stats.connected:
                    # ccxt reconnected between two beats: what was pushed meanwhile is lost, so poll it now
                    await self._in_db(self._down, "reconnected")
                if connection is not None:
                    await self._in_db(stream_alive, self.account.pk)
                    if not self.stats.connected:
                        log.info("%s: user stream subscribed; fills are pushed", self.account.name)
                    self.stats.connected, seen = True, connection
                elif self.stats.connected:
                    await self._in_db(self._down, "connection closed")
            except Exception as exc:  # Redis away: the key expires on its own, polling is the safe side
                log.debug("%s: user stream heartbeat: %s", self.account.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    def _down(self, why: str) -> None:
        self.stats.connected = False
        self.stats.reconnects += why != "stopped"
        log.warning("%s: user stream down (%s); polling takes over", self.account.name, why)
        with contextlib.suppress(Exception):
            stream_down(self.account.pk)
        self._outages.guard(self._poll_now)

    def _poll_now(self) -> None:
        from .monitoring import orders_poll_now

        orders_poll_now(exchange_id=self.account.pk)

    # --- one update -------------------------------------------------------------------------------------------
    def _record(self, raw: dict) -> None:
        markets = self.client.markets or {}

        def market_id(unified: str) -> str:
            return markets[unified]["id"]

        try:
            symbol = market_id(raw["symbol"])
            answer = ccxt_order(raw, symbol, market_id)
            trades = list(answer.trades)
            info = raw.get("info") or {}
            if not trades and info.get("e") == "executionReport" and info.get("x") == "TRADE":
                trades = [ccxt_trade(self.client.parse_ws_trade(info), market_id)]
        except (KeyError, VenueError) as exc:
            log.warning("%s: an order update left out: %s", self.account.name, exc)
            return
        order = order_record_pushed(exchange_id=self.account.pk, answer=answer, trades=trades)
        if order is None:
            self.stats.not_ours += 1
            return
        self.stats.recorded += 1
        committed = time.time_ns()  # order_record_answer's transaction has committed
        for trade in trades:
            self.stats.committed_ns[trade.id] = committed
        while len(self.stats.committed_ns) > 1000:
            self.stats.committed_ns.pop(next(iter(self.stats.committed_ns)))
