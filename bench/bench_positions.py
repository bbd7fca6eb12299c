"""Position monitoring figures.

positions_per_s, venue_calls_per_tick
    10,000 open positions (MONITORING, entry 100, a TP at +5% and +10%, a stop
    at -5%) on 500 synthetic markets of one paper account, all due; the
    tickers of the 500 markets in the Redis market-data snapshot (bid 100.00).
    One `positions_monitor_tick` through the guarded paper venue, as beat runs
    it: the claim, the bulk reads, one tickers call, every evaluation, the
    reschedule and the marks sent to the write-behind buffer. Figure: positions
    evaluated / wall seconds of that tick (median of 3 ticks, positions made due
    again between them).
db_write_reduction
    The same tick's non-critical data: a mark (price, unrealized PnL, last
    checked) per position and a `monitoring_update` event per tier change.
    Written directly that is one UPDATE per mark and one INSERT per event; with
    the buffers it is the statements of one write-behind flush plus one event
    flush. Figure: 1 - buffered statements / direct statements.
critical_event_loss
    A real Celery worker SIGKILLed right after a TP sell (see `bench_kill`):
    TP sells the venue filled whose `tp_hit` or `breakeven_moved` is missing.
monitoring_checks_ratio
    Checks an hour for a book of positions under the urgency tiers, divided by
    checks at a fixed 5 s. The mix (documented assumption): 5% near a trigger
    (critical, 2 s), 25% taking profit with TPs pending (active, 5 s), 40%
    plain monitoring (standard, 12 s), 20% with 90% or more closed (inactive,
    30 s), 10% untouched for 10 minutes (idle, 60 s); each class is run
    through the real tier function.
"""

import argparse
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from django.db import connection

D = Decimal
ACCOUNT = "bench-positions"


def _setup(n_positions: int, n_markets: int):
    from bench.common import drop_account
    from exchanges.marketdata import MarketDataSnapshot, now_ms
    from exchanges.models import Exchange, Market
    from exchanges.types import Ticker
    from positions.models import Position, PositionPhase, TakeProfitLevel

    drop_account(ACCOUNT)
    exchange = Exchange.objects.create(name=ACCOUNT)
    markets = Market.objects.bulk_create([
        Market(exchange=exchange, symbol=f"A{i}USDT", base=f"A{i}", quote="USDT", price_step=D("0.01"),
               amount_step=D("0.001"), min_amount=D("0.001"), min_notional=D("1"))
        for i in range(n_markets)
    ])  # fmt: skip
    snapshot = MarketDataSnapshot(ACCOUNT)
    snapshot.clear()
    snapshot.put_tickers([Ticker(m.symbol, D("100.00"), D("50"), D("100.01"), D("50"), now_ms()) for m in markets])
    past = exchange.created_at - timedelta(seconds=1)
    positions = Position.objects.bulk_create([
        Position(exchange=exchange, market=markets[i % n_markets], phase=PositionPhase.MONITORING, entry_price=D("100"),
                 cost_basis=D("100.2"), amount=D("1"), remaining=D("1"), stop_loss=D("95"), next_check_at=past,
                 last_activity_at=exchange.created_at)
        for i in range(n_positions)
    ], batch_size=5000)  # fmt: skip
    TakeProfitLevel.objects.bulk_create([
        TakeProfitLevel(position=p, index=k, price=price, fraction=D("0.5"))
        for p in positions for k, price in ((1, D("105")), (2, D("110")))
    ], batch_size=5000)  # fmt: skip
    return exchange


