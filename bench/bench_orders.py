"""Order-layer figures, each a ratio against the older system's way measured in the same run.

api_calls_ratio
    1,000 orders on 10 markets of a scripted venue, placed over the first
    minute, settled by the real monitoring code (orders_monitor_tick, driven
    by a virtual clock that plays the Celery countdowns). Their fill times
    follow this mix (seeded): 55% within a second of placement (marketable and
    near-touch limits), 25% in 1-10 s, 15% in 10-120 s, 5% in 2-10 minutes.
    Baseline: each order polled on its own every 500 ms until it is seen
    filled. The figure is venue calls (not counting placement) ours / baseline;
    detection delay is the time from the fill to the order being recorded
    FILLED. The status cache is off here (virtual time outruns its real TTL),
    so the ratio does not count its savings.
normalized_update_wal_ratio
    WAL bytes written per order status update (one row of orders_order) divided by WAL bytes per rewrite of
    the older system's JSON blob of the cycle's 10 orders (below), each read from pg_current_wal_lsn()
    around the run (the least of three). Goal: at most 0.1. No index holds the status (they read the
    generated `live` column), so a change between live states is a HOT update: `row_updates_hot_share` is
    the share PostgreSQL made HOT (pg_stat_user_tables), `row_update_wal_bytes` what one cost.
normalized_update_speedup
    One order's status changed in a cycle of 10 orders: a single-row UPDATE
    of orders_order vs the older system's read-modify-write of a JSON blob
    holding the cycle's 10 orders (each the real ccxt Binance order shape
    from ../shared/data/ccxt, with its raw `info`), which must be read, locked
    and rewritten in one transaction; the row needs one statement. One
    writer. The `_10_writers` figure has ten writers update the cycle's ten
    orders at once (as concurrent monitors do): the blob serializes them on
    its row lock, the rows do not contend. `floor_updates_per_s` is what one
    round trip and one commit allow (a one-row table updated the same way):
    the row update cannot beat it, so `row_update_share_of_floor` near 1
    means the speedup is bounded by the commit, not by the schema.
pool_speedup
    Order updates per second (one UPDATE, autocommit) through the platform's
    pooled connection vs a new PostgreSQL connection per update, same SQL
    and driver.
writebehind_statement_ratio
    Statements executed for 10,000 non-critical updates (1,000 orders x 10)
    through the write-behind buffer and its flush, divided by 10,000 (one
    statement each without it).
orm_vs_raw_update
    ORM single-order updates per second in one process as a fraction of raw
    psycopg updates per second on the same table.
"""

import argparse
import json
import math
import random
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest import mock

import psycopg
from django.conf import settings
from django.db import connection, transaction

from bench.common import drop_account, dsn
from exchanges.venue import Venue

BENCH_EXCHANGE = "bench-orders"
D = Decimal


# --- a scripted venue on a virtual clock -------------------------------------------
class Clock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t


class ScriptedVenue(Venue):
    """Orders fill completely at scripted virtual times; counts every call by method.

    Only what order placement and monitoring ask is scripted.
    """

    def load_markets(self):
        raise NotImplementedError

    def fetch_tickers(self):
        raise NotImplementedError

    def fetch_order_book(self, symbol, depth=20):
        raise NotImplementedError

    def cancel_order(self, *, symbol, order_id=None, client_order_id=None):
        raise NotImplementedError

    def fetch_balance(self):
        raise NotImplementedError

    def __init__(self, clock: Clock, fill_after_s: dict[str, float]) -> None:
        self.clock = clock
        self.fill_after_s = fill_after_s
        self.name = BENCH_EXCHANGE
        self.orders: dict[str, dict] = {}
        self.calls: Counter[str] = Counter()

    def fill_at(self, client_id: str) -> datetime:
        o = self.orders[client_id]
        return o["placed"] + timedelta(seconds=self.fill_after_s[client_id])

    def _view(self, client_id: str, *, with_trades: bool):
        from core.clock import to_ms
        from exchanges.types import VenueOrder, VenueTrade

        o = self.orders[client_id]
        done = self.clock.now() >= self.fill_at(client_id)
        trades = ()
        if done and with_trades:
            trades = (
                VenueTrade(
                    id=f"t{o['id']}", order_id=o["id"], client_order_id=client_id, symbol=o["symbol"], side="buy",
                    price=o["price"], amount=o["amount"], cost=o["price"] * o["amount"], fee=D(0), fee_asset="BTC",
                    is_maker=True, ts_ms=to_ms(self.fill_at(client_id)),
                ),
            )  # fmt: skip
        filled = o["amount"] if done else D(0)
        return VenueOrder(
            id=o["id"], client_order_id=client_id, symbol=o["symbol"], side="buy", type="limit", price=o["price"],
            amount=o["amount"], filled=filled, cost=filled * o["price"], fee=D(0), fee_asset="BTC",
            status="FILLED" if done else "OPEN", ts_ms=0, trades=trades,
        )  # fmt: skip

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id):
        self.calls["create_order"] += 1
        self.orders[client_order_id] = {
            "id": str(len(self.orders) + 1), "symbol": symbol, "amount": amount, "price": price,
            "placed": self.clock.now(),
        }  # fmt: skip
        return self._view(client_order_id, with_trades=True)

    def fetch_order(self, *, symbol, order_id=None, client_order_id=None):
        self.calls["fetch_order"] += 1
        if client_order_id is None:
            client_order_id = next(c for c, o in self.orders.items() if o["id"] == order_id)
        return self._view(client_order_id, with_trades=True)

    def fetch_open_orders(self, symbol=None):
        self.calls["fetch_open_orders"] += 1
        now = self.clock.now()
        return [
            self._view(c, with_trades=False)
            for c, o in self.orders.items()
            if (symbol is None or o["symbol"] == symbol) and now < self.fill_at(c)
        ]

    def fetch_my_trades(self, *, symbol=None, since_ms=None):
        self.calls["fetch_my_trades"] += 1
        return [t for c in self.orders for t in self._view(c, with_trades=True).trades]


