"""The oversell race: stop-loss, close, close-all and a copy's reduce selling the same positions at once.

`prepare(n)` opens n positions of 1 BTC on a paper account whose venue ledger holds twice that (so the venue
itself would let an oversell through), each with its stop above the bid and a take-profit under it: every
exit wants to sell. `race(...)` starts one process per role; each walks the positions in its own random order,
all starting at one instant. `verify(...)` then checks every position against the venue ledger: what was sold
never exceeds what was held, and every venue trade is a fill of ours and the other way round.
"""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

from django.conf import settings

D = Decimal
ACCOUNT = "bench-oversell"
ROLES = ("stop", "close", "close_all", "reduce")

CHILD = r"""
import json, random, re, sys, time
import django
django.setup()
from decimal import Decimal
from exchanges.models import Exchange
from exchanges.paper import PaperVenue
from exchanges.paper_data import StaticSource
from exchanges.types import OrderBook
from positions.models import Position
from positions.actions import position_close_now, position_reduce, positions_close_all
from positions.services import position_check
from core.errors import DomainError
from django.core.exceptions import ValidationError
role, start_at, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
exchange = Exchange.objects.get(name=sys.argv[4])
book = OrderBook("BTCUSDT", bids=((Decimal("60000.00"), Decimal("100000")),),
                 asks=((Decimal("60000.01"), Decimal("100000")),), ts_ms=0)
venue = PaperVenue(exchange, market_data=StaticSource(books={"BTCUSDT": book}), rng=random.Random(seed))
ids = list(Position.objects.filter(exchange=exchange).values_list("pk", flat=True))
random.Random(seed).shuffle(ids)
outcomes = {}
time.sleep(max(0.0, start_at - time.time()))
if role == "close_all":
    report = positions_close_all(exchange=exchange, requested_by="race", venue_for=lambda e: venue)
    for value in report.values():
        key = re.sub(r"\d+", "N", str(value))[:60]
        outcomes[key] = outcomes.get(key, 0) + 1
for pk in ids if role != "close_all" else []:
    try:
        if role == "stop":
            outcome = position_check(position_id=pk, price=Decimal("60000.00"), venue=venue)
        elif role == "close":
            outcome = position_close_now(position_id=pk, requested_by="race", venue=venue).phase
        else:
            outcome = position_reduce(position_id=pk, amount=Decimal("0.6"), requested_by="race", venue=venue,
                                      tag="race").status
    except (DomainError, ValidationError) as exc:  # refused, with the reason: what a loser of the race gets
        outcome = type(exc).__name__
    except Exception as exc:
        outcome = "error " + type(exc).__name__ + ": " + str(exc)[:80]
    key = str(outcome).split(" (")[0][:60]
    outcomes[key] = outcomes.get(key, 0) + 1
print(json.dumps(outcomes))
"""


def prepare(n: int) -> int:
    """A fresh paper account with n positions that every exit wants to sell; its id."""
    from bench.common import drop_account
    from exchanges.models import Exchange, Market
    from exchanges.paper import paper_deposit
    from positions.models import Position, PositionPhase, TakeProfitLevel

    drop_account(ACCOUNT)
    exchange = Exchange.objects.create(name=ACCOUNT)
    market = Market.objects.create(exchange=exchange, symbol="BTCUSDT", base="BTC", quote="USDT",
                                   price_step=D("0.01"), amount_step=D("0.0001"), min_amount=D("0.0001"),
                                   min_notional=D("10"))  # fmt: skip
    paper_deposit(exchange=exchange, asset="BTC", amount=D(2 * n))
    positions = Position.objects.bulk_create([
        Position(exchange=exchange, market=market, phase=PositionPhase.MONITORING, entry_price=D("59000"),
                 cost_basis=D("59059"), amount=D(1), remaining=D(1), stop_loss=D("60500"))
        for _ in range(n)
    ])  # fmt: skip
    TakeProfitLevel.objects.bulk_create(
        [TakeProfitLevel(position=p, index=1, price=D("59500"), fraction=D("0.5")) for p in positions]
    )
    return exchange.pk


def race(*, env: dict | None = None, seed: int = 0, timeout: float = 600.0) -> dict:
    """One process per role over every position of the account, started together; their outcome counts."""
    child_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "DB_POOL_SIZE": "0", **(env or {})}
    start_at = time.time() + 3.0  # every child has set Django up by then
    procs = {
        role: subprocess.Popen(
            [sys.executable, "-c", CHILD, role, str(start_at), str(seed + i), ACCOUNT],
            cwd=settings.BASE_DIR,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, role in enumerate(ROLES)
    }
    outcomes = {}
    for role, proc in procs.items():
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"the {role} process failed: {err[-2000:]}")
        outcomes[role] = json.loads(out.strip().splitlines()[-1])
    return outcomes


def verify(exchange_id: int) -> dict:
    """Every position against the venue ledger: sold never above held, ledger and records alike."""
    from django.db.models import Sum

    from exchanges.models import PaperTrade
    from orders.models import Fill, Order
    from positions.models import Position

    positions = list(Position.objects.filter(exchange_id=exchange_id))
    sold_by_position = dict(
        Order.objects.filter(exchange_id=exchange_id, side="sell").values_list("position_id").annotate(Sum("filled"))
    )
    oversold = [p.pk for p in positions if (sold_by_position.get(p.pk) or 0) > p.amount]
    misaccounted = [p.pk for p in positions if p.remaining != p.amount - (sold_by_position.get(p.pk) or 0)
                    and p.phase != "CLOSED"]  # fmt: skip
    venue_sold = PaperTrade.objects.filter(exchange_id=exchange_id, order__side="sell").aggregate(s=Sum("amount"))
    ours_sold = Fill.objects.filter(exchange_id=exchange_id, order__side="sell").aggregate(s=Sum("amount"))
    venue_orders = set(
        PaperTrade.objects.filter(exchange_id=exchange_id).values_list("order__client_order_id", flat=True)
    )
    our_orders = set(Fill.objects.filter(exchange_id=exchange_id).values_list("order__client_order_id", flat=True))
    return {
        "oversell_trials": len(positions),
        "oversold": len(oversold),
        "oversold_positions": oversold[:10],
        "misaccounted": len(misaccounted),
        "venue_sold": str(venue_sold["s"] or 0),
        "recorded_sold": str(ours_sold["s"] or 0),
        "ledger_agrees": (venue_sold["s"] or 0) == (ours_sold["s"] or 0) and venue_orders == our_orders,
        "sold_at_most_held": str(sum((sold_by_position.get(p.pk) or 0) for p in positions)),
    }


def run_oversell(n: int, *, env: dict | None = None, seed: int = 0) -> dict:
    exchange_id = prepare(n)
    outcomes = race(env=env, seed=seed)
    return verify(exchange_id) | {"race_outcomes": outcomes}
