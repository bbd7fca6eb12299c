"""Cycle figures, each against the older approach measured in the same run.

scan_full_ms_2020 / _2023
    Median time to score every directed triangle (numpy over the prebuilt
    table) of the real 2020 snapshot, and of the 2023 market list (TRADING
    symbols; prices synthesized from random asset values with 5-50 bps
    spreads, seeded). The table is built once per market set
    (`table_build_ms_*`, reported apart).
networkx_speedup
    The older approach: NetworkX `simple_cycles(G, length_bound=3)` on the
    directed market graph, keeping the 3-cycles and scoring each in Python,
    divided by our full scan, same data (2020), same run.
rescore_one_ticker_us
    Median time to apply one ticker update and re-score the triangles it
    touches (2020 table, random markets).
route_p95_ms, route_found_rate, route_optimal_rate
    500 random liquidations on the 2020 graph (random asset, 20-5000 USDT
    worth, max_hops 4, base currencies USDT and USDC) with 20-level books
    (the built-in geometric depth profile around each real ticker).
    Found/optimal are against an exhaustive search of every route within
    the hop bound: found = cases we route / cases that have a route;
    optimal = cases whose route equals the exhaustive best.
reserve_tps, reserve_vs_raw
    cycle_reserve transactions a second from 8 processes (each its own
    Django and connection; the limit set high enough that every attempt is
    granted, so about TTL x rate live reservations are counted each time),
    against raw psycopg `SELECT ... FOR UPDATE` + `INSERT` transactions on
    one row from 8 client processes, same run and duration. The same raw
    transaction from 8 threads of one process is reported beside it
    (`raw_for_update_insert_threads_tps`): the GIL serializes those clients'
    Python, which leaves the two cores to PostgreSQL.
tick_to_first_order_ms_p50 / _p99
    The platform's own processes on a fresh paper account (2020 markets):
    `manage.py run_scanner` and a Celery worker (2 prefork children,
    queues execution and monitoring), with this process as the simulator
    (every market moved every 250 ms, no random mispricings). Each sample
    opens one mispricing (100 bps either way, on one of the `MISPRICED`
    markets) and
    publishes that tick; the figure is from that tick's timestamp to the
    paper venue's record of the cycle's first order (leg 1 submitted).
    The sample then closes the mispricing and waits for the cycle to end.
    `tick_to_reservation_ms_p50` is the scanner's share (the slot reserved);
    `tick_to_first_order_missed` counts mispricings that opened no cycle
    within 5 s; `tick_cycles_opened` / `_completed` what the samples traded.
    `tick_where_the_time_goes_p50_ms` says when, after the tick's publication, the scanner picked the tick
    up, scored it, had the three books, walked them, reserved the slot and created the cycle, and sent leg 1
    (SCANNER_PLACES_FIRST_LEG, on by default; false leaves leg 1 to the worker, to compare). `tick_slowest`: the
    three slowest cycles' marks (a candidate tried earlier in the same pass counts in the later one's).
demo_cycles_completed
    The processes `make run` starts (supervisord over the Procfile: web, worker, beat, simulator, scanner,
    sources, feeds) with the demo accounts and strategy, for --demo-minutes (5): cycles completed, cycles
    that ended otherwise, and the seconds until the first completed. `--parts tick,demo` runs just these.
reserve_violations
    32 processes make 10,000 reservation attempts against a limit of 5
    slots (1 s TTL); afterwards the largest number of reservations alive at
    any instant, minus the limit (0 means never exceeded).
"""

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import networkx as nx
import psycopg
from django.conf import settings

from bench.common import dsn
from cycles.detection import TriangleScorer, triangle_table
from exchanges.binance_format import parse_exchange_info, parse_tickers
from exchanges.depth_profile import FALLBACK, shape_book
from exchanges.types import Ticker
from liquidation.routing import RoutePolicy, Router

D = Decimal


def _load(name: str):
    return json.loads((Path(settings.SHARED_DATA_DIR) / "binance" / name).read_text())


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def networkx_scan(markets, tickers, fee: float) -> list:
    """The older way: enumerate 3-cycles with NetworkX on every scan, score each in Python."""
    quotes = {t.symbol: t for t in tickers}
    g = nx.DiGraph()
    for m in markets:
        t = quotes.get(m.symbol)
        if t is None:
            continue
        g.add_edge(m.quote, m.base, rate=1 / float(t.ask) * (1 - fee))
        g.add_edge(m.base, m.quote, rate=float(t.bid) * (1 - fee))
    scored = []
    for cycle in nx.simple_cycles(g, length_bound=3):
        if len(cycle) != 3:
            continue
        a, b, c = cycle
        scored.append((cycle, g[a][b]["rate"] * g[b][c]["rate"] * g[c][a]["rate"]))
    return scored


