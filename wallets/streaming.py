"""Watched wallets' fills as they happen: the V2 exchanges' `OrderFilled` logs from a Polygon node's websocket.

`manage.py run_wallet_stream` (the Procfile's `walletstream`, when POLYGON_WS_URL is set) subscribes with
`eth_subscribe("logs", {"address": [both V2 exchanges], "topics": [OrderFilled, null, [the watched wallets]]})`
(topic 2 is the order's maker: the node sends only our wallets' fills) and records each fill the moment it
arrives, through the same storing as a scan (`wallet_stream_record`), so its copy is queued at once instead of at
the next scan. Polling stays on as the gap filler; a transaction belongs to whichever path records it first.

On every (re)connect it subscribes first, then reads back with `eth_getLogs` from each wallet's `stream_block`
(the newest block it recorded, read again: a block's logs may have been cut by a crash) to the head, so a
dropped connection loses nothing; duplicates of what was already stored are dropped by their dedup key
(`of:<wallet>:<tx>:<log index>`). The watched set is re-read every WALLET_STREAM_REFRESH_S; a change
resubscribes. Reconnects back off (1 s doubling to 30 s, with jitter). JSON-RPC: ethereum.org/developers/docs/apis/
json-rpc (eth_getLogs, eth_blockNumber, eth_getBlockByNumber) and geth's pub/sub (eth_subscribe, eth_subscription).
"""

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from django.conf import settings
from django.db import close_old_connections, connections

from .models import WatchedWallet
from .scanning import wallet_stream_record
from .sources.base import SourceError
from .sources.orderfilled import EXCHANGES_V2, TOPIC, decode, fill_of, topic_of

log = logging.getLogger(__name__)


class StreamError(Exception):
    """The node refused a call or answered out of shape: reconnect."""


@dataclass
class StreamStats:
    connects: int = 0
    logs: int = 0
    backfilled: int = 0
    recorded: int = 0
    copies: int = 0
    rejected: int = 0  # logs that did not decode (counted, never fatal)
    last_log_at: float = 0.0


