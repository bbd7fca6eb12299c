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
    from exchanges.registry import get_venue
    from positions import events
    from positions.models import Position
    from positions.services import positions_monitor_tick
    from tradingsite.writebehind import writebehind_flush

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

    Position.objects.filter(exchange=exchange).delete()
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
    args = parser.parse_args(argv)
    return bench_tick(args.positions, args.symbols) | bench_checks_ratio()
