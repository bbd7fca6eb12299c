"""Simulated wallet sources: both Polymarket activity routes and Etherscan V2 over one chain of fills.

Fills are made in the style of the recorded Polymarket samples
(`../shared/data/polymarket/`): their markets, titles, outcomes, price
ranges and sizes. Each fill is served the way each real API would show it:
a TRADE row of `/activity` and `/v2/activity`, and an ERC-1155 transfer
(`token1155tx`) with its USDC leg (`tokentx`) on Etherscan; a transaction
may carry several fills. `SimulatedSourceServer` serves them over HTTP on
127.0.0.1, with an optional per-route request limit answered the way each
API answers it (HTTP 429, or Etherscan's NOTOK "Max rate limit reached").
"""

import json
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from django.conf import settings

from exchanges.types import MarketInfo, OrderBook

from .addresses import to_checksum_address

USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"  # the collateral of fills since CLOB V2 (2026-04-28)
CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"  # Polymarket's conditional tokens (ERC-1155)
EXCHANGE = "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e"  # the counterparty of every simulated fill
BLOCK_0, TS_0 = 75_000_000, 1_780_000_000  # Polygon: a block about every 2 s


def block_at(ts: float) -> int:
    return BLOCK_0 + int((ts - TS_0) // 2)


@dataclass(frozen=True)
class Outcome:
    """One outcome token of a market, as the samples show it."""

    asset: str
    condition_id: str
    title: str
    slug: str
    event_slug: str
    outcome: str
    outcome_index: int
    price: float


def sample_outcomes(directory: Path) -> list[Outcome]:
    """The outcome tokens traded in the recorded samples, each with the last price it traded at."""
    found: dict[str, Outcome] = {}
    for name in ("activity_wallet_a.json", "activity_wallet_b.json", "trades_wallet_a.json"):
        path = directory / name
        if not path.exists():
            continue
        for row in json.loads(path.read_text()):
            if row.get("type", "TRADE") != "TRADE" or not row.get("asset"):
                continue
            price = min(0.95, max(0.05, float(row["price"])))
            found[row["asset"]] = Outcome(
                row["asset"], row["conditionId"], row["title"], row["slug"], row["eventSlug"], row["outcome"],
                int(row["outcomeIndex"]), price,
            )  # fmt: skip
    return list(found.values())


@dataclass
class Fill:
    wallet: str  # lower case
    ts: int
    block: int
    tx: str
    outcome: Outcome
    side: str  # BUY / SELL
    size: Decimal
    price: Decimal
    appeared_at: float = 0.0  # when the fill became visible at the source (wall clock)

    @property
    def usdc(self) -> Decimal:
        return (self.size * self.price).quantize(Decimal("0.000001"), ROUND_DOWN)


@dataclass
class SimulatedChain:
    """Every wallet's fills, newest last; thread-safe."""

    outcomes: list[Outcome]
    rng: random.Random = field(default_factory=random.Random)
    fills: list[Fill] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tx: int = 0

    def trade(self, wallet: str, *, outcome: Outcome | None = None, side: str = "BUY", size: float | None = None,
              price: float | None = None, fills: int = 1, at: float | None = None) -> list[Fill]:  # fmt: skip
        """`fills` fills of `wallet` in one new transaction (made at `at`, default now), visible from now."""
        outcome = outcome or self.rng.choice(self.outcomes)
        now = at if at is not None else time.time()
        with self._lock:
            self._tx += 1
            tx = "0x" + f"{self.rng.getrandbits(200):050x}{self._tx:014x}"[-64:]
            last = self.prices.get(outcome.asset, outcome.price)
            made = []
            for _ in range(fills):
                p = price if price is not None else min(0.97, max(0.03, last + self.rng.uniform(-0.02, 0.02)))
                q = size if size is not None else round(self.rng.lognormvariate(4.5, 1.0), 2) + 5
                fill = Fill(wallet.lower(), int(now), block_at(now), tx, outcome, side.upper(),
                            Decimal(str(round(q, 6))), Decimal(str(round(p, 3))), now)  # fmt: skip
                made.append(fill)
                last = float(fill.price)
            self.prices[outcome.asset] = last
            self.fills.extend(made)
        return made

    def random_trade(self, wallet: str) -> list[Fill]:
        """A fill like the samples': mostly buys, sometimes a sell of something bought, now and then a multi-fill."""
        with self._lock:
            held = Counter()
            for f in self.fills:
                if f.wallet == wallet.lower():
                    held[f.outcome.asset] += f.size if f.side == "BUY" else -f.size
        owned = [o for o in self.outcomes if held[o.asset] > 1]
        if owned and self.rng.random() < 0.3:
            outcome = self.rng.choice(owned)
            return self.trade(wallet, outcome=outcome, side="SELL", size=float(held[outcome.asset]) * 0.5)
        return self.trade(wallet, fills=2 if self.rng.random() < 0.15 else 1)

    def of(self, wallet: str) -> list[Fill]:
        with self._lock:
            return [f for f in self.fills if f.wallet == wallet.lower()]

    # --- the shapes the real APIs serve -------------------------------------------------------
    def activity_rows(self, wallet: str, start: int) -> list[dict]:
        return [_activity_row(f) for f in self.of(wallet) if f.ts >= start]

    def transfers(self, wallet: str, start: int, end: int) -> list[dict]:
        return [_transfer_row(f) for f in self.of(wallet) if start <= f.block <= end]

    def usdc_transfers(self, wallet: str, start: int, end: int) -> list[dict]:
        return [_usdc_row(f) for f in self.of(wallet) if start <= f.block <= end]

    def order_filled_logs(self, wallet: str, start: int, end: int) -> list[dict]:
        """The wallet's fills as the CTF Exchange V2's OrderFilled logs, as Etherscan's getLogs lists them."""
        from .sources.orderfilled import log_of

        logs, index = [], Counter()
        for f in self.of(wallet):
            n = index[f.tx]
            index[f.tx] += 1
            if start <= f.block <= end:
                log = log_of(tx=f.tx, log_index=n, block=f.block, maker=f.wallet, taker=EXCHANGE, side=f.side.lower(),
                             token=f.outcome.asset, shares=int(f.size * 10**6), cash=int(f.usdc * 10**6))  # fmt: skip
                logs.append(log | {"timeStamp": hex(f.ts)})
        return logs


def _activity_row(f: Fill) -> dict:
    o = f.outcome
    return {
        "proxyWallet": f.wallet, "timestamp": f.ts, "conditionId": o.condition_id, "type": "TRADE",
        "size": float(f.size), "usdcSize": float(f.usdc), "transactionHash": f.tx, "price": float(f.price),
        "asset": o.asset, "side": f.side, "outcomeIndex": o.outcome_index, "title": o.title, "slug": o.slug,
        "icon": "", "eventSlug": o.event_slug, "outcome": o.outcome, "name": "", "pseudonym": "", "bio": "",
        "profileImage": "", "profileImageOptimized": "",
    }  # fmt: skip


def _common(f: Fill) -> dict:
    return {
        "blockNumber": str(f.block), "timeStamp": str(f.ts), "hash": f.tx, "nonce": "0",
        "blockHash": "0x" + f"{f.block:064x}", "transactionIndex": "1", "gas": "500000", "gasPrice": "30000000000",
        "gasUsed": "250000", "cumulativeGasUsed": "1000000", "input": "deprecated", "confirmations": "12",
    }  # fmt: skip


def _transfer_row(f: Fill) -> dict:
    buying = f.side == "BUY"
    return _common(f) | {
        "contractAddress": CTF, "from": EXCHANGE if buying else f.wallet, "to": f.wallet if buying else EXCHANGE,
        "tokenID": f.outcome.asset, "tokenValue": str(int(f.size * 10**6)), "tokenName": "", "tokenSymbol": "",
    }  # fmt: skip


def _usdc_row(f: Fill) -> dict:
    """The fill's collateral leg: pUSD from the CLOB V2 cutover on, USDC.e before it."""
    buying = f.side == "BUY"
    v2 = f.ts >= settings.POLYMARKET_V2_CUTOVER_TS
    return _common(f) | {
        "contractAddress": PUSD if v2 else USDC_E, "from": f.wallet if buying else EXCHANGE,
        "to": EXCHANGE if buying else f.wallet, "value": str(int(f.usdc * 10**6)),
        "tokenName": "Polymarket USD" if v2 else "USD Coin (PoS)", "tokenSymbol": "pUSD" if v2 else "USDC",
        "tokenDecimal": "6",
    }  # fmt: skip


class _Limit:
    """At most `per_s` requests in any second on one route (0: no limit)."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if self.per_s <= 0:
            return True
        now = time.monotonic()
        with self.lock:
            while self.times and now - self.times[0] >= 1.0:
                self.times.popleft()
            if len(self.times) >= self.per_s:
                return False
            self.times.append(now)
            return True


class SimulatedSourceServer:
    """The chain served over HTTP: `/activity`, `/v2/activity`, `/v2/api` (Etherscan), `/sim/…` controls."""

    def __init__(self, chain: SimulatedChain, *, host: str = "127.0.0.1", port: int = 0,
                 limit_per_s: float = 0.0) -> None:  # fmt: skip
        self.chain = chain
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.faults: dict[str, deque[str]] = {"polymarket": deque(), "etherscan": deque()}
        self.limits = {"polymarket": _Limit(limit_per_s), "etherscan": _Limit(limit_per_s)}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query).items()}
                status, body = server.answer(url.path, params)
                self._send(status, body)

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = server.control(url.path, body)
                self._send(status, answer)

            def _send(self, status: int, body: object) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> "SimulatedSourceServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="simulated-sources", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the APIs ------------------------------------------------------------------------------
    def answer(self, path: str, params: dict) -> tuple[int, object]:
        if path in ("/activity", "/v2/activity"):
            return self._polymarket(path, params)
        if path in ("/v2/api", "/api"):
            return self._etherscan(params)
        return 404, {"error": f"no route {path}"}

    def _polymarket(self, path: str, params: dict) -> tuple[int, object]:
        self.calls[path] += 1
        if not self.limits["polymarket"].allow():
            self.refused[path] += 1
            return 429, {"error": "Too Many Requests"}
        fault = self._fault("polymarket")
        if fault:
            return (429, {"error": "Too Many Requests"}) if fault == "rate_limit" else (500, {"error": "internal"})
        user = params.get("user", "")
        if not user.startswith("0x") or len(user) != 42:
            return 400, {"error": "invalid user address"}
        rows = self.chain.activity_rows(user, int(params.get("start") or 0))
        if params.get("type") and params["type"].upper() != "TRADE":
            rows = []
        descending = (params.get("sortDirection") or params.get("sort_direction") or "DESC").upper() == "DESC"
        rows.sort(key=lambda r: r["timestamp"], reverse=descending)
        if path == "/activity":
            offset, limit = int(params.get("offset") or 0), min(500, int(params.get("limit") or 100))
            return 200, rows[offset : offset + limit]
        limit = min(1000, int(params.get("limit") or 100))
        offset = int(params.get("cursor") or 0)
        page = rows[offset : offset + limit]
        more = offset + limit < len(rows)
        return 200, {"data": page, "pagination": {"next_cursor": str(offset + limit) if more else None,
                                                  "has_more": more}}  # fmt: skip

    def _etherscan(self, params: dict) -> tuple[int, object]:
        action = params.get("action", "")
        self.calls[f"etherscan:{action}"] += 1
        if str(params.get("chainid")) != "137":
            return 200, _notok("Missing or unsupported chainid parameter (required for v2 api)")
        if not self.limits["etherscan"].allow():
            self.refused[f"etherscan:{action}"] += 1
            return 200, _notok("Max rate limit reached, please use API Key for higher rate limit")
        fault = self._fault("etherscan")
        if fault == "rate_limit":
            return 200, _notok("Max rate limit reached, please use API Key for higher rate limit")
        if fault == "daily":
            return 200, _notok("Max daily limit reached. Please upgrade your plan")
        if fault == "error":
            return 200, _notok("Error! Invalid address format")
        if action == "eth_blockNumber":
            return 200, {"jsonrpc": "2.0", "id": 83, "result": hex(block_at(time.time()))}
        if action == "getLogs":  # module=logs: the wallet's OrderFilled logs (topic 2, the maker)
            rows = self.chain.order_filled_logs("0x" + params.get("topic2", "")[-40:], int(params["fromBlock"]),
                                                int(params["toBlock"]))  # fmt: skip
            return 200, ({"status": "1", "message": "OK", "result": rows} if rows else
                         {"status": "0", "message": "No records found", "result": []})  # fmt: skip
        address = params.get("address", "")
        start, end = int(params.get("startblock") or 0), int(params.get("endblock") or 9_999_999_999)
        if action == "token1155tx":
            rows = self.chain.transfers(address, start, end)
        elif action == "tokentx":
            rows = self.chain.usdc_transfers(address, start, end)
        else:
            return 200, _notok("Error! Missing Or invalid Action name")
        page, offset = int(params.get("page") or 1), min(1000, int(params.get("offset") or 1000))
        if page * offset > 10_000:
            return 200, _notok("Result window is too large, PageNo x Offset size must be less than or equal to 10000")
        rows = rows[(page - 1) * offset : page * offset]
        if not rows:
            return 200, {"status": "0", "message": "No transactions found", "result": []}
        return 200, {"status": "1", "message": "OK", "result": rows}

    def _fault(self, api: str) -> str:
        queue = self.faults[api]
        return queue.popleft() if queue else ""

    # --- controls (tests, benchmarks, the demo) ------------------------------------------------------
    def control(self, path: str, body: dict) -> tuple[int, object]:
        if path == "/sim/trade":
            outcome = next((o for o in self.chain.outcomes if o.asset == body.get("asset")), None)
            terms = {"side": body.get("side", "BUY"), "size": body.get("size"), "price": body.get("price")}
            fills = self.chain.trade(body["wallet"], outcome=outcome, fills=int(body.get("fills", 1)), **terms)
            return 200, {"tx": fills[0].tx, "appeared_at": fills[0].appeared_at, "fills": len(fills)}
        if path == "/sim/faults":
            self.faults[body["api"]].extend([body["fault"]] * int(body.get("count", 1)))
            return 200, {"queued": len(self.faults[body["api"]])}
        return 404, {"error": f"no control {path}"}


def _notok(text: str) -> dict:
    return {"status": "0", "message": "NOTOK", "result": text}


def demo_wallets(directory: Path) -> list[tuple[str, str, str]]:
    """(address, label, source) for the demo: the recorded samples' wallets, one per source kind."""
    wallets = []
    for name, label, kind in (("activity_wallet_b.json", "kch123 (sample b)", "polymarket"),
                              ("activity_wallet_a.json", "DEEDDIT (sample a)", "etherscan"),
                              ("trades_wallet_a.json", "CryptoFortunate (sample)", "polymarket_v2")):  # fmt: skip
        path = directory / name
        if path.exists():
            rows = json.loads(path.read_text())
            wallets.append((to_checksum_address(rows[0]["proxyWallet"]), label, kind))
    return wallets


def outcome_symbol(asset: str) -> str:
    """Our symbol for an outcome token: its id's last digits, quoted in USDC (PM12345678USDC)."""
    return f"PM{asset[-8:]}USDC"


def outcome_markets(outcomes: list[Outcome]) -> list[tuple[MarketInfo, str]]:
    """Paper-venue markets for outcome tokens, with the token id each trades (Polymarket's tick and minimum)."""
    return [
        (MarketInfo(outcome_symbol(o.asset), outcome_symbol(o.asset)[:-4], "USDC", Decimal("0.001"),
                    Decimal("0.01"), Decimal("5"), Decimal("1"), Decimal("0"), Decimal("0")), o.asset)
        for o in outcomes
    ]  # fmt: skip


def outcome_book(symbol: str, mid: float, rng: random.Random, ts_ms: int, levels: int = 10) -> OrderBook:
    """A book around `mid` on the 0.001 tick, between 0.001 and 0.999, a few hundred shares a level."""
    tick = Decimal("0.001")
    center = Decimal(str(round(min(0.99, max(0.01, mid)), 3)))
    bids = tuple(
        (center - tick * (i + 1), Decimal(rng.randint(50, 600))) for i in range(levels) if center - tick * (i + 1) > 0
    )
    asks = tuple(
        (center + tick * (i + 1), Decimal(rng.randint(50, 600))) for i in range(levels) if center + tick * (i + 1) < 1
    )
    return OrderBook(symbol, bids, asks, ts_ms)
