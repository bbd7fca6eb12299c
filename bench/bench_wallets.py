"""Copy trading: scan throughput within a source's rate limit, copies across worker kills, detection to copy.

1. `wallets_per_min`, `calls_per_idle_wallet_scan`: --wallets idle wallets on
   the simulated Etherscan (it refuses more than 3 requests a second, like the
   free tier), our limiter at ETHERSCAN_RATE_PER_S = 3; four threads claim
   due wallets and scan them for --scan-seconds. `source_refusals` counts
   requests the source refused (0 when the limiter held).
2. `duplicate_copies`: real Celery workers copy --chaos-wallets wallets
   trading on the simulated Polymarket API (v1 and v2) while the worker is
   SIGKILLed --kills times, at failpoints in the middle of scans and copies
   (fills inserted not committed; a position recorded, its entry not placed;
   an order recorded, not sent; sent, its answer not recorded) or at random.
   Then every fill is checked: stored once, and copied by at most one order
   per position (and no venue order without its row here). Ticks are sent the
   way beat sends them, to a broker of the bench's own.
3. `detect_to_copy_ms` p50/p95: from a fill appearing at the simulated source
   to its copy's order sent to the venue, with one worker and the default
   scan intervals (active wallets every WALLET_SCAN_ACTIVE_S, ticks every
   WALLET_TICK_S).
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from django.conf import settings

ACCOUNT = "bench-wallets"
QUICK = {"ORDER_SUBMIT_STALE_S": "1", "ORDER_UNKNOWN_GRACE_S": "1", "ORDER_UNKNOWN_MIN_MISSES": "2",
         "PAPER_FAULTS_CACHE_S": "0", "COPY_PENDING_RETRY_S": "3", "WALLET_SCAN_LEASE_S": "5"}  # fmt: skip
POINTS = ("wallet.before_commit", "position.before_entry", "order.before_submit", "order.after_submit", "random")


def _address(rng: random.Random) -> str:
    from wallets.addresses import to_checksum_address

    return to_checksum_address("0x" + f"{rng.getrandbits(160):040x}")


def _chain(seed: int):
    from wallets.simulated import SimulatedChain, sample_outcomes

    return SimulatedChain(sample_outcomes(settings.SHARED_DATA_DIR / "polymarket"), rng=random.Random(seed))


def _drop_wallets(prefix: str) -> None:
    from wallets.models import CopyTrade, WalletTrade, WatchedWallet

    wallets = WatchedWallet.objects.filter(label__startswith=prefix)
    CopyTrade.objects.filter(wallet_trade__wallet__in=wallets).delete()
    WalletTrade.objects.filter(wallet__in=wallets).delete()
    wallets.delete()


def _clean() -> None:
    from bench.common import drop_account
    from exchanges.marketdata import MarketDataSnapshot
    from orders.models import Order
    from wallets.models import CopyTrade

    Order.objects.filter(exchange__name=ACCOUNT).update(copy_trade=None)
    CopyTrade.objects.filter(position__exchange__name=ACCOUNT).update(position=None, order=None)
    _drop_wallets("bench ")
    drop_account(ACCOUNT)
    MarketDataSnapshot(ACCOUNT).clear()


# --- 1. scan throughput ------------------------------------------------------------------------
def scan_throughput(n_wallets: int, seconds: float, seed: int) -> dict:
    from wallets import scanning
    from wallets.models import WatchedWallet
    from wallets.simulated import SimulatedSourceServer
    from wallets.sources import source_for, source_limiter

    rng = random.Random(seed)
    server = SimulatedSourceServer(_chain(seed), limit_per_s=3).start()
    settings.ETHERSCAN_API_URL = f"{server.url}/v2/api"
    settings.WALLET_SOURCE_RATE_PER_S = {**settings.WALLET_SOURCE_RATE_PER_S, "etherscan": 3.0}
    source_limiter("etherscan").reset()
    present = source_for("etherscan").present_cursor("0x" + "0" * 40)
    WatchedWallet.objects.bulk_create([
        WatchedWallet(address=_address(rng), label=f"bench scan {i}", source="etherscan", cursor=present,
                      next_scan_at=None) for i in range(n_wallets)
    ])  # fmt: skip
    among = list(WatchedWallet.objects.filter(label__startswith="bench scan ").values_list("pk", flat=True))
    scans, calls, errors = Counter(), Counter(), Counter()
    stop = threading.Event()

    def scanner(name: str) -> None:
        source = source_for("etherscan")  # one pooled session per thread, one shared budget
        while not stop.is_set():
            claimed = scanning.wallets_claim_due(limit=1, among=among)
            if not claimed:
                time.sleep(0.05)
                continue
            outcome = scanning.wallet_scan(wallet_id=claimed[0], source=source)
            scans[name] += 1
            calls[name] += outcome.calls
            errors[name] += bool(outcome.error)

    threads = [threading.Thread(target=scanner, args=(f"t{i}",), daemon=True) for i in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    server.stop()
    _drop_wallets("bench scan ")
    total = sum(scans.values())
    return {
        "wallets_per_min": round(total / elapsed * 60, 1),
        "calls_per_idle_wallet_scan": round(sum(calls.values()) / total, 3) if total else None,
        "scan_source_limit_per_s": 3,
        "scan_wallets": n_wallets,
        "scan_seconds": round(elapsed, 1),
        "scans": total,
        "scan_errors": sum(errors.values()),
        "source_refusals": sum(server.refused.values()),
    }


# --- 2 and 3: real workers ---------------------------------------------------------------------------
class _Market(threading.Thread):
    """Books on the bench account's outcome markets, moving with the chain's fills, like run_wallet_sources."""

    def __init__(self, chain) -> None:
        super().__init__(daemon=True)
        from wallets.demo import OutcomeBooks

        self.books, self.stopped = OutcomeBooks(ACCOUNT, chain, random.Random(3)), threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.3):
            self.books.publish()


class _Beat(threading.Thread):
    """What beat sends, every second: wallet ticks (for the bench's wallets only), position ticks, the sweep."""

    def __init__(self, wallets: list) -> None:
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.among = [w.pk for w in wallets]

    def run(self) -> None:
        from tradingsite.celery import app

        while not self.stopped.is_set():
            app.send_task("wallets.tick", kwargs={"among": self.among}, queue="scanning",
                          expires=settings.WALLET_TICK_S * 2)  # fmt: skip
            for name in ("positions.tick", "orders.sweep_overdue"):
                app.send_task(name, queue="monitoring", expires=settings.WALLET_TICK_S * 2)
            self.stopped.wait(settings.WALLET_TICK_S)


def _setup_copying(chain, n_wallets: int, rng: random.Random, label: str) -> list:
    from wallets.demo import outcome_account
    from wallets.services import wallet_create

    exchange, _ = outcome_account(ACCOUNT, chain.outcomes, usdc=Decimal(1_000_000))
    kinds = ["polymarket", "polymarket_v2"]
    return [
        wallet_create(address=_address(rng), label=f"{label} {i}", source=kinds[i % 2], copy_exchange=exchange,
                      copy_enabled=True, risk_pct=Decimal(1), stop_loss_pct=Decimal(10),
                      max_position_size=Decimal(100), take_profit_ladder=[{"pct": 50, "fraction": 1}])
        for i in range(n_wallets)
    ]  # fmt: skip


def _worker(name: str, env: dict):
    """A worker on every queue copying touches (scans, copies, order and position monitoring), started."""
    from bench.common import celery_worker

    return celery_worker(name, queues="scanning,execution,monitoring", concurrency=4, env=env).start()


def _worker_env(server, broker: str) -> dict:
    return QUICK | {"CELERY_BROKER_URL": broker, "POLYMARKET_DATA_API_URL": server.url, "POLYMARKET_RATE_PER_S": "50"}


def _streamer(chain, env: dict, name: str = "wallet-stream", node=None):
    """`manage.py run_wallet_stream` on a node emulator serving `chain`'s fills (started; subscribed)."""
    import sys

    from bench.common import Service, wait_until
    from bench.polygon_node import PolygonNode

    node = node or PolygonNode(chain)
    before = node.calls["eth_subscribe"]
    streamer = Service(name, [sys.executable, "manage.py", "run_wallet_stream", "--url", node.url],
                       ready="listening", env=env).start()  # fmt: skip
    wait_until(lambda: node.calls["eth_subscribe"] > before or streamer.proc.poll() is not None, 30)
    return node, streamer


def copies_across_kills(n_wallets: int, kills: int, seed: int, broker: str, log, extra_env: dict | None = None,
                        *, stream: bool = False, settle_s: float = 90.0) -> dict:  # fmt: skip
    """Part 2; `extra_env` reaches the workers (the test suite points them at its database). With `stream`, the
    wallet stream runs too and is SIGKILLed with the worker each time (its own failpoint among the points)."""
    from bench.common import wait_until
    from exchanges.models import PaperOrder
    from orders.models import Order
    from positions.models import Position
    from wallets.models import CopyTrade, WalletTrade
    from wallets.simulated import SimulatedSourceServer

    rng = random.Random(seed)
    chain = _chain(seed)
    server = SimulatedSourceServer(chain).start()
    wallets = _setup_copying(chain, n_wallets, rng, "bench chaos")
    env = _worker_env(server, broker) | (extra_env or {})
    market, beat = _Market(chain), _Beat(wallets)
    market.start()
    beat.start()
    trading = threading.Event()

    def trader() -> None:
        while not trading.wait(rng.uniform(0.05, 0.3)):
            chain.random_trade(rng.choice(wallets).address)

    worker = _worker("wallets-chaos", env)
    node = streamer = None
    if stream:
        node, streamer = _streamer(chain, env)
    points = (*POINTS, "wallet.stream_before_commit") if stream else POINTS
    threading.Thread(target=trader, daemon=True).start()
    by_point: Counter[str] = Counter()
    try:
        for k in range(kills):
            point = rng.choice(points)
            worker.kill()
            armed = {} if point == "random" else {"FAILPOINTS": f"{point}@{rng.randint(1, 3)}"}
            if stream:
                streamer.kill()
                _, streamer = _streamer(chain, env | armed, f"wallet-stream{k}", node)
            worker = _worker(f"wallets-chaos{k}", env | armed)
            died = wait_until(lambda w=worker, s=streamer: w.proc.poll() is not None
                              or (s is not None and s.proc.poll() is not None), rng.uniform(4, 8))  # fmt: skip
            by_point[point if died or point == "random" else f"{point} (not reached)"] += 1
            log(f"kill {k + 1}/{kills}: {point} {'killed it' if died else 'then killed at random'}")
        trading.set()
        worker.kill()
        worker = _worker("wallets-chaos-final", env)
        if stream:
            streamer.kill()
            _, streamer = _streamer(chain, env, "wallet-stream-final", node)
        made = {w.pk: sum(1 for f in chain.of(w.address) if f.ts >= int(w.created_at.timestamp())) for w in wallets}
        stored = lambda: Counter(WalletTrade.objects.filter(wallet__in=wallets).values_list("wallet_id", flat=True))  # noqa: E731
        unsettled = CopyTrade.objects.filter(wallet_trade__wallet__in=wallets, status__in=["PENDING", "SUBMITTED"])
        settled = wait_until(lambda: stored() == Counter({k: v for k, v in made.items() if v})
                             and not unsettled.exists(), settle_s)  # fmt: skip
        stall = None if settled else _stall_report(worker)
    finally:
        worker.kill()
        beat.stopped.set()
        market.stopped.set()
        server.stop()
        if stream:
            streamer.kill()
            node.close()
    copies = CopyTrade.objects.filter(wallet_trade__wallet__in=wallets)
    placed = Order.objects.filter(copy_trade__in=copies)
    entries = Counter(placed.filter(intent__endswith="-entry").values_list("copy_trade_id", flat=True))
    reduces = Counter(placed.filter(intent__contains="-reduce").values_list("copy_trade_id", "position_id"))
    duplicates = sum(n - 1 for n in [*entries.values(), *reduces.values()] if n > 1)
    details = [
        f"copy {c}: {list(placed.filter(copy_trade_id=c).values_list('intent', 'status', 'filled', 'position_id'))}"
        for c in {*(c for c, n in entries.items() if n > 1), *(c for (c, _), n in reduces.items() if n > 1)}
    ]
    ours = set(Order.objects.filter(exchange__name=ACCOUNT).values_list("client_order_id", flat=True))
    orphans = PaperOrder.objects.filter(exchange__name=ACCOUNT).exclude(client_order_id__in=ours).count()
    on_venue = Counter(PaperOrder.objects.filter(exchange__name=ACCOUNT).values_list("client_order_id", flat=True))
    twice = sum(n - 1 for n in on_venue.values() if n > 1)
    unlinked = Position.objects.filter(exchange__name=ACCOUNT, source="copy", copies=None).count()
    stored_now = stored()
    return {
        "duplicate_copies": duplicates + twice,
        "orphan_venue_orders": orphans,
        "copy_positions_without_their_copy": unlinked,
        "fills_made": sum(made.values()),
        "fills_stored": sum(stored_now.values()),
        "fills_missed": sum(max(0, made[w] - stored_now.get(w, 0)) for w in made),
        "settled": settled,
        "settle_s": settle_s,
        "kills": kills,
        "kills_by_point": dict(by_point),
        "copies_by_status": dict(Counter(copies.values_list("status", flat=True))),
        "copies_unsettled_why": Counter(
            (status, (error or reason).rsplit("; ", 1)[-1][:120])  # how it ended: the reason's last clause
            for status, error, reason in copies.filter(status__in=["PENDING", "FAILED"]).values_list(
                "status", "last_error", "reason"
            )
        ).most_common(3),
        "copies_unsettled_detail": [
            (
                c.pk,
                c.status,
                c.wallet_trade.side,
                c.errors_in_a_row,
                str(c.retry_at),
                c.reason[:80],
                list(placed.filter(copy_trade=c).values_list("status", "intent")),
            )
            for c in copies.filter(status__in=["PENDING", "SUBMITTED"]).select_related("wallet_trade")[:6]
        ],
        "duplicate_details": details[:10],
        "stall_report": stall,
    }


def _stall_report(worker) -> str:
    """When copies did not settle: where the final worker's processes are (py-spy, if installed), how long its log
    has been quiet, and what the database is waiting on, written to var/bench-wallets-stall.txt (its path)."""
    import shutil
    import subprocess

    from django.db import connection

    path = Path(settings.BASE_DIR) / "var" / "bench-wallets-stall.txt"
    lines = [f"final worker log quiet for {time.time() - worker.log.stat().st_mtime:.1f} s"]
    with connection.cursor() as cur:
        cur.execute("SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 200) "
                    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
        lines += [" | ".join(map(str, row)) for row in cur.fetchall()]
    import redis

    from core.schedule import QUEUES

    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])  # isolated_broker(): the bench's own
    lines.append("broker: " + ", ".join(f"{q} waiting {broker.llen(q)}" for q in QUEUES)
                 + f"; unacked {broker.hlen('unacked')}, unacked_index {broker.zcard('unacked_index')}")  # fmt: skip
    from tradingsite.celery import app

    with app.producer_or_acquire() as producer:  # where this process's beat ticks go: the workers' broker, or not
        sends_to, workers_read = producer.connection.as_uri(), os.environ["CELERY_BROKER_URL"]
        lines.append(f"this process sends to {sends_to}; the workers read {workers_read}")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if Path(spy).exists() and worker.proc is not None:
        children = subprocess.run(["pgrep", "-g", str(worker.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            dump = subprocess.run([spy, "dump", "--pid", pid], capture_output=True, text=True, timeout=30)
            lines += [f"== py-spy dump {pid}", dump.stdout or dump.stderr]
    else:
        lines.append("py-spy not installed (pip install py-spy): no stacks")
    path.write_text("\n".join(lines) + "\n")
    return str(path.relative_to(settings.BASE_DIR))


def detect_to_copy(n_wallets: int, samples: int, seed: int, broker: str, log, *, stream: bool = False) -> dict:
    """Part 3; with `stream`, `manage.py run_wallet_stream` also runs, on a node emulator serving the same chain's
    fills as OrderFilled logs (bench/polygon_node.py), beside the polling sources."""
    from bench.common import wait_until
    from orders.models import Order
    from wallets.models import WatchedWallet
    from wallets.simulated import SimulatedSourceServer

    rng = random.Random(seed + 1)
    chain = _chain(seed + 1)
    server = SimulatedSourceServer(chain).start()
    wallets = _setup_copying(chain, n_wallets, rng, "bench latency")
    env = _worker_env(server, broker)
    env.pop("WALLET_SCAN_LEASE_S", None)
    node = streamer = None
    if stream:
        node, streamer = _streamer(chain, env)
    market, beat = _Market(chain), _Beat(wallets)
    market.start()
    beat.start()
    worker = _worker("wallets-latency", env)
    latencies, missed, fills = [], 0, []
    try:
        for w in wallets:  # one fill each first, so every wallet is active (scanned every WALLET_SCAN_ACTIVE_S)
            chain.trade(w.address, side="BUY")
        wait_until(lambda: WatchedWallet.objects.filter(pk__in=[w.pk for w in wallets], scan_tier="active").count()
              == len(wallets), 120)  # fmt: skip
        for i in range(samples):
            wallet = rng.choice(wallets)
            fill = chain.trade(wallet.address, side="BUY", size=20.0)[0]
            fills.append((wallet, fill))
            sent = lambda f=fill, w=wallet: Order.objects.filter(  # noqa: E731
                copy_trade__wallet_trade__wallet=w, copy_trade__wallet_trade__tx_hash=f.tx,
                submitted_at__isnull=False).values_list("submitted_at", flat=True).first()  # fmt: skip
            if wait_until(lambda s=sent: s() is not None, 30):
                latencies.append((sent().timestamp() - fill.appeared_at) * 1000)
                log(f"sample {i + 1}/{samples}: {latencies[-1]:.0f} ms")
            else:
                missed += 1  # counted in detect_to_copy_missed, never fatal
                log(f"sample {i + 1}/{samples}: missed (no copy placed within 30 s)")
            time.sleep(rng.uniform(0.2, 1.0))
        wait_until(lambda: False, 3.0)  # the pollers' next scans of the last samples: nothing more may be copied
        duplicates = sum(max(0, Order.objects.filter(copy_trade__wallet_trade__wallet=w,
                                                     copy_trade__wallet_trade__tx_hash=f.tx).count() - 1)
                         for w, f in fills)  # fmt: skip
    finally:
        worker.kill()
        beat.stopped.set()
        market.stopped.set()
        server.stop()
        if streamer is not None:
            streamer.stop()
            node.close()
    latencies.sort()
    return {
        "detect_to_copy_duplicate_copies": duplicates,
        "detect_to_copy_source": "stream and polling" if stream else "polling",
        "detect_to_copy_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "detect_to_copy_ms_p95": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 1) if latencies else None,
        "detect_to_copy_samples": len(latencies),
        "detect_to_copy_missed": missed,
        "scan_active_s": settings.WALLET_SCAN_ACTIVE_S,
        "tick_s": settings.WALLET_TICK_S,
    }


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py wallets")
    parser.add_argument("--wallets", type=int, default=400, help="idle wallets for the scan-throughput part")
    parser.add_argument("--scan-seconds", type=float, default=40.0)
    parser.add_argument("--chaos-wallets", type=int, default=20)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--latency-wallets", type=int, default=10)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parts", default="scan,kills,latency", help="which parts to run (comma-separated)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    from bench.common import isolated_broker
    from tradingsite.celery import app

    def log(line: str) -> None:
        print(line, flush=True)

    broker = isolated_broker()
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    _clean()
    try:
        result = {}
        if "scan" in parts:
            result |= scan_throughput(args.wallets, args.scan_seconds, args.seed)
            log(f"scan throughput: {result}")
        if "kills" in parts:
            result |= copies_across_kills(args.chaos_wallets, args.kills, args.seed, broker, log)
            _clean()
        if "latency" in parts:
            result |= detect_to_copy(args.latency_wallets, args.samples, args.seed, broker, log)
    finally:
        app.conf.task_always_eager = eager
        _clean()
    return result
