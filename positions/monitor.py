"""The positions monitor tick: claim the due positions, price them with one tickers call per venue, decide
in memory which must act (positions.rules), give the rest their next check by tier."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.isolation import Loop, record_failure
from core.sql import server_cursor
from exchanges.errors import VenueError
from exchanges.models import Exchange
from exchanges.registry import get_venue

from . import events
from .models import Position, TakeProfitStatus
from .outcomes import Outcome
from .outcomes import OutcomeKind as O
from .rules import Claimed, must_act, tier, watch_of
from .services import (
    K,
    P,
    position_check,
    tiers,
)

log = logging.getLogger(__name__)


# --- the monitor tick --------------------------------------------------------------------------
@dataclass
class TickResult:
    claimed: int = 0
    evaluated: int = 0
    venue_calls: int = 0
    failed: int = 0  # positions whose check raised: recorded on them and backed off
    outcomes: dict[str, int] = field(default_factory=dict)


_CLAIM_SQL = """
    SELECT p.id, p.exchange_id, p.phase, p.stop_loss, p.trailing_stop_bps, p.remaining, p.amount, p.cost_basis,
           EXTRACT(EPOCH FROM %(now)s - p.breakeven_at)::float8,
           EXTRACT(EPOCH FROM %(now)s - COALESCE(p.last_activity_at, p.created_at))::float8,
           p.tier, m.symbol, m.price_step
      FROM positions_position p JOIN exchanges_market m ON m.id = p.market_id
     WHERE p.phase <> 'CLOSED' AND p.next_check_at <= %(now)s AND p.exchange_id = ANY(%(exchanges)s)
     ORDER BY p.next_check_at LIMIT %(limit)s
       FOR UPDATE OF p SKIP LOCKED
"""


_UNACCOUNTED_SQL = """
    SELECT position_id FROM positions_takeprofitlevel WHERE position_id = ANY(%s) AND status = 'TRIGGERED'
    UNION
    SELECT o.position_id FROM orders_order o JOIN positions_position p ON p.id = o.position_id
     WHERE o.position_id = ANY(%s) AND o.filled > 0 AND p.phase <> 'CLOSED'
       AND ((o.role IN ('stop', 'close') AND o.id IS DISTINCT FROM p.last_exit_order_id)
            OR (o.role = 'reduce' AND p.reduces_accounted <
                (SELECT count(*) FROM orders_order r WHERE r.position_id = p.id AND r.role = 'reduce')))
