"""A Polygon node's websocket JSON-RPC on 127.0.0.1, serving a simulated chain's fills as CTF Exchange V2
`OrderFilled` logs (wallets.sources.orderfilled.log_of).

What it answers, as an Ethereum JSON-RPC node does (ethereum.org JSON-RPC API; geth's pub/sub): `eth_blockNumber`;
`eth_getLogs` with `fromBlock` / `toBlock` / `address` (one or a list) / `topics` (per position: null, a topic or
a list of them); `eth_getBlockByNumber` (number and timestamp); `eth_subscribe("logs", filter)`, answered with a
subscription id, then one `{"jsonrpc": "2.0", "method": "eth_subscription", "params": {"subscription": id,
"result": log}}` notification per matching log; `eth_unsubscribe`. `drop()` cuts every connection and, with
`paused`, logs made meanwhile reach nobody live (a client must read them back with eth_getLogs).
"""

import asyncio
import itertools
import json
import time
from collections import Counter

from aiohttp import WSMsgType, web

from bench.loopback import LoopbackServer
from wallets.simulated import BLOCK_0, TS_0, block_at


def _matches(log: dict, flt: dict) -> bool:
    addresses = flt.get("address")
    if addresses:
        wanted = {a.lower() for a in ([addresses] if isinstance(addresses, str) else addresses)}
        if log["address"].lower() not in wanted:
            return False
    for position, wanted in enumerate(flt.get("topics") or []):
        if wanted is None:
            continue
        options = {w.lower() for w in ([wanted] if isinstance(wanted, str) else wanted)}
        if position >= len(log["topics"]) or log["topics"][position].lower() not in options:
            return False
    block = int(log["blockNumber"], 16)
    low = (
        int(flt["fromBlock"], 16) if isinstance(flt.get("fromBlock"), str) and flt["fromBlock"].startswith("0x") else 0
    )
    high = flt.get("toBlock")
    high = int(high, 16) if isinstance(high, str) and high.startswith("0x") else 2**63
    return low <= block <= high


class PolygonNode(LoopbackServer):
    what = "the node emulator"

    def __init__(self, chain) -> None:
        self.chain = chain
        self.logs: list[dict] = []
        self.emitted_at: dict[tuple[str, int], float] = {}  # (tx, log index) -> when the node had it
        self.subscriptions: dict[str, tuple[web.WebSocketResponse, dict]] = {}
        self.paused = False
        self.calls: Counter = Counter()
        self._ids = itertools.count(1)
        self._seen = 0
        self.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def head(self) -> int:
        return max([block_at(time.time()), *(int(log["blockNumber"], 16) for log in self.logs[-1:])])

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._ws)

    async def running(self) -> None:
        await self._watch()

    async def closing(self) -> None:
        for ws, _ in list(self.subscriptions.values()):
            await ws.close()

    def drop(self) -> None:
        """Cut every connection (the client must reconnect, resubscribe and read back what it missed)."""

        async def cut():
            for ws, _ in list(self.subscriptions.values()):
                await ws.close()
            self.subscriptions.clear()

        asyncio.run_coroutine_threadsafe(cut(), self.loop).result(5)

    async def _watch(self) -> None:
        """The chain's new fills as logs, pushed to the matching subscriptions at once."""
        from wallets.sources.orderfilled import log_of

        exchange = "0xe111180000d2663c0091e4f400237545b87b996b"
        while True:
            fills = self.chain.fills[self._seen :]
            if fills:
                self._seen += len(fills)
                index: dict[str, int] = {}
                for f in fills:
                    n = index[f.tx] = index.get(f.tx, -1) + 1
                    log = log_of(
                        tx=f.tx, log_index=n, block=f.block, maker=f.wallet, taker=exchange, side=f.side.lower(),
                        token=f.outcome.asset, shares=int(f.size * 10**6), cash=int(f.usdc * 10**6),
                    )  # fmt: skip
                    self.logs.append(log)
                    self.emitted_at[(f.tx, n)] = time.time()
                    if not self.paused:
                        for sub, (ws, flt) in list(self.subscriptions.items()):
                            if _matches(log, flt) and not ws.closed:
                                message = {"jsonrpc": "2.0", "method": "eth_subscription",
                                           "params": {"subscription": sub, "result": log}}  # fmt: skip
                                await ws.send_str(json.dumps(message))
            await asyncio.sleep(0.002)

    async def _ws(self, request):
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        mine = []
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                call = json.loads(message.data)
                self.calls[call.get("method")] += 1
                answer = {"jsonrpc": "2.0", "id": call.get("id")}
                try:
                    answer["result"] = self._answer(call, ws, mine)
                except (KeyError, ValueError, TypeError, IndexError) as exc:
                    answer["error"] = {"code": -32602, "message": f"invalid params: {exc}"}
                await ws.send_str(json.dumps(answer))
        finally:
            for sub in mine:
                self.subscriptions.pop(sub, None)
        return ws

    def _answer(self, call: dict, ws, mine: list):
        method, params = call["method"], call.get("params") or []
        if method == "eth_blockNumber":
            return hex(self.head())
        if method == "eth_getLogs":
            return [log for log in self.logs if _matches(log, params[0])]
        if method == "eth_getBlockByNumber":
            number = int(params[0], 16)
            return {"number": hex(number), "timestamp": hex(TS_0 + (number - BLOCK_0) * 2)}
        if method == "eth_subscribe" and params[0] == "logs":
            sub = hex(next(self._ids))
            self.subscriptions[sub] = (ws, params[1] if len(params) > 1 else {})
            mine.append(sub)
            return sub
        if method == "eth_unsubscribe":
            return self.subscriptions.pop(params[0], None) is not None
        raise ValueError(f"method {method} is not served here")
