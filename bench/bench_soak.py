"""Soak figures: memory, file descriptors and Redis keys stay flat while the whole platform works hard.

The platform as `make run` starts it (bench/live.py: supervisord over the Procfile) on a PostgreSQL cluster
and a Redis server of the bench's own, accelerated: the simulator opening `--mispricing-rate` mispricings a
minute, `--positions` open positions watched on the paper account, and `--wallets` watched wallets trading
every `--trade-every` seconds (each fill a copy). Every `--sample-s` seconds each supervised process is
sampled (its resident memory and open file descriptors, with its children: the Celery worker's pool, the
gunicorn workers) and Redis's key count; the series, each member of each process too, is left in
var/bench-soak/samples.json.

rss_growth_pct (the largest over processes), fd_growth, redis_keys_growth_pct
    From the first sample after `--warmup-minutes` to the last one, at the end of `--minutes`.
pss_growth_pct
    The same for the proportional set size, which divides the pages the Celery worker's forked pool processes
    share with their parent among them: RSS counts each shared page once in every process. Growing PSS
    means pages became private to one process (copy-on-write after a write, a reference count included).
"""

import argparse
import json
import os
import random
import time
from decimal import Decimal
from pathlib import Path

D = Decimal


def _tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def _kb(path: str, field: str) -> int:
    text = Path(path).read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith(field)))


def _sample(pid: int) -> tuple[int, int, dict[int, tuple[int, int, int]], int]:
    """(resident kB, open fds) of the process with its children, each member's own (rss, fds, pss), and the
    tree's proportional set size (kB): a forked pool's children share their parent's pages, which RSS counts
    once in each of them and PSS divides among them."""
    rss = fds = pss = 0
    members = {}
    for member in _tree(pid):
        try:
            own_rss = _kb(f"/proc/{member}/status", "VmRSS:")
            own_pss = _kb(f"/proc/{member}/smaps_rollup", "Pss:")
            own_fds = len(os.listdir(f"/proc/{member}/fd"))
        except (OSError, StopIteration):
            continue
        rss, fds, pss = rss + own_rss, fds + own_fds, pss + own_pss
        members[member] = (own_rss, own_fds, own_pss)
    return rss, fds, members, pss


def _seed(positions: int, wallets: int) -> None:
    from exchanges.models import Exchange, Market
    from positions.models import Position, PositionPhase, TakeProfitLevel
    from wallets.models import WatchedWallet
    from wallets.services import wallet_create

    paper = Exchange.objects.get(name="paper")
    markets = list(Market.objects.filter(exchange=paper, active=True, quote="USDT")[:50])
    rows = Position.objects.bulk_create([
        Position(exchange=paper, market=markets[i % len(markets)], phase=PositionPhase.MONITORING, entry_price=D(1),
                 cost_basis=D(1), amount=D(1), remaining=D(1), stop_loss=D("0.00000001"),
                 next_check_at=paper.created_at)
        for i in range(positions)
    ])  # fmt: skip
    TakeProfitLevel.objects.bulk_create(
        [TakeProfitLevel(position=p, index=1, price=D("100000000"), fraction=D(1)) for p in rows]
    )
    copy_account = Exchange.objects.get(name="polymarket-paper")
    rng = random.Random(5)
    for _ in range(wallets - WatchedWallet.objects.count()):
        wallet_create(address="0x" + "".join(rng.choice("0123456789abcdef") for _ in range(40)),
                      label="soak", copy_enabled=True, copy_exchange=copy_account)  # fmt: skip


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--wallets", type=int, default=50)
    parser.add_argument("--mispricing-rate", type=float, default=20.0)
    parser.add_argument("--trade-every", type=float, default=20.0, help="mean seconds between a wallet's fills")
    args = parser.parse_args(argv)
    from bench.live import start_on_private_servers
    from core.redis_client import redis_client

    _, platform = start_on_private_servers(
        "soak", {"SIMULATOR_MISPRICING_RATE": str(args.mispricing_rate), "WALLET_TRADE_EVERY_S": str(args.trade_every)},
        seed=lambda: _seed(args.positions, args.wallets),
    )  # fmt: skip
    samples: list[dict] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < args.minutes * 60:
            status = platform.status()
            sample = {"t": round(time.monotonic() - started), "redis_keys": redis_client().dbsize()}
            for name, (state, pid) in status.items():
                if state == "RUNNING" and pid:
                    sample[name] = _sample(pid)
            samples.append(sample)
            time.sleep(args.sample_s)
        final_status = platform.status()
    finally:
        platform.stop()
        # The whole series, each process's members too, to see which one grows and when.
        (platform.dir / "samples.json").write_text(json.dumps(samples))
    warm = next((s for s in samples if s["t"] >= args.warmup_minutes * 60), samples[0])
    last = samples[-1]
    names = [n for n in warm if n not in ("t", "redis_keys") and n in last]
    growth = {n: round((last[n][0] - warm[n][0]) / warm[n][0] * 100, 2) for n in names}
    pss_growth = {n: round((last[n][3] - warm[n][3]) / warm[n][3] * 100, 2) for n in names}
    fd_growth = {n: last[n][1] - warm[n][1] for n in names}
    from cycles.models import Cycle
    from wallets.models import CopyTrade

    return {
        "rss_growth_pct": max(growth.values()), "rss_growth_pct_by_process": growth,
        "rss_kb_after_warmup": {n: warm[n][0] for n in names}, "rss_kb_at_end": {n: last[n][0] for n in names},
        "pss_growth_pct": max(pss_growth.values()), "pss_growth_pct_by_process": pss_growth,
        "fd_growth": max(fd_growth.values()), "fd_growth_by_process": fd_growth,
        "redis_keys_growth_pct": round((last["redis_keys"] - warm["redis_keys"]) / max(1, warm["redis_keys"]) * 100,
                                       2),
        "redis_keys": [warm["redis_keys"], last["redis_keys"]],
        "restarts": platform.log_text().count(" exited: "),
        "processes_running_at_end": sum(1 for state, _ in final_status.values() if state == "RUNNING"),
        "minutes": args.minutes, "samples": len(samples), "cycles": Cycle.objects.count(),
        "copies": CopyTrade.objects.count(),
    }  # fmt: skip