class WalletStream:
    def __init__(self, url: str, *, refresh_s: float | None = None) -> None:
        self.url = url
        self.refresh_s = refresh_s if refresh_s is not None else settings.WALLET_STREAM_REFRESH_S
        self.stats = StreamStats()
        self._ids = itertools.count(1)
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wallet-stream-db")  # one connection
        self._block_times: dict[int, datetime] = {}

    # --- the database, in one thread of its own ---------------------------------------------------
    async def _in_db(self, fn, *args, **kwargs):
        def call():
            close_old_connections()
            return fn(*args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self._db, call)

    @staticmethod
    def _watched() -> dict[str, tuple[int, int | None]]:
        """Enabled wallets on Polygon: address -> (wallet id, stream block)."""
        rows = WatchedWallet.objects.filter(enabled=True, chain="polygon").values_list("address", "pk", "stream_block")
        return {address.lower(): (pk, block) for address, pk, block in rows}

    # --- JSON-RPC over the websocket -----------------------------------------------------------------
    async def _call(self, ws, method: str, params: list, pending: list):
        """One call; notifications that arrive before its answer are kept in `pending`, in order."""
        call_id = next(self._ids)
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(ws.receive(), timeout=settings.WALLET_STREAM_CALL_TIMEOUT_S)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise StreamError(f"{method}: the node closed the connection ({message.type.name})")
            body = json.loads(message.data)
            if body.get("method") == "eth_subscription":
                pending.append(body)
                continue
            if body.get("id") != call_id:
                continue
            if "error" in body:
                raise StreamError(f"{method}: {body['error']}")
            return body.get("result")

    def _filter(self, wallets) -> dict:
        return {"address": list(EXCHANGES_V2), "topics": [TOPIC, None, [topic_of(a) for a in sorted(wallets)]]}

    async def _block_time(self, ws, block: int, pending: list) -> datetime:
        if block not in self._block_times:
            answer = await self._call(ws, "eth_getBlockByNumber", [hex(block), False], pending)
            try:
                self._block_times[block] = datetime.fromtimestamp(int(answer["timestamp"], 16), tz=UTC)
            except (TypeError, KeyError, ValueError):
                raise StreamError(f"block {block}: no timestamp in {str(answer)[:120]!r}") from None
            if len(self._block_times) > 10_000:
                self._block_times.pop(next(iter(self._block_times)))
        return self._block_times[block]

    # --- one connection ------------------------------------------------------------------------------
    async def session(self, stop: asyncio.Event) -> None:
        wallets = await self._in_db(self._watched)
        if not wallets:
            await _sleep(stop, self.refresh_s)  # nothing to watch yet
            return
        async with aiohttp.ClientSession() as http, http.ws_connect(self.url, heartbeat=20, max_msg_size=0) as ws:
            self.stats.connects += 1
            pending: list = []
            flt = self._filter(wallets)
            await self._call(ws, "eth_subscribe", ["logs", flt], pending)  # first: nothing falls in between
            head = int(await self._call(ws, "eth_blockNumber", [], pending), 16)
            starts = [block for _, block in wallets.values() if block is not None]
            if starts:
                since = flt | {"fromBlock": hex(min(starts)), "toBlock": hex(head)}
                logs = await self._call(ws, "eth_getLogs", [since], pending)
                self.stats.backfilled += len(logs or ())
                await self._handle(ws, logs or [], wallets, pending, live=False)
            new = [pk for pk, block in wallets.values() if block is None]
            if new:  # a wallet new to the stream starts at the present (its history is not copied)
                await self._in_db(lambda: WatchedWallet.objects.filter(pk__in=new).update(stream_block=head))
            refresh_at = time.monotonic() + self.refresh_s
            while not stop.is_set():
                while pending:
                    note = pending.pop(0)
                    await self._handle(ws, [note["params"]["result"]], wallets, pending, live=True)
                if time.monotonic() >= refresh_at:
                    refresh_at = time.monotonic() + self.refresh_s
                    if set(await self._in_db(self._watched)) != set(wallets):
                        log.info("wallet stream: the watched wallets changed; resubscribing")
                        return  # the next session subscribes for the new set and reads back from the cursors
                try:
                    message = await asyncio.wait_for(ws.receive(), timeout=0.5)
                except TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise StreamError(f"the node closed the connection ({message.type.name})")
                body = json.loads(message.data)
                if body.get("method") == "eth_subscription":
                    pending.append(body)

    async def _handle(self, ws, logs: list[dict], wallets: dict, pending: list, *, live: bool) -> None:
        by_wallet: dict[int, tuple[list, int]] = {}
        for raw in logs:
            self.stats.logs += 1
            self.stats.last_log_at = time.time()
            try:
                decoded = decode(raw)
                maker, block = decoded["maker"], decoded["block"]
                if maker not in wallets:
                    continue
                when = datetime.now(UTC) if live else await self._block_time(ws, block, pending)
                fill = fill_of(maker, raw, block_time=when, decoded=decoded)
            except SourceError as exc:
                self.stats.rejected += 1
                log.warning("wallet stream: a log was refused: %s", exc)
                continue
            if fill is None:
                continue
            wallet_id = wallets[maker][0]
            trades, newest = by_wallet.get(wallet_id, ([], 0))
            by_wallet[wallet_id] = ([*trades, fill], max(newest, block))
        for wallet_id, (trades, block) in by_wallet.items():
            copies = await self._in_db(wallet_stream_record, wallet_id=wallet_id, trades=trades, block=block)
            self.stats.recorded += len(trades)
            self.stats.copies += len(copies)

    # --- for ever --------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.session(stop)
                delay = 1.0
            except (aiohttp.ClientError, OSError, TimeoutError, StreamError, json.JSONDecodeError) as exc:
                if time.monotonic() - started > 30:
                    delay = 1.0  # it ran a while: start the backoff over
                wait = delay * (1 + random.uniform(0, 0.3))
                log.warning("wallet stream: %s; reconnecting in %.1fs", exc, wait)
                await _sleep(stop, wait)
                delay = min(30.0, delay * 2)
        await self._in_db(connections.close_all)  # the database thread's connection goes with it
        self._db.shutdown(wait=True)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