"""


def positions_monitor_tick(*, now: datetime | None = None, limit: int = 20_000, venue_for=None) -> TickResult:
    """Claim due positions, price them with one tickers call per venue, evaluate, reschedule.

    The venues with due positions are priced first (one tickers call each,
    no lock held). Then, in one short transaction, the due positions are
    claimed (`SKIP LOCKED`, so concurrent ticks share the work), read with
    their pending TP prices and whether an order of theirs is working, and
    decided in memory: a quiet position gets its next check by its tier, one
    that must act (entry filling, an order working, a trigger crossed, a
    trailing stop to move) a short lease; both in one UPDATE. After commit,
    the ones that must act take the full `position_check` (which places
    orders, never inside that transaction), and the marks go to the
    write-behind buffer in one round trip.
    """
    now = now or timezone.now()
    venue_for = venue_for or get_venue
    result = TickResult()
    rules = tiers()
    due = Position.objects.filter(next_check_at__lte=now).exclude(phase=P.CLOSED)
    due_exchanges = set(due.order_by().values_list("exchange_id", flat=True).distinct())  # a row per venue
    venues, prices = {}, {}
    for exchange in Exchange.objects.filter(pk__in=due_exchanges):
        venues[exchange.pk] = venue = venue_for(exchange)
        try:
            result.venue_calls += 1
            prices[exchange.pk] = {symbol: t.bid for symbol, t in venue.fetch_tickers().items()}
        except VenueError as exc:
            log.warning("positions on %s not priced: %s", exchange.name, exc)
            Position.objects.filter(exchange=exchange, next_check_at__lte=now).exclude(phase=P.CLOSED).update(
                next_check_at=now + timedelta(seconds=rules.critical_s)
            )
    if not prices:
        return result
    quiet: list[tuple[int, datetime, str]] = []
    acting: list[tuple[Claimed, Decimal | None]] = []
    marks: list[tuple[int, Decimal, Decimal, Decimal]] = []
    changed_tier: list[tuple[int, str, str]] = []
    lease = now + timedelta(seconds=settings.POSITION_LEASE_S)
    with transaction.atomic():
        with server_cursor() as cursor:  # arrays as one parameter each
            positions = [
                Claimed(*row)
                for row in cursor.execute(
                    _CLAIM_SQL, {"now": now, "exchanges": list(prices), "limit": limit}
                ).fetchall()
            ]
            ids = [q.pk for q in positions]
            pending: dict[int, list[Decimal]] = {}
            for position_id, tp_price in cursor.execute(
                "SELECT position_id, price FROM positions_takeprofitlevel WHERE position_id = ANY(%s) AND status = %s",
                [ids, TakeProfitStatus.PENDING],
            ).fetchall():
                pending.setdefault(position_id, []).append(tp_price)
            working = {row[0] for row in cursor.execute(
                "SELECT DISTINCT position_id FROM orders_order WHERE position_id = ANY(%s) AND live",
                [ids],
            ).fetchall()}  # fmt: skip
            # An exit that sold but was never accounted (its worker died in between) must be taken up now.
            working |= {row[0] for row in cursor.execute(_UNACCOUNTED_SQL, [ids, ids]).fetchall()}
        result.claimed = len(positions)
        for position in positions:
            price = prices[position.exchange_id].get(position.symbol)
            levels = pending.get(position.pk, [])
            try:
                acts = must_act(position, price, levels, position.pk in working)
                if not acts:
                    watch = watch_of(position, price, levels, position.since_breakeven, position.since_activity)
                    name, seconds = tier(watch, rules)
            except Exception:  # a row the quick path cannot judge: the full check records why, isolated
                acts = True
            if acts:
                acting.append((position, price))
                quiet.append((position.pk, lease, position.tier))
                continue
            quiet.append((position.pk, now + timedelta(seconds=seconds), name))
            if name != position.tier:
                changed_tier.append((position.pk, position.tier, name))
            if price is not None and position.cost_basis is not None:
                marks.append((position.pk, price, position.cost_basis, position.remaining))
            result.outcomes[O.WATCHING] = result.outcomes.get(O.WATCHING, 0) + 1
        _reschedule_many(quiet)
    loop = Loop("positions tick")
    for position, price in acting:
        outcome = Outcome(O.FAILED)
        failed = partial(record_failure, Position, position.pk, now=now, due_field="next_check_at")
        with loop.item(f"position {position.pk}", on_error=failed):
            try:
                outcome = position_check(position_id=position.pk, price=price, venue=venues[position.exchange_id],
                                         now=now)  # fmt: skip
            except VenueError as exc:
                outcome = Outcome(O.VENUE_ERROR, f"venue: {type(exc).__name__}")
                Position.objects.filter(pk=position.pk).update(next_check_at=now + timedelta(seconds=rules.critical_s))
        result.outcomes[outcome.kind] = result.outcomes.get(outcome.kind, 0) + 1
    result.failed = len(loop.failed)
    result.evaluated = len(positions)
    events.mark(marks, now)
    events.buffer_many([(pk, K.MONITORING_UPDATE, {"tier": [old, new]}) for pk, old, new in changed_tier])
    return result


def _reschedule_many(rows: list[tuple[int, datetime, str]]) -> None:
    """Every position's next check and tier: one UPDATE per (time, tier) group, a handful in all."""
    groups: dict[tuple[datetime, str], list[int]] = {}
    for pk, at, name in rows:
        groups.setdefault((at, name), []).append(pk)
    with server_cursor() as cursor:  # the ids as one array parameter
        for (at, name), ids in groups.items():
            cursor.execute(
                "UPDATE positions_position SET next_check_at = %s, tier = %s WHERE id = ANY(%s) AND phase <> 'CLOSED'",
                [at, name, ids],
            )
