"""Chaos: real Celery workers are killed mid-cycle, recover_cycles runs, and every cent is checked.

One paper account (five markets: BTCUSDT, ETHBTC, ETHUSDT, BNBBTC, BNBUSDT) with
the venue's faults on (2% 5xx, 3% timeouts after the order was accepted, 5%
partial fills, 2% 429s). Its books are republished every 0.5 s by this process.
USDT -> BTC -> ETH -> USDT pays; USDT -> BTC -> BNB -> USDT cannot finish (BNB
has no buyer worth the minimum notional on BNBUSDT), so those cycles end in a
panic sell of the BNB through BNBBTC and BTCUSDT.

Each run:
1. starts a Celery worker (2 prefork children, queues execution and
   monitoring) armed with one failpoint chosen at random (`order.before_submit`,
   `order.after_submit`, `cycle.between_legs`, `panic.between_hops`) and a hit
   count from 1 to 3: on that hit the worker's whole process group is
   SIGKILLed, as on a power cut (core/failpoints.py);
2. opens three cycles (one of them a panic-sell path) and hands them to the
   worker as the scanner does;
3. waits for the kill (or for the cycles to end, then kills it anyway);
4. restarts the worker without a failpoint and runs `manage.py recover_cycles`;
5. waits for every cycle of the run to end, and checks.

Checks: a cycle is recovered when it ends COMPLETED, LIQUIDATED or CANCELED
(FAILED or still open is not); `duplicate_orders`: client order ids with more
than one order on the venue, plus intents with two attempts filled at once;
`orphans`: venue orders we have no row for, our orders still live, panic
sells still active; `balance_mismatches`: assets whose paper balance differs
from the deposit plus every fill we recorded (bought, sold, fees; exact), plus
completed cycles whose realized PnL is not what their orders moved (recovery's
own integrity check). Reports `recovery_rate`, `duplicate_orders`, `orphans`,
`balance_mismatches`, `runs`, `kills` (runs whose worker died at its failpoint),
`cycles` and the kills per failpoint.
"""

import argparse
import json
import random
import threading
from collections import Counter
from decimal import Decimal
from io import StringIO

from django.conf import settings

D = Decimal
ACCOUNT = "chaos"
POINTS = ("order.before_submit", "order.after_submit", "cycle.between_legs", "panic.between_hops")
PAYING = (("BTCUSDT", "buy"), ("ETHBTC", "buy"), ("ETHUSDT", "sell"))
STRANDED = (("BTCUSDT", "buy"), ("BNBBTC", "buy"), ("BNBUSDT", "sell"))
DEPOSIT = D("100000")
RECOVERED = ("COMPLETED", "LIQUIDATED", "CANCELED")
# Faster lookups of orders whose outcome is unknown, for every process of the harness.
QUICK = {"ORDER_SUBMIT_STALE_S": "1", "ORDER_UNKNOWN_GRACE_S": "1", "ORDER_UNKNOWN_MIN_MISSES": "2",
         "PAPER_FAULTS_CACHE_S": "0"}  # fmt: skip


def _markets():
    from exchanges.types import MarketInfo

    def m(symbol, base, quote, tick, lot, notional):
        return MarketInfo(symbol, base, quote, D(tick), D(lot), D(lot), D(notional))

    return [m("BTCUSDT", "BTC", "USDT", "0.01", "0.000001", "10"), m("ETHUSDT", "ETH", "USDT", "0.01", "0.00001", "10"),
            m("ETHBTC", "ETH", "BTC", "0.000001", "0.001", "0.0001"), m("BNBBTC", "BNB", "BTC", "0.0000001", "0.01",
            "0.0001"), m("BNBUSDT", "BNB", "USDT", "0.0001", "0.01", "10")]  # fmt: skip


def _books():
    from exchanges.types import OrderBook

    def ladder(symbol, bid, ask, step, sizes):
        b, a, s = D(bid), D(ask), D(step)
        return OrderBook(symbol, tuple((b - i * s, D(q)) for i, q in enumerate(sizes)),
                         tuple((a + i * s, D(q)) for i, q in enumerate(sizes)), 0)  # fmt: skip

    return [
        ladder("BTCUSDT", "60000.00", "60000.01", "1.00", ("5", "5", "5", "5", "5")),
        ladder("ETHBTC", "0.050000", "0.050010", "0.000010", ("50", "50", "50", "50", "50")),
        ladder("ETHUSDT", "3040.00", "3040.10", "0.50", ("50", "50", "50", "50", "50")),
        ladder("BNBBTC", "0.0050000", "0.0050010", "0.0000010", ("500", "500", "500", "500", "500")),
        ladder("BNBUSDT", "0.0002", "300.0000", "0.0001", ("1", "1", "1", "1", "1")),  # no buyer worth selling to
    ]