def synthesized_tickers(markets, seed: int) -> list[Ticker]:
    rng = random.Random(seed)
    value = {}
    for m in markets:
        for a in (m.base, m.quote):
            value.setdefault(a, math.exp(rng.uniform(-6, 8)))
    result = []
    for m in markets:
        mid = value[m.base] / value[m.quote]
        half = rng.uniform(0.0005, 0.005) / 2
        result.append(Ticker(m.symbol, D(f"{mid * (1 - half):.10g}"), D(1), D(f"{mid * (1 + half):.10g}"), D(1), 0))
    return result


def bench_detection(seed: int) -> dict:
    markets20 = parse_exchange_info(_load("exchange_info_2020-10-09.json"))
    tickers20 = parse_tickers(_load("ticker_24hr_2020-10-09.json"), ts_ms=0)
    markets23 = parse_exchange_info(_load("exchange_info_2023-09-08.json"))
    tickers23 = synthesized_tickers(markets23, seed)
    results = {}
    for label, markets, tickers in (("2020", markets20, tickers20), ("2023", markets23, tickers23)):
        started = time.perf_counter()
        table = triangle_table(markets)
        results[f"table_build_ms_{label}"] = round((time.perf_counter() - started) * 1000, 1)
        scorer = TriangleScorer(table, fee=0.001)
        scorer.load(tickers)
        results[f"scan_full_ms_{label}"] = round(_median_ms(scorer.score_all, 50), 3)
        results[f"triangles_{label}"] = len(table)
        results[f"markets_{label}"] = len(table.markets)
        if label == "2020":
            scorer20, tickers20_used = scorer, tickers
    nx_ms = _median_ms(lambda: networkx_scan(markets20, tickers20, 0.001), 3)
    results["networkx_scan_ms_2020"] = round(nx_ms, 1)
    results["networkx_speedup"] = round(nx_ms / results["scan_full_ms_2020"], 1)
    rng = random.Random(seed)
    samples = []
    for k in range(3000):
        t = rng.choice(tickers20_used)
        update = Ticker(t.symbol, t.bid, t.bid_size, t.ask, t.ask_size, k)
        started = time.perf_counter()
        scorer20.update([update])
        samples.append((time.perf_counter() - started) * 1e6)
    results["rescore_one_ticker_us"] = round(statistics.median(samples), 1)
    return results