def fill_time_mix(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.55:
        return rng.uniform(0.05, 1.0)
    if roll < 0.80:
        return rng.uniform(1.0, 10.0)
    if roll < 0.95:
        return rng.uniform(10.0, 120.0)
    return rng.uniform(120.0, 600.0)


def _setup_exchange(n_markets: int):
    from exchanges.models import Exchange, Market

    drop_account(BENCH_EXCHANGE)
    exchange = Exchange.objects.create(name=BENCH_EXCHANGE, monitor_cache_ttl_ms=0)
    markets = [
        Market.objects.create(
            exchange=exchange, symbol=f"A{i}USDT", base=f"A{i}", quote="USDT", price_step=D("0.01"),
            amount_step=D("0.001"), min_amount=D("0.001"), min_notional=D("1"),
        )
        for i in range(n_markets)
    ]  # fmt: skip
    return exchange, markets


def bench_api_calls(n_orders: int, n_markets: int, seed: int) -> dict:
    from orders.models import Order, OrderStatus
    from orders.monitoring import orders_monitor_tick
    from orders.services import order_place

    rng = random.Random(seed)
    exchange, markets = _setup_exchange(n_markets)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = Clock(start)
    weights = [1 / (i + 1) for i in range(n_markets)]  # a few busy markets, a long quiet tail
    plan = sorted(
        (rng.uniform(0, 60), rng.choices(markets, weights)[0], f"o{i}", fill_time_mix(rng)) for i in range(n_orders)
    )
    venue = ScriptedVenue(clock, {f"{settings.ORDER_CLIENT_ID_PREFIX}-{intent}-a1": f for _, _, intent, f in plan})
    live = Order.objects.filter(exchange=exchange, status__in=[OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED])
    ticks = 0
    with (
        mock.patch("django.utils.timezone.now", clock.now),
        mock.patch("orders.services.orders_monitor_schedule", return_value=None),
        mock.patch("orders.monitoring.orders_monitor_schedule", return_value=None),  # the loop below schedules
    ):
        i = 0
        while True:
            next_place = start + timedelta(seconds=plan[i][0]) if i < len(plan) else None
            next_due = live.order_by("next_check_at").values_list("next_check_at", flat=True).first()
            if next_place is None and next_due is None:
                break
            if next_due is None or (next_place is not None and next_place <= next_due):
                clock.t = next_place
                _, market, intent, _ = plan[i]
                order_place(
                    exchange=exchange, market=market, side="buy", type="limit", amount=D("0.01"), price=D("100"),
                    purpose="manual", intent=intent, venue=venue,
                )  # fmt: skip
                i += 1
                continue
            clock.t = max(clock.t, next_due)
            due_markets = set(live.filter(next_check_at__lte=clock.t).values_list("market_id", flat=True))
            for market_id in sorted(due_markets):
                orders_monitor_tick(exchange_id=exchange.pk, market_id=market_id, now=clock.t, venue=venue)
                ticks += 1
    ours_calls = sum(n for name, n in venue.calls.items() if name != "create_order")
    delays = []
    for cid, closed in Order.objects.filter(exchange=exchange).values_list("client_order_id", "closed_at"):
        delays.append((closed - venue.fill_at(cid)).total_seconds() * 1000)

    # The baseline: every order polled alone every 500 ms until seen filled.
    base_calls, base_delays = 0, []
    for cid in venue.orders:
        placed, fill_at = venue.orders[cid]["placed"], venue.fill_at(cid)
        polls = max(1, math.ceil((fill_at - placed).total_seconds() / 0.5))
        seen = placed + timedelta(seconds=0.5 * polls)
        if seen < fill_at:  # float edge: one more poll
            polls += 1
            seen += timedelta(seconds=0.5)
        base_calls += polls
        base_delays.append((seen - fill_at).total_seconds() * 1000)
    unfilled = Order.objects.filter(exchange=exchange).exclude(status=OrderStatus.FILLED).count()
    return {
        "api_calls_ratio": round(ours_calls / base_calls, 4),
        "venue_calls": ours_calls,
        "baseline_venue_calls": base_calls,
        "calls_by_method": dict(sorted((k, v) for k, v in venue.calls.items() if k != "create_order")),
        "p95_detection_delay_ms": round(_p95(delays), 1),
        "baseline_p95_detection_delay_ms": round(_p95(base_delays), 1),
        "monitor_ticks": ticks,
        "orders_not_settled": unfilled,
    }


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else (values[0] if values else 0.0)


# --- storage figures --------------------------------------------------------------------
def _orders_for_updates(n: int) -> list[int]:
    from exchanges.models import Exchange, Market
    from orders.models import Order

    exchange = Exchange.objects.get(name=BENCH_EXCHANGE)
    market = Market.objects.filter(exchange=exchange).first()
    rows = [
        Order(
            exchange=exchange, market=market, purpose="manual", role="manual", intent=f"u{i}",
            client_order_id=f"ts-u{i}-a1", side="buy", type="limit", price=D("100"), amount=D("1"), status="OPEN",
        )
        for i in range(n)
    ]  # fmt: skip
    return [o.pk for o in Order.objects.bulk_create(rows)]


def _real_order_shape() -> dict:
    path = Path(settings.SHARED_DATA_DIR) / "ccxt" / "binance_response.json"
    methods = json.loads(path.read_text())["methods"]
    return methods["fetchOrder"][0]["parsedResponse"]


def _cycle_orders(shape: dict, n: int = 10, seed: int = 3) -> list[dict]:
    """`n` orders in the real ccxt Binance shape, each with its own ids, symbol, price, amounts and times (as a
    cycle's legs and attempts have): copies differing only in their id would compress unrealistically well."""
    rng = random.Random(seed)
    orders = []
    for i in range(n):
        base, quote = rng.choice([("BTC", "USDT"), ("ETH", "BTC"), ("ETH", "USDT"), ("BNB", "ETH"), ("SOL", "USDT")])
        price, amount = round(rng.uniform(0.01, 70_000), 8), round(rng.uniform(0.001, 50), 8)
        ts = 1_679_571_174_472 + rng.randrange(10**9)
        order_id, client_id = str(rng.randrange(10**9, 10**10)), f"ts-c{rng.randrange(10**6)}-l{i % 3}-a{i // 3 + 1}"
        info = dict(shape["info"], symbol=base + quote, orderId=order_id, clientOrderId=client_id,
                    price=f"{price:.8f}", origQty=f"{amount:.8f}", executedQty=f"{amount:.8f}",
                    cummulativeQuoteQty=f"{price * amount:.8f}", side=rng.choice(["BUY", "SELL"]), time=str(ts),
                    updateTime=str(ts + 3), workingTime=str(ts))  # fmt: skip
        orders.append(dict(shape, info=info, id=order_id, clientOrderId=client_id, timestamp=ts,
                           lastTradeTimestamp=ts + 3, lastUpdateTimestamp=ts + 3, symbol=f"{base}/{quote}",
                           side=info["side"].lower(), price=price, amount=amount, cost=round(price * amount, 8),
                           average=price, filled=amount))  # fmt: skip
    return orders


def bench_normalized(ids: list[int], rounds: int) -> dict:
    blob = _cycle_orders(_real_order_shape())
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_cycle_blob")
        cursor.execute("CREATE TABLE bench_cycle_blob (id serial PRIMARY KEY, state text, orders jsonb NOT NULL)")
        cursor.execute(
            "INSERT INTO bench_cycle_blob (state, orders) VALUES ('EXECUTING', %s) RETURNING id", [json.dumps(blob)]
        )
        blob_id = cursor.fetchone()[0]

    def blob_update(k: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT orders FROM bench_cycle_blob WHERE id = %s FOR UPDATE", [blob_id])
            orders = cursor.fetchone()[0]
            orders = json.loads(orders) if isinstance(orders, str) else orders
            orders[k % 10]["status"] = "closed" if k % 2 else "open"
            cursor.execute("UPDATE bench_cycle_blob SET orders = %s WHERE id = %s", [json.dumps(orders), blob_id])

    def row_update(k: int) -> None:
        # One statement is its own transaction (autocommit): nothing to read first, nothing to lock for long.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE orders_order SET status = %s, updated_at = now() WHERE id = %s",
                ["PARTIALLY_FILLED" if k % 2 else "OPEN", ids[k % 10]],
            )

    blob_rate = _rate(blob_update, rounds)
    row_rate = _rate(row_update, rounds)
    hot_before = _hot_updates()
    row_wal = _wal_bytes_per_op(row_update, rounds)
    hot_after = _hot_updates()
    blob_wal = _wal_bytes_per_op(blob_update, rounds)
    with connection.cursor() as cursor:  # the floor: one round trip and one commit that writes (a one-row table)
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE TABLE bench_floor (id int PRIMARY KEY, n bigint NOT NULL)")
        cursor.execute("INSERT INTO bench_floor VALUES (1, 0)")

    def floor_update(k: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE bench_floor SET n = n + 1 WHERE id = 1")

    floor_rate = _rate(floor_update, rounds)
    # Ten monitors updating the ten orders of one cycle at once, each on its own connection.
    row_sql = "UPDATE orders_order SET status = %s, updated_at = now() WHERE id = %s"

    def row_writer(conn, k: int, n: int) -> None:
        conn.execute(row_sql, ["PARTIALLY_FILLED" if n % 2 else "OPEN", ids[k]])

    def blob_writer(conn, k: int, n: int) -> None:
        with conn.transaction():
            orders = conn.execute("SELECT orders FROM bench_cycle_blob WHERE id = %s FOR UPDATE", [blob_id]).fetchone()[
                0
            ]
            orders[k]["status"] = "closed" if n % 2 else "open"
            conn.execute("UPDATE bench_cycle_blob SET orders = %s WHERE id = %s", [json.dumps(orders), blob_id])

    row_rate_10 = _concurrent_rate(row_writer, writers=10, rounds=rounds // 5)
    blob_rate_10 = _concurrent_rate(blob_writer, writers=10, rounds=rounds // 5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_size(orders) FROM bench_cycle_blob WHERE id = %s", [blob_id])
        stored_bytes = cursor.fetchone()[0]  # compressed by PostgreSQL (TOAST)
        cursor.execute("DROP TABLE bench_cycle_blob")
        cursor.execute("DROP TABLE bench_floor")
    return {
        "normalized_update_wal_ratio": round(row_wal / blob_wal, 4),
        "row_update_wal_bytes": round(row_wal),
        # Of the row updates just measured, the share PostgreSQL made HOT (no index entry written).
        "row_updates_hot_share": round((hot_after[1] - hot_before[1]) / max(1, hot_after[0] - hot_before[0]), 3),
        "blob_rewrite_wal_bytes": round(blob_wal),
        "normalized_update_speedup": round(row_rate / blob_rate, 2),
        "row_updates_per_s": round(row_rate),
        "floor_updates_per_s": round(floor_rate),
        "row_update_share_of_floor": round(row_rate / floor_rate, 2),
        "blob_updates_per_s": round(blob_rate),
        "normalized_update_speedup_10_writers": round(row_rate_10 / blob_rate_10, 2),
        "row_updates_per_s_10_writers": round(row_rate_10),
        "blob_updates_per_s_10_writers": round(blob_rate_10),
        "blob_bytes": len(json.dumps(blob)),
        "blob_stored_bytes": stored_bytes,
    }


def _concurrent_rate(writer, *, writers: int, rounds: int) -> float:
    """Updates per second with `writers` threads, each on its own connection doing `rounds` updates."""
    conns = [psycopg.connect(dsn(), autocommit=True) for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)

    def work(k: int) -> None:
        barrier.wait()
        for n in range(rounds):
            writer(conns[k], k, n)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return writers * rounds / elapsed


def _hot_updates() -> tuple[int, int]:
    """(updates, HOT updates) of orders_order so far, this session's counts flushed first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'orders_order'")
        return cursor.fetchone()


def _wal_bytes_per_op(fn, rounds: int) -> float:
    """WAL bytes written per call of `fn`, from pg_current_wal_lsn() around `rounds` calls; the least of three
    runs (WAL is the whole cluster's: whatever else writes meanwhile only adds)."""
    best = None
    for _ in range(3):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            start = cursor.fetchone()[0]
        for k in range(rounds):
            fn(k)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [start])
            used = float(cursor.fetchone()[0])
        best = used if best is None else min(best, used)
    return best / rounds


def _rate(fn, rounds: int) -> float:
    """Operations per second, the best of three runs (each `rounds` operations)."""
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for k in range(rounds):
            fn(k)
        best = max(best, rounds / (time.perf_counter() - started))
    return best


def bench_pool(ids: list[int], rounds: int) -> dict:
    """The same statement through the same driver; only reusing the connection differs."""

    def pooled(k: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE orders_order SET last_error = %s WHERE id = %s", [f"pooled {k}", ids[k % len(ids)]])

    def fresh(k: int) -> None:
        with psycopg.connect(dsn(), autocommit=True) as conn:
            conn.execute("UPDATE orders_order SET last_error = %s WHERE id = %s", [f"fresh {k}", ids[k % len(ids)]])

    pooled_rate = _rate(pooled, rounds)
    fresh_rate = _rate(fresh, max(50, rounds // 10))
    return {
        "pool_speedup": round(pooled_rate / fresh_rate, 2),
        "pooled_updates_per_s": round(pooled_rate),
        "new_connection_updates_per_s": round(fresh_rate),
    }


def bench_orm_vs_raw(ids: list[int], rounds: int) -> dict:
    from orders.models import Order

    def orm(k: int) -> None:
        Order.objects.filter(pk=ids[k % len(ids)]).update(status="PARTIALLY_FILLED" if k % 2 else "OPEN")

    raw_conn = psycopg.connect(dsn(), autocommit=True)

    def raw(k: int) -> None:
        raw_conn.execute(
            "UPDATE orders_order SET status = %s WHERE id = %s",
            ["PARTIALLY_FILLED" if k % 2 else "OPEN", ids[k % len(ids)]],
        )

    orm_rate = _rate(orm, rounds)
    raw_rate = _rate(raw, rounds)
    raw_conn.close()
    return {
        "orm_vs_raw_update": round(orm_rate / raw_rate, 3),
        "orm_updates_per_s": round(orm_rate),
        "raw_updates_per_s": round(raw_rate),
    }


def bench_writebehind(ids: list[int]) -> dict:
    from core.writebehind import Update, buffer_updates, writebehind_flush
    from orders.models import Order

    writebehind_flush()  # start from an empty buffer
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    stamp = datetime.now(UTC)
    updates = [Update(pk, set={"last_checked_at": stamp}, add={"check_count": 1}) for _ in range(10) for pk in ids]
    started = time.perf_counter()
    with connection.execute_wrapper(count):
        for k in range(0, len(updates), 100):  # as monitor ticks would: a hundred at a time
            buffer_updates(Order, updates[k : k + 100])
        result = writebehind_flush()
    elapsed = time.perf_counter() - started
    writes = [s for s in statements if not s.lstrip().upper().startswith("SELECT")]
    applied = Order.objects.filter(pk__in=ids, check_count__gte=10).count()
    return {
        "writebehind_statement_ratio": round(len(statements) / len(updates), 5),
        "writebehind_statements": len(statements),
        "writebehind_write_statements": len(writes),
        "writebehind_rows_flushed": result.rows,
        "writebehind_rows_applied": applied,
        "writebehind_seconds": round(elapsed, 3),
    }


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py orders")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--markets", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--parts", default="calls,storage", help="calls (api_calls_ratio), storage (the rest)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    results = bench_api_calls(args.orders, args.markets, args.seed) if "calls" in parts else {}
    if "storage" in parts:
        if "calls" not in parts:
            _setup_exchange(args.markets)
        ids = _orders_for_updates(1000)
        results |= bench_normalized(ids, args.rounds)
        results |= bench_pool(ids, args.rounds)
        results |= bench_writebehind(ids)
        results |= bench_orm_vs_raw(ids, args.rounds)
    return results