class _Writes:
    """Counts INSERT / UPDATE / DELETE statements sent while it is installed."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.count += 1
        return execute(sql, params, many, context)


def bench_tick(n_positions: int, n_markets: int) -> dict:
    from core.writebehind import writebehind_flush
    from exchanges.registry import get_venue
    from positions import events
    from positions.models import Position
    from positions.monitor import positions_monitor_tick

    exchange = _setup(n_positions, n_markets)
    venue = get_venue(exchange)
    writebehind_flush()
    events.flush()
    rates, calls, reduction = [], [], None
    for round_ in range(3):
        Position.objects.filter(exchange=exchange).update(next_check_at=exchange.created_at)
        started = time.perf_counter()
        result = positions_monitor_tick(venue_for=lambda e: venue)
        seconds = time.perf_counter() - started
        rates.append(result.evaluated / seconds)
        calls.append(result.venue_calls)
        if round_ == 0:  # every position changes tier ('' -> standard) once: an event each, and a mark each
            writes = _Writes()
            with connection.execute_wrapper(writes):
                flushed = writebehind_flush()
                flushed_events = events.flush()
            direct = flushed.rows + flushed_events
            reduction = {"db_write_reduction": round(1 - writes.count / direct, 5), "buffered_statements": writes.count,
                         "direct_statements": direct, "marks": flushed.rows, "events": flushed_events}  # fmt: skip
    from bench.common import drop_account
    from exchanges.marketdata import MarketDataSnapshot

    MarketDataSnapshot(ACCOUNT).clear()
    drop_account(ACCOUNT)
    return {
        "positions_per_s": round(statistics.median(rates)),
        "positions": n_positions,
        "symbols": n_markets,
        "venue_calls_per_tick": max(calls),
        "venues": 1,
        **(reduction or {}),
    }


def bench_checks_ratio() -> dict:
    from positions.rules import Tiers, Watch, tier

    rules = Tiers()
    mix = [  # share, the state that puts a position in its class
        (0.05, Watch("MONITORING", D("104.8"), D("95"), (D("105"),), 0.0, None, 60.0)),
        (0.25, Watch("PROFIT_TAKING", D("106"), D("100.3"), (D("110"),), 0.5, 3600.0, 60.0)),
        (0.40, Watch("MONITORING", D("100"), D("95"), (D("105"), D("110")), 0.0, None, 120.0)),
        (0.20, Watch("PROFIT_TAKING", D("112"), D("100.3"), (), 0.92, 3600.0, 300.0)),
        (0.10, Watch("MONITORING", D("100"), D("95"), (D("105"),), 0.0, None, 1200.0)),
    ]
    per_hour = sum(share * 3600 / tier(watch, rules)[1] for share, watch in mix)
    return {"monitoring_checks_ratio": round(per_hour / (3600 / 5), 4), "checks_per_position_hour": round(per_hour, 1),
            "fixed_5s_checks_per_position_hour": 720}  # fmt: skip


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py positions")
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--kill-positions", type=int, default=200, help="positions in the worker-kill run")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    from bench.common import isolated_broker

    broker = isolated_broker()
    return (bench_tick(args.positions, args.symbols) | bench_checks_ratio()
            | bench_kill(args.kill_positions, args.seed, env={"CELERY_BROKER_URL": broker}))  # fmt: skip


def bench_kill(n_positions: int, seed: int, env: dict | None = None) -> dict:
    """critical_event_loss: a real Celery worker SIGKILLed right after a TP sell, before its accounting.

    A paper account (the chaos harness's markets and books) holds `n_positions`
    BTCUSDT positions with TP1 just over the price. This process plays beat
    (a `positions.tick` every 0.5 s) and the simulator (books twice a second).
    The bid is lifted through TP1; the worker, armed with the
    `position.after_exit` failpoint at a random hit, dies after selling, is
    restarted, and ticks go on until every TP1 has ended. Then every TP1 sell
    the venue filled must have exactly one `tp_hit`, and every position one
    `breakeven_moved`: `critical_event_loss` counts those missing,
    `critical_event_duplicates` those written twice.
    """
    import random

    from bench.bench_chaos import QUICK, _Publisher, _setup
    from bench.common import celery_worker, drop_account
    from orders.models import Order
    from orders.tasks import sweep_overdue
    from positions.models import PositionEvent, TakeProfitLevel, TakeProfitStatus
    from positions.opening import position_open
    from positions.tasks import tick
    from tradingsite.celery import app

    account = "bench-positions-kill"
    exchange, _ = _setup(account)
    exchange.faults.delete()  # this figure is about the kill alone
    publisher = _Publisher(account)
    publisher.publish()
    for _ in range(n_positions):
        position_open(exchange=exchange, symbol="BTCUSDT", amount=D("0.002"), stop_loss=D("50000"),
                      take_profits=[(D("60100"), D("0.5")), (D("65000"), D("0.5"))])  # fmt: skip
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    nth = random.Random(seed).randint(1, max(1, n_positions // 2))
    env = QUICK | (env or {})
    worker = celery_worker("positions-kill", queues="monitoring,maintenance",
                           env=env | {"FAILPOINTS": f"position.after_exit@{nth}"}).start()  # fmt: skip
    publisher.books = [b if b.symbol != "BTCUSDT" else type(b)(b.symbol, ((D("60200.00"), D("5")),),
                       ((D("60200.01"), D("5")),), 0) for b in publisher.books]  # fmt: skip
    publisher.publish()
    publisher.start()
    killed = restarted = False
    pending = TakeProfitLevel.objects.filter(position__exchange=exchange, index=1).exclude(
        status__in=[TakeProfitStatus.FILLED, TakeProfitStatus.CANCELED]
    )
    deadline = time.monotonic() + 120
    try:
        while pending.exists() and time.monotonic() < deadline:
            if worker.proc.poll() is not None and not restarted:
                killed = True
                worker = celery_worker("positions-kill-b", queues="monitoring,maintenance", env=env).start()
                restarted = True
            tick.apply_async()  # as beat sends them
            sweep_overdue.apply_async()
            time.sleep(0.5)
    finally:
        worker.kill()
        publisher.stopped.set()
        app.conf.task_always_eager = eager
    filled_tp1 = Order.objects.filter(exchange=exchange, intent__endswith="-tp1", filled__gt=0).values_list(
        "position_id", flat=True
    )
    hits = PositionEvent.objects.filter(position__exchange=exchange, kind="tp_hit")
    per_position = {}
    for position_id in hits.values_list("position_id", flat=True):
        per_position[position_id] = per_position.get(position_id, 0) + 1
    moved = set(PositionEvent.objects.filter(position__exchange=exchange, kind="breakeven_moved")
                .values_list("position_id", flat=True))  # fmt: skip
    loss = sum(1 for pk in filled_tp1 if per_position.get(pk, 0) == 0) + sum(1 for pk in filled_tp1 if pk not in moved)
    duplicates = sum(n - 1 for n in per_position.values() if n > 1)
    unsettled = pending.count()
    drop_account(account)
    return {
        "critical_event_loss": loss,
        "critical_event_duplicates": duplicates,
        "kill_positions": n_positions,
        "kill_worker_killed": killed,
        "kill_tp1_sells_filled": len(filled_tp1),
        "kill_tp1_unsettled": unsettled,
    }