def bench_routing(cases: int, seed: int) -> dict:
    markets = parse_exchange_info(_load("exchange_info_2020-10-09.json"))
    tickers = parse_tickers(_load("ticker_24hr_2020-10-09.json"), ts_ms=0)
    by_symbol = {m.symbol: m for m in markets}
    router = Router(markets)
    router.set_books(shape_book(t, FALLBACK, price_step=by_symbol[t.symbol].price_step, depth=20)
                     for t in tickers if t.symbol in by_symbol)  # fmt: skip
    usdt = {t.symbol[:-4]: float(t.bid) for t in tickers if t.symbol.endswith("USDT")}
    candidates = sorted(a for a in router.assets if a in usdt and a not in ("USDT", "USDC"))
    policy = RoutePolicy(base_currencies=["USDT", "USDC"], max_hops=4, preferred_intermediaries=["BTC", "ETH", "BNB"])
    rng = random.Random(seed)
    times, routable, found, optimal = [], 0, 0, 0
    for _ in range(cases):
        asset = rng.choice(candidates)
        amount = rng.uniform(20, 5000) / usdt[asset]
        started = time.perf_counter()
        ours = router.route(asset, amount, policy).route
        times.append((time.perf_counter() - started) * 1000)
        best = router.route(asset, amount, policy, exhaustive=True).route
        if best is not None:
            routable += 1
            found += ours is not None
            optimal += ours is not None and ours.path == best.path
    times.sort()
    return {
        "route_p50_ms": round(times[len(times) // 2], 3),
        "route_p95_ms": round(times[int(len(times) * 0.95)], 3),
        "route_cases": cases,
        "route_cases_with_a_route": routable,
        "route_found_rate": round(found / routable, 4) if routable else None,
        "route_optimal_rate": round(optimal / routable, 4) if routable else None,
        "route_levels_per_book": 20,
    }


CHILD = """
import json, sys, time
mode, target, n = sys.argv[1], sys.argv[2], float(sys.argv[3])
done = refused = 0
if mode == "raw":
    import psycopg
    with psycopg.connect(target) as conn:
        sys.stdin.readline()
        end = time.monotonic() + n
        while time.monotonic() < end:
            with conn.transaction():
                conn.execute("SELECT n FROM bench_slot WHERE id = 1 FOR UPDATE").fetchone()
                conn.execute("INSERT INTO bench_slot_hold (slot, at) VALUES (1, now())")
            done += 1
    print(json.dumps([done, refused]))
    sys.exit()
import django
django.setup()
from django.db import connection
from cycles.errors import ReservationLimitReached
from cycles.reservations import cycle_reserve
strategy_id = int(target)
connection.ensure_connection()  # connect before the gun, as the raw clients do
sys.stdin.readline()
if mode == "timed":
    end = time.monotonic() + n
    while time.monotonic() < end:
        cycle_reserve(strategy_id=strategy_id)
        done += 1
else:
    for _ in range(int(n)):
        try:
            cycle_reserve(strategy_id=strategy_id)
            done += 1
        except ReservationLimitReached:
            refused += 1
print(json.dumps([done, refused]))
"""


def _children(count: int, *args) -> list:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tradingsite.settings", DB_POOL_SIZE="0")
    command = [sys.executable, "-c", CHILD, *map(str, args)]
    procs = [
        subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in range(count)
    ]
    time.sleep(3.0)  # let every child start Django before the gun
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return [json.loads(p.communicate(timeout=300)[0].strip().splitlines()[-1]) for p in procs]


def _raw_threads(count: int, seconds: float) -> float:
    counts = [0] * count
    barrier = threading.Barrier(count + 1)

    def raw(k: int) -> None:
        with psycopg.connect(dsn()) as conn:
            barrier.wait()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                with conn.transaction():
                    conn.execute("SELECT n FROM bench_slot WHERE id = 1 FOR UPDATE").fetchone()
                    conn.execute("INSERT INTO bench_slot_hold (slot, at) VALUES (1, now())")
                counts[k] += 1

    threads = [threading.Thread(target=raw, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def bench_reservations(seconds: float) -> dict:
    from cycles.models import Reservation, Strategy
    from exchanges.models import Exchange

    exchange, _ = Exchange.objects.get_or_create(name="bench-cycles")
    Strategy.objects.filter(name__startswith="bench-reserve").delete()
    big = Strategy.objects.create(name="bench-reserve-tps", exchange=exchange, trade_amount=100,
                                  max_open_cycles=10**9, reservation_ttl_s=1)  # fmt: skip
    outcomes = _children(8, "timed", big.pk, seconds)
    reserve_tps = sum(d for d, _ in outcomes) / seconds
    Reservation.objects.filter(strategy=big).delete()
    # Raw PostgreSQL: SELECT ... FOR UPDATE + INSERT on one row, 8 client processes as
    # above, same duration; and the same from 8 threads of one process, for reference.
    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_slot; DROP TABLE IF EXISTS bench_slot_hold")
        conn.execute("CREATE TABLE bench_slot (id int PRIMARY KEY, n int); INSERT INTO bench_slot VALUES (1, 0)")
        conn.execute("CREATE TABLE bench_slot_hold (id bigserial PRIMARY KEY, slot int, at timestamptz)")
    raw_tps = sum(d for d, _ in _children(8, "raw", dsn(), seconds)) / seconds
    raw_threads_tps = _raw_threads(8, seconds)
    with psycopg.connect(dsn(), autocommit=True) as conn:
        conn.execute("DROP TABLE bench_slot; DROP TABLE bench_slot_hold")

    limited = Strategy.objects.create(name="bench-reserve-limit", exchange=exchange, trade_amount=100,
                                      max_open_cycles=5, reservation_ttl_s=1)  # fmt: skip
    outcomes = _children(32, "count", limited.pk, 10_000 // 32 + 1)
    events = []
    for created, expires in Reservation.objects.filter(strategy=limited).values_list("created_at", "expires_at"):
        events += [(created, 1), (expires, -1)]
    alive = peak = 0
    # An expiry frees its slot before a grant stamped the same microsecond.
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        alive += delta
        peak = max(peak, alive)
    granted = sum(d for d, _ in outcomes)
    Reservation.objects.filter(strategy=limited).delete()
    Strategy.objects.filter(pk__in=[big.pk, limited.pk]).delete()
    return {
        "reserve_tps": round(reserve_tps, 1),
        "raw_for_update_insert_tps": round(raw_tps, 1),
        "raw_for_update_insert_threads_tps": round(raw_threads_tps, 1),
        "reserve_vs_raw": round(reserve_tps / raw_tps, 3),
        "reserve_attempts": sum(d + r for d, r in outcomes),
        "reserve_granted": granted,
        "reserve_peak_alive": peak,
        "reserve_violations": max(0, peak - 5),
    }


TICK_ACCOUNT = "bench-tick"
# Markets of the real 2020 snapshot with 500 USDT or more at the touch on both sides, a spread of 5 bps
# or less and a lot under 0.5 USDT: a 100 bps mispricing there pays for a 100 USDT cycle on the tick it
# appears. (LINKBTC, for one, trades in 0.1 LINK lots, about 0.95 USDT: flooring leg 2 to its lot costs
# about as much as the mispricing gives, and the depth walk rightly refuses it.)
MISPRICED = ["ETHBTC", "LTCBTC", "XRPBTC", "EOSBTC", "ETHUSDT", "ETHBUSD"]


def bench_tick_to_order(samples: int, seed: int) -> dict:
    from django.core.management import call_command

    from bench.common import Service, celery_worker, drop_account
    from cycles.models import TERMINAL_STATES, Cycle, Strategy
    from exchanges.depth_profile import load_profile
    from exchanges.marketdata import MarketDataSnapshot
    from exchanges.models import Exchange, PaperOrder
    from exchanges.paper import PaperVenue
    from exchanges.simulator import MarketSimulator, SimulatorConfig
    from orders.models import Order

    drop_account(TICK_ACCOUNT)
    call_command("setup_demo", "--exchange", TICK_ACCOUNT, stdout=open(os.devnull, "w"))  # noqa: SIM115
    exchange = Exchange.objects.get(name=TICK_ACCOUNT)
    Strategy.objects.create(name=TICK_ACCOUNT, exchange=exchange, start_asset="USDT", trade_amount=100,
                            min_profit_bps=10, max_open_cycles=3)  # fmt: skip
    markets = PaperVenue(exchange).markets
    sim = MarketSimulator.from_snapshot(
        list(markets.values()), parse_tickers(_load("ticker_24hr_2020-10-09.json")),
        config=SimulatorConfig(mispricing_rate_per_min=0.0), seed=seed,
    )  # fmt: skip
    profile = load_profile(str(settings.PAPER_DEPTH_PROFILE))
    snapshot = MarketDataSnapshot(TICK_ACCOUNT)
    snapshot.clear()
    rng = random.Random(seed)
    started = time.monotonic()

    def tick() -> int:
        now = time.monotonic() - started
        sim.step(0.25, now)
        published = sim.tickers(now)  # stamped once computed, as run_simulator stamps them (and a feed on arrival)
        stamp = published[0].ts_ms
        by_symbol = {t.symbol: t for t in published}
        snapshot.publish(published, [shape_book(by_symbol[s], profile, price_step=markets[s].price_step)
                                     for s in sim.mispricings if s in by_symbol])  # fmt: skip
        return stamp

    def ticking_until(done, timeout: float):
        deadline = time.monotonic() + timeout
        next_tick = time.monotonic() + 0.25
        while time.monotonic() < deadline:
            result = done()
            if result:
                return result
            if time.monotonic() >= next_tick:
                tick()
                next_tick += 0.25
            # The figure is the venue's own record of the order (created_at), not when this loop sees it: polling
            # the database more often would only take CPU from the processes being measured (two cores).
            time.sleep(0.02)
        return None

    tick()
    scanner = Service("scanner", [sys.executable, "manage.py", "run_scanner", "--exchange", TICK_ACCOUNT,
                                  "--interval", "1.0"], ready="scanning")  # fmt: skip
    latencies, detections, missed, first_cycles = [], [], 0, []
    with celery_worker("bench-tick"), scanner:
        ticking_until(lambda: False, 1.0)
        for _ in range(samples):
            symbol = rng.choice([s for s in MISPRICED if s in sim.markets])
            last_order = PaperOrder.objects.filter(exchange=exchange).order_by("-id").values_list("id", flat=True)
            after = last_order.first() or 0
            sim.open_mispricing(time.monotonic() - started, symbol=symbol, bps=rng.choice((100.0, -100.0)))
            stamp = tick()
            new_orders = PaperOrder.objects.filter(exchange=exchange, id__gt=after).order_by("id")
            first = ticking_until(new_orders.first, 5.0)
            sim.mispricings.clear()
            tick()
            if first is None:
                missed += 1
                continue
            latencies.append(first.created_at.timestamp() * 1000 - stamp)
            order = Order.objects.filter(exchange=exchange, client_order_id=first.client_order_id)
            first_cycles.append((latencies[-1], order.values_list("cycle_id", flat=True).first()))
            reserved_at = order.values_list("cycle__reservation__created_at", flat=True).first()
            if reserved_at is not None:
                detections.append(reserved_at.timestamp() * 1000 - stamp)
            ticking_until(lambda: not Cycle.objects.filter(strategy__exchange=exchange)
                          .exclude(state__in=TERMINAL_STATES).exists(), 15.0)  # fmt: skip
    cycles = Cycle.objects.filter(strategy__exchange=exchange)
    opened, completed = cycles.count(), cycles.filter(state="COMPLETED").count()
    # Where the time went, per cycle the scanner opened (ms after the tick's publication): cycles.scanner._timing.
    from cycles.scanner import TIMINGS_KEY

    timings = [json.loads(t) for t in snapshot.r.lrange(f"{TIMINGS_KEY}:{TICK_ACCOUNT}", 0, -1)]
    by_cycle = {t["cycle"]: t for t in timings}
    snapshot.r.delete(f"{TIMINGS_KEY}:{TICK_ACCOUNT}")
    snapshot.clear()
    drop_account(TICK_ACCOUNT)

    def pct(values: list[float], q: float) -> float | None:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else None

    return {
        "tick_to_first_order_ms_p50": pct(latencies, 0.50),
        "tick_to_first_order_ms_p99": pct(latencies, 0.99),
        "tick_to_reservation_ms_p50": pct(detections, 0.50),
        "tick_to_first_order_samples": len(latencies),
        "tick_to_first_order_missed": missed,
        "tick_cycles_opened": opened,
        "tick_cycles_completed": completed,
        # p50 and p99 ms after the tick was published: the scanner picked it up, scored it, reserved, had the
        # books, walked them, created the cycle, and leg 1 was sent (the scanner places it itself).
        # The slowest first orders, with where their cycle's time went (a candidate tried before it in the same
        # pass counts in its marks).
        "tick_slowest": [{"first_order_ms": round(ms, 1), **by_cycle.get(cycle, {})}
                         for ms, cycle in sorted(first_cycles, key=lambda x: -x[0])[:3]],
        **{f"tick_where_the_time_goes_p{round(q * 100)}_ms": {
            mark: pct([t[mark] for t in timings if mark in t], q)
            for mark in ("picked_up", "scored", "books", "walked", "reserved", "created", "sent")
        } if timings else None for q in (0.50, 0.99)},
    }  # fmt: skip


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py cycles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--route-cases", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each throughput run")
    parser.add_argument("--tick-samples", type=int, default=200,
                        help="mispricings timed from tick to first order (under 100, p99 is the slowest)")  # fmt: skip
    parser.add_argument("--demo-minutes", type=float, default=5.0, help="how long the make run processes run")
    parser.add_argument("--parts", default="detection,routing,reservations,tick,demo",
                        help="detection, routing, reservations, tick, demo (comma-separated)")  # fmt: skip
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    results = {}
    if "detection" in parts:
        results |= bench_detection(args.seed)
    if "routing" in parts:
        results |= bench_routing(args.route_cases, args.seed)
    if "reservations" in parts:
        results |= bench_reservations(args.seconds)
    if "tick" in parts:
        results |= bench_tick_to_order(args.tick_samples, args.seed)
    if "demo" in parts:
        results |= bench_demo(args.demo_minutes)
    return results


def bench_demo(minutes: float) -> dict:
    """The processes `make run` starts (supervisord over the Procfile, the demo accounts and strategy, the
    simulator's default mispricings) on the bench's database: cycles completed in `minutes`, and when the first
    completed."""
    from django.utils import timezone

    from bench.live import Platform, cycles_completed_since, prepare_demo
    from cycles.models import Cycle, CycleState

    prepare_demo()
    since = timezone.now()
    started = time.monotonic()
    first = None
    platform = Platform("demo", dict(os.environ)).start()
    try:
        while time.monotonic() - started < minutes * 60:
            if first is None and cycles_completed_since(since):
                first = time.monotonic() - started
            time.sleep(1.0)
    finally:
        platform.stop()
    done = Cycle.objects.filter(finished_at__gt=since)
    return {
        "demo_cycles_completed": done.filter(state=CycleState.COMPLETED).count(),
        "demo_cycles_failed": done.exclude(state=CycleState.COMPLETED).count(),
        "demo_first_cycle_completed_s": round(first, 1) if first is not None else None,
        "demo_minutes": minutes,
    }