class _Publisher(threading.Thread):
    """This process plays the simulator: the books and their tickers, stamped fresh twice a second."""

    def __init__(self, venue_name: str) -> None:
        super().__init__(daemon=True)
        from exchanges.marketdata import MarketDataSnapshot

        self.snapshot = MarketDataSnapshot(venue_name)
        self.books = _books()
        self.stopped = threading.Event()

    def publish(self) -> None:
        from exchanges.marketdata import now_ms

        self.snapshot.publish_books(self.books, now_ms())

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.publish()


def _setup(account: str):
    from bench.common import drop_account
    from cycles.models import Strategy
    from exchanges.models import Exchange, VenueFaults
    from exchanges.paper import paper_deposit
    from exchanges.services import markets_sync

    drop_account(account)
    exchange = Exchange.objects.create(name=account)
    markets_sync(exchange=exchange, markets=_markets())
    paper_deposit(exchange=exchange, asset="USDT", amount=DEPOSIT)
    VenueFaults.objects.create(exchange=exchange, enabled=True, server_error_p=0.02, timeout_after_accept_p=0.03,
                               partial_fill_p=0.05, rate_limit_p=0.02, retry_after_s=0.2)  # fmt: skip
    strategy = Strategy.objects.create(
        name=account, exchange=exchange, start_asset="USDT", trade_amount=100, max_open_cycles=1000,
        panic_base_currencies=["USDT"], panic_preferred_intermediaries=["BTC"],
    )  # fmt: skip
    return exchange, strategy


def _open_cycle(strategy, path) -> int:
    from cycles.reservations import cycle_reserve
    from cycles.services import PlannedLeg, cycle_create
    from exchanges.models import Market

    reservation = cycle_reserve(strategy_id=strategy.pk)
    legs = [PlannedLeg(Market.objects.get(exchange=strategy.exchange, symbol=s).pk, side, D(1)) for s, side in path]
    cycle = cycle_create(reservation_id=reservation.pk, legs=legs, start_amount=strategy.trade_amount,
                         expected_net_rate=D("1.001"))  # fmt: skip
    return cycle.pk


def _balance_mismatches(exchange) -> list[str]:
    from exchanges.models import PaperBalance
    from orders.models import Fill

    expected = Counter({"USDT": DEPOSIT})
    for fill in Fill.objects.filter(exchange=exchange).select_related("order__market"):
        market, sign = fill.order.market, 1 if fill.order.side == "buy" else -1
        expected[market.base] += sign * fill.amount
        expected[market.quote] -= sign * fill.cost
        expected[fill.fee_asset] -= fill.fee
    held = {b.asset: b.free + b.locked for b in PaperBalance.objects.filter(exchange=exchange)}
    return [f"{asset}: venue {held.get(asset, D(0))}, ledger {expected[asset]}"
            for asset in sorted(set(held) | set(expected)) if held.get(asset, D(0)) != expected[asset]]  # fmt: skip


def _duplicates(exchange) -> list[str]:
    from django.db.models import Count

    from exchanges.models import PaperOrder
    from orders.models import Order

    twice = PaperOrder.objects.filter(exchange=exchange).values("client_order_id").annotate(n=Count("id"))
    found = [f"{row['client_order_id']} on the venue {row['n']} times" for row in twice.filter(n__gt=1)]
    by_intent = Counter(Order.objects.filter(exchange=exchange, filled__gt=0, status__in=["OPEN", "PARTIALLY_FILLED"])
                        .values_list("intent", flat=True))  # fmt: skip
    found += [f"{intent}: {n} attempts live and filled at once" for intent, n in by_intent.items() if n > 1]
    return found


def _orphans(exchange) -> list[str]:
    from exchanges.models import PaperOrder
    from liquidation.models import PanicSell, PanicSellState
    from orders.models import LIVE_STATUSES, Order

    ours = set(Order.objects.filter(exchange=exchange).values_list("client_order_id", flat=True))
    found = [f"venue order {cid} has no row here"
             for cid in PaperOrder.objects.filter(exchange=exchange).values_list("client_order_id", flat=True)
             if cid not in ours]  # fmt: skip
    found += [
        f"order {cid} still {status}"
        for cid, status in Order.objects.filter(exchange=exchange, status__in=LIVE_STATUSES).values_list(
            "client_order_id", "status"
        )
    ]
    found += [
        f"panic sell {pk} still active"
        for pk in PanicSell.objects.filter(exchange=exchange, state=PanicSellState.ACTIVE).values_list("pk", flat=True)
    ]
    return found  # fmt: skip


