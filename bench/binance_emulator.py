"""A Binance spot emulator on 127.0.0.1 for the feed's tests and benchmarks: it replays the recorded depth files
(../shared/data/binance/depth/*.gz) in Binance's wire format and checks what Binance checks.

Websocket: combined streams at `/stream?streams=a/b` (lower-case names, at most 1024 a connection), events sent
exactly as recorded ({"stream": name, "data": payload}); SUBSCRIBE / UNSUBSCRIBE answered {"result": null,
"id": n}; more than 5 incoming messages in a second closes the connection with 1008, as Binance does. REST:
`GET /api/v3/depth` (the book as replayed so far, its `lastUpdateId` the last update sent; `limit` up to 5000),
`GET /api/v3/ticker/bookTicker`, `GET /api/v3/ping`. Faults: drop every connection, skip a symbol's next depth
update (the book moves on, the stream misses it), stall (connections open, nothing sent), cut connections at a
set age.

Pacing: `speed` plays the recorded timing faster (0 = as fast as it can); `rate` sends that many messages a
second; `loop` plays the bookTicker messages again and again (the throughput benchmark).

Run alone: python -m bench.binance_emulator --port 9443 (prints its URLs).
"""

import argparse
import asyncio
import gzip
import heapq
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from pathlib import Path

from aiohttp import WSMsgType, web

from bench.binance_klines import klines_route

MAX_STREAMS = 1024
MAX_INCOMING_PER_S = 5


@dataclass
class Recording:
    """One recorded file: the REST snapshot and every message after it, in order (raw JSON lines)."""

    symbol: str
    snapshot: dict
    messages: list[tuple[int, str, str]]  # (ns timestamp, stream name, the line's JSON as recorded)

    @classmethod
    def load(cls, path: Path) -> "Recording":
        symbol = path.name.split("_", 1)[0].upper()
        snapshot, messages = None, []
        with gzip.open(path, "rt") as fh:
            for line in fh:
                ts, _, body = line.partition(" ")
                body = body.strip()
                if not body:
                    continue
                if body.startswith('{"lastUpdateId"'):
                    snapshot = json.loads(body)
                    continue
                stream = body[len('{"stream":"') : body.index('"', len('{"stream":"'))]
                messages.append((int(ts), stream, body))
        if snapshot is None:
            raise ValueError(f"{path} holds no depth snapshot")
        return cls(symbol, snapshot, messages)


class TruthBook:
    """The venue's book as the emulator has sent it: the recorded snapshot with every later update applied,
    plainly (levels by price string), with no sequence rule of the feed's."""

    def __init__(self, snapshot: dict) -> None:
        self.bids = {p: q for p, q in snapshot["bids"] if float(q)}
        self.asks = {p: q for p, q in snapshot["asks"] if float(q)}
        self.update_id = int(snapshot["lastUpdateId"])

    def apply(self, data: dict) -> bool:
        if data["u"] <= self.update_id:  # recorded before the snapshot and already in it
            return False
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, quantity in levels:
                if float(quantity):
                    side[price] = quantity
                else:
                    side.pop(price, None)
        self.update_id = data["u"]
        return True

    def top(self, depth: int) -> tuple[list, list]:
        bids = heapq.nlargest(depth, self.bids.items(), key=lambda lv: float(lv[0]))
        asks = heapq.nsmallest(depth, self.asks.items(), key=lambda lv: float(lv[0]))
        return [list(lv) for lv in bids], [list(lv) for lv in asks]


class CrossBook:
    """`symbol` (BASE/QUOTE) priced from `base_leg` (BASE/X) and `quote_leg` (QUOTE/X): bid = base bid / quote ask,
    ask = base ask / quote bid, each raised by `premium_bps`, levels a tick apart sized like the base leg's;
    prices on `tick`. `update()` moves it to the legs' books and returns the depth update it made (None: no
    change)."""

    def __init__(self, *, symbol: str, base_leg: str, quote_leg: str, premium_bps: float, tick: str,
                 books: dict, depth: int = 20) -> None:  # fmt: skip
        self.symbol, self.base_leg, self.quote_leg, self.books, self.depth = symbol, base_leg, quote_leg, books, depth
        self.factor, self.tick = 1 + premium_bps / 10_000, Decimal(tick)
        self.book = TruthBook({"lastUpdateId": 1, "bids": [], "asks": []})
        self.update(now_ms=0)

    def _levels(self) -> tuple[dict, dict]:
        (base_bids, base_asks), (quote_bids, quote_asks) = (self.books[self.base_leg].top(self.depth),
                                                            self.books[self.quote_leg].top(1))  # fmt: skip
        if not (base_bids and base_asks and quote_bids and quote_asks):
            return {}, {}
        bid = Decimal(base_bids[0][0]) / Decimal(quote_asks[0][0]) * Decimal(repr(self.factor))
        ask = max(Decimal(base_asks[0][0]) / Decimal(quote_bids[0][0]) * Decimal(repr(self.factor)), bid + self.tick)
        bid, ask = bid.quantize(self.tick, rounding=ROUND_DOWN), ask.quantize(self.tick, rounding=ROUND_UP)
        bids = {f"{bid - k * self.tick:.8f}": q for k, (_, q) in enumerate(base_bids)}
        asks = {f"{ask + k * self.tick:.8f}": q for k, (_, q) in enumerate(base_asks)}
        return bids, asks

    def update(self, *, now_ms: int) -> dict | None:
        bids, asks = self._levels()
        changes = []
        for side, new in ((self.book.bids, bids), (self.book.asks, asks)):
            changes.append([[p, q] for p, q in new.items() if side.get(p) != q] +
                           [[p, "0.00000000"] for p in side if p not in new])  # fmt: skip
        if not changes[0] and not changes[1]:
            return None
        data = {"e": "depthUpdate", "E": now_ms, "s": self.symbol, "U": self.book.update_id + 1,
                "u": self.book.update_id + 1, "b": changes[0], "a": changes[1]}  # fmt: skip
        self.book.apply(data)
        return data

    def messages(self, data: dict) -> list[tuple[str, str]]:
        """The depth update and the bookTicker it makes, as (stream, the wire line)."""
        name = self.symbol.lower()
        (bids, asks) = self.book.top(1)
        ticker = {"u": data["u"], "s": self.symbol, "b": bids[0][0], "B": bids[0][1], "a": asks[0][0],
                  "A": asks[0][1]}  # fmt: skip
        return [
            (f"{name}@depth@100ms", json.dumps({"stream": f"{name}@depth@100ms", "data": data})),
            (f"{name}@bookTicker", json.dumps({"stream": f"{name}@bookTicker", "data": ticker})),
        ]


@dataclass
class Client:
    ws: web.WebSocketResponse
    streams: set[str]
    opened: float = field(default_factory=time.monotonic)
    incoming: deque = field(default_factory=deque)