def run_chaos(runs: int, seed: int = 11, *, account: str = ACCOUNT, env: dict | None = None, log=None) -> dict:
    """The harness; `env` reaches the worker processes (the test suite points them at its database)."""
    from django.core.management import call_command

    from bench.common import celery_worker, wait_until
    from cycles.models import Cycle, Strategy
    from tradingsite.celery import app

    log = log or (lambda line: None)
    env = {**QUICK, **(env or {})}
    for name, value in QUICK.items():
        setattr(settings, name, type(getattr(settings, name))(value))
    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    exchange, strategy = _setup(account)
    publisher = _Publisher(account)
    publisher.publish()
    publisher.start()
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    kills: Counter[str] = Counter()
    problems: dict[str, list[str]] = {"duplicate_orders": [], "orphans": [], "balance_mismatches": [], "unclean": []}
    try:
        for run in range(1, runs + 1):
            point = rng.choice(POINTS)
            nth = 1 if point == "panic.between_hops" else rng.randint(1, 3)  # a panic sell reaches it once
            worker = celery_worker(f"chaos{run}", env=env | {"FAILPOINTS": f"{point}@{nth}"}).start()
            paths = [PAYING, PAYING, STRANDED]
            rng.shuffle(paths)
            ids = [_open_cycle(strategy, path) for path in paths]
            cycles = Cycle.objects.filter(pk__in=ids)
            done = lambda w=worker, c=cycles: w.proc.poll() is not None or not c.exclude(state__in=RECOVERED).exists()  # noqa: E731
            wait_until(done, 20)
            killed = worker.proc.poll() is not None
            kills[point] += killed
            worker.kill()
            worker = celery_worker(f"chaos{run}b", env=env).start()
            try:
                for _ in range(5):  # as the beat sweep would: again until all ended and clean
                    out = StringIO()
                    call_command("recover_cycles", "--strategy", strategy.name, "--json", "--wait", "5", stdout=out)
                    report = json.loads(out.getvalue())
                    ended = wait_until(lambda c=cycles: not c.exclude(state__in=(*RECOVERED, "FAILED")).exists(), 15)
                    if ended and report["clean"] and not Strategy.objects.get(pk=strategy.pk).recovery_hold:
                        break
                else:
                    problems["unclean"].append(f"run {run}: not ended and clean after 5 passes: {report['findings']}")
                    Strategy.objects.filter(pk=strategy.pk).update(recovery_hold="")
            finally:
                worker.kill()
            states = Counter(cycles.values_list("state", flat=True))
            for cycle in cycles.exclude(state__in=RECOVERED):
                orders = [(o.client_order_id, o.status, o.last_error[:120], f"{o.submitted_at:%H:%M:%S.%f}")
                          for o in cycle.orders.order_by("pk")]  # fmt: skip
                log(f"  cycle {cycle.pk} {cycle.state} {cycle.error[:160]!r}: {orders}; last report: {report}")
            outcomes.update(states)
            mismatched = [f"{f['ref']}: {f['reason']}" for f in report["findings"] if "realized PnL" in f["reason"]]
            problems["balance_mismatches"] += _balance_mismatches(exchange) + mismatched
            problems["duplicate_orders"] += _duplicates(exchange)
            problems["orphans"] += _orphans(exchange)
            log(
                f"run {run}: {point}@{nth} {'killed' if killed else 'not reached'} -> {dict(states)}; "
                f"recovery found {report['found']}, resumed {report['resumed']}, unwound {report['unwound']}"
            )
    finally:
        publisher.stopped.set()
        app.conf.task_always_eager = eager
    from bench.common import drop_account
    from exchanges.marketdata import MarketDataSnapshot

    MarketDataSnapshot(account).clear()
    drop_account(account)  # what each run found is in the log lines and the figures below
    total = sum(outcomes.values())
    recovered = sum(outcomes[s] for s in RECOVERED)
    return {
        "recovery_rate": round(recovered / total, 4) if total else None,
        "duplicate_orders": len(set(problems["duplicate_orders"])),
        "orphans": len(set(problems["orphans"])),
        "balance_mismatches": len(set(problems["balance_mismatches"])),
        "runs": runs,
        "unclean_runs": len(problems["unclean"]),
        "kills": sum(kills.values()),
        "kills_by_point": dict(kills),
        "cycles": total,
        "cycle_states": dict(outcomes),
        "problems": {k: sorted(set(v))[:10] for k, v in problems.items() if v},
    }


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py chaos")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    from bench.common import isolated_broker

    broker = isolated_broker()
    return run_chaos(args.runs, args.seed, env={"CELERY_BROKER_URL": broker},
                     log=lambda line: print(line, flush=True))  # fmt: skip