class BinanceEmulator:
    def __init__(self, paths: list[Path], *, speed: float = 1.0, rate: float | None = None, loop: bool = False,
                 symbols: int = 0, keep_tops: int = 0, ping_s: float = 20.0, start: bool = True,
                 exchange_info: Path | None = None, account: dict | None = None,
                 cross: dict | None = None) -> None:  # fmt: skip
        self.recordings = {r.symbol: r for r in (Recording.load(p) for p in paths)}
        self.truth = {s: TruthBook(r.snapshot) for s, r in self.recordings.items()}
        # A third market priced from two replayed ones (ETHBTC from ETHUSDT and BTCUSDT), its bids `premium_bps`
        # above the fair cross: a triangle that pays, streamed and served like a recorded one (end-to-end tests).
        self.cross = cross and CrossBook(**cross, books=self.truth)
        if self.cross is not None:
            self.truth[self.cross.symbol] = self.cross.book
        # exchangeInfo as recorded, for the replayed symbols only (ccxt's load_markets reads it)
        info = json.loads(exchange_info.read_text()) if exchange_info else None
        self.exchange_info = info and {**info, "symbols": [m for m in info["symbols"] if m["symbol"] in self.truth]}
        self.account = None
        if account is not None:  # the trading side: orders fill against the replayed books, fills are pushed
            from bench.binance_account import Account

            markets = {m["symbol"]: m for m in (self.exchange_info or {"symbols": []})["symbols"]}
            self.account = Account(books=self.truth, markets=markets, **account)
        self.speed, self.rate, self.loop_tickers = speed, rate, loop
        self.synthetic = symbols  # loop mode: the bookTicker messages spread over this many symbols (S0001USDT…)
        self.ping_s = ping_s  # Binance pings every 20 s; a connection that does not pong is closed
        self.keep_tops = keep_tops  # keep the top levels of each book after each update (u -> (bids, asks))
        self.tops: dict[str, dict[int, tuple]] = {s: {} for s in self.recordings}
        self.clients: list[Client] = []
        self.sent = 0
        self.skip: dict[str, int] = {}
        self.skipped = 0
        self.stalled_until = 0.0
        self.refusing_until = 0.0
        self.max_age_s: float | None = None
        self.closed_for_rate = 0
        self.subscribers = asyncio.Event  # replaced in the loop
        self.finished = threading.Event()
        self.started = threading.Event()
        self.port = 0
        self._thread = None
        if start:
            self.start()

    # --- the server in its own thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self.started.wait(10):
            raise RuntimeError("the emulator did not start")

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        app = web.Application()
        app.router.add_get("/stream", self._ws)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/ticker/bookTicker", self._book_ticker)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/klines", klines_route(self.recordings))
        if self.account is not None:
            self.account.routes(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.subscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self.started.set()
        await self._stopping.wait()
        playing = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in playing:  # a replay still going when the emulator is closed
            task.cancel()
        await asyncio.gather(*playing, return_exceptions=True)
        await self.runner.cleanup()

    def close(self) -> None:
        if self._thread is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- faults (callable from any thread) -----------------------------------------------------------------
    def drop_connections(self) -> None:
        def drop():
            for client in list(self.clients):
                self.loop.create_task(client.ws.close(code=1006))

        self.loop.call_soon_threadsafe(drop)

    def skip_next(self, symbol: str, n: int = 1) -> None:
        self.skip[symbol] = self.skip.get(symbol, 0) + n

    def refuse_connections(self, seconds: float) -> None:
        """New websocket connections are refused (HTTP 503) for this long; REST still answers."""
        self.refusing_until = time.monotonic() + seconds

    def stall(self, seconds: float) -> None:
        self.stalled_until = time.monotonic() + seconds

    def cut_at_age(self, seconds: float | None) -> None:
        self.max_age_s = seconds

    # --- REST -----------------------------------------------------------------------------------------------
    async def _depth(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        limit = int(request.query.get("limit", 100))
        if symbol not in self.truth:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if not 1 <= limit <= 5000:
            return web.json_response({"code": -1100, "msg": "Illegal characters found in parameter 'limit'."},
                                     status=400)  # fmt: skip
        book = self.truth[symbol]
        bids, asks = book.top(limit)
        return web.json_response({"lastUpdateId": book.update_id, "bids": bids, "asks": asks},
                                 headers={"x-mbx-used-weight-1m": "50"})  # fmt: skip

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        if self.exchange_info is None:
            return web.json_response({"code": -1, "msg": "no exchangeInfo loaded"}, status=404)
        return web.json_response({**self.exchange_info, "serverTime": int(time.time() * 1000)})

    def on_loop(self, fn, *args):
        """Run `fn(*args)` on the emulator's loop and return its result (account faults and fills from tests)."""

        async def call():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    async def _book_ticker(self, request: web.Request) -> web.Response:
        rows = []
        for symbol, book in self.truth.items():
            (bids, asks) = book.top(1)
            if bids and asks:
                rows.append({"symbol": symbol, "bidPrice": bids[0][0], "bidQty": bids[0][1], "askPrice": asks[0][0],
                             "askQty": asks[0][1]})  # fmt: skip
        return web.json_response(rows)

    # --- websocket --------------------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        if time.monotonic() < self.refusing_until:
            return web.json_response({"code": -1003, "msg": "Service unavailable"}, status=503)
        names = [s for s in request.query.get("streams", "").split("/") if s]
        if len(names) > MAX_STREAMS or any((s := n.split("@")[0]) != s.lower() for n in names):  # symbols lower case
            return web.json_response({"code": -1100, "msg": "Invalid request"}, status=400)
        ws = web.WebSocketResponse(autoping=True, heartbeat=self.ping_s)  # pings; no pong in ping_s / 2: closed
        await ws.prepare(request)
        client = Client(ws, set(names))
        self.clients.append(client)
        self.subscribed.set()
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                now = time.monotonic()
                client.incoming.append(now)
                while client.incoming and now - client.incoming[0] > 1:
                    client.incoming.popleft()
                if len(client.incoming) > MAX_INCOMING_PER_S:
                    self.closed_for_rate += 1
                    await ws.close(code=1008, message=b"Too many requests")
                    break
                body = json.loads(message.data)
                params = body.get("params", [])
                if body.get("method") == "SUBSCRIBE":
                    if len(client.streams | set(params)) > MAX_STREAMS:
                        await ws.send_str(
                            json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": body["id"]})
                        )
                        continue
                    client.streams |= set(params)
                elif body.get("method") == "UNSUBSCRIBE":
                    client.streams -= set(params)
                await ws.send_str(json.dumps({"result": None, "id": body.get("id")}))
        finally:
            self.clients.remove(client)
        return ws

    # --- replay -------------------------------------------------------------------------------------------
    def play(self, *, seconds: float | None = None, wait_for_clients: float = 10.0) -> None:
        """Replay both recordings (merged by time) to the connected clients; returns when done."""
        asyncio.run_coroutine_threadsafe(self._play(seconds, wait_for_clients), self.loop).result()

    def play_in_background(self, **kwargs) -> "asyncio.Future":
        return asyncio.run_coroutine_threadsafe(self._play(kwargs.get("seconds"), kwargs.get("wait_for_clients", 10)),
                                                self.loop)  # fmt: skip

    async def _play(self, seconds: float | None, wait_for_clients: float) -> None:
        await asyncio.wait_for(self.subscribed.wait(), wait_for_clients)
        await asyncio.sleep(0.2)  # the feed subscribes and asks for its snapshots
        merged = heapq.merge(*(r.messages for r in self.recordings.values()))
        if self.loop_tickers:
            tickers = [m for r in self.recordings.values() for m in r.messages if m[1].endswith("@bookTicker")]
            if self.synthetic:
                tickers = [_renamed(m, synthetic_symbol(i % self.synthetic)) for i, m in enumerate(tickers)]
            merged = (tickers[i % len(tickers)] for i in range(10**12))
        first_ts, wall = None, time.monotonic()
        deadline = wall + seconds if seconds else None
        last_cross = 0.0
        for n, (ts, stream, body) in enumerate(merged):
            now = time.monotonic()
            if deadline and now > deadline:
                break
            first_ts = first_ts or ts
            if self.rate:
                delay = n / self.rate - (now - wall)
            elif self.speed:
                delay = (ts - first_ts) / 1e9 / self.speed - (now - wall)
            else:
                delay = 0
            if delay > 0.0005:
                await asyncio.sleep(delay)
            elif n % 200 == 0:
                await asyncio.sleep(0)
            while time.monotonic() < self.stalled_until:
                await asyncio.sleep(0.01)
            if self.max_age_s is not None:
                for client in list(self.clients):
                    if time.monotonic() - client.opened > self.max_age_s:
                        self.loop.create_task(client.ws.close(code=1000))
            if "@depth" in stream:
                symbol = stream.split("@")[0].upper()
                data = json.loads(body)["data"]
                moved = self.truth[symbol].apply(data)
                if moved and self.keep_tops:
                    self.tops[symbol][data["u"]] = self.truth[symbol].top(self.keep_tops)
                if moved and self.skip.get(symbol):
                    self.skip[symbol] -= 1
                    self.skipped += 1
                    continue  # the book moved on; the stream never tells
            for client in self.clients:
                if stream in client.streams and not client.ws.closed:
                    await client.ws.send_str(body)
            self.sent += 1
            if self.cross is not None and "@depth" in stream and time.monotonic() - last_cross >= 0.1:
                last_cross = time.monotonic()
                data = self.cross.update(now_ms=int(time.time() * 1000))
                for cross_stream, line in self.cross.messages(data) if data else ():
                    for client in self.clients:
                        if cross_stream in client.streams and not client.ws.closed:
                            await client.ws.send_str(line)
        self.finished.set()


def synthetic_symbol(i: int) -> str:
    return f"S{i:04d}USDT"


def _renamed(message: tuple[int, str, str], symbol: str) -> tuple[int, str, str]:
    ts, _, body = message
    data = json.loads(body)
    data["stream"] = f"{symbol.lower()}@bookTicker"
    data["data"]["s"] = symbol
    return ts, data["stream"], json.dumps(data, separators=(",", ":"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=None)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--symbols", type=int, default=0, help="loop mode: spread the tickers over N symbols")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance" / "depth"
    paths = [Path(p) for p in args.paths] or sorted(shared.glob("*.gz"))
    emulator = BinanceEmulator(paths, speed=args.speed, rate=args.rate, loop=args.loop, symbols=args.symbols,
                               start=False)  # fmt: skip
    emulator.port = args.port
    emulator.start()
    print(json.dumps({"ws": emulator.ws_url, "rest": emulator.rest_url}), flush=True)
    emulator.play(seconds=args.seconds, wait_for_clients=3600)
    print(json.dumps({"sent": emulator.sent}), flush=True)
    emulator.close()


if __name__ == "__main__":
    main()
