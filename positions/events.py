"""Position events and mark-to-market, persisted by how much they matter.

Critical events (tp_hit, sl_hit, position_closed, monitor_created,
monitor_removed, breakeven_moved, operator actions) are inserted by the code
that causes them, before it returns. Non-critical ones (position_update,
partial_fill, order_adjustment, monitoring_update) wait in a Redis list per
position and are inserted in bulk: by the beat flush every
POSITION_EVENT_FLUSH_S, and at once, ahead of it, when a critical event of
the same position arrives, so a position's timeline is always in order.
Mark price and unrealized PnL go through the shared write-behind buffer.
With Redis down everything is written directly: slower, nothing lost.
"""

import json
import logging
from datetime import datetime
from decimal import Decimal

import redis
from django.db import transaction
from django.utils import timezone

from core.apicache import invalidate
from core.redis_client import counters_add, counters_read, redis_client
from core.writebehind import Update, buffer_updates

from .models import CRITICAL_EVENT_KINDS, Position, PositionEvent

log = logging.getLogger(__name__)
DIRTY_KEY = "pos:ev:dirty"
STATS_KEY = "pos:ev:stats"


def _key(position_id: int) -> str:
    return f"pos:ev:{position_id}"


def record(position_id: int, kind: str, payload: dict | None = None) -> PositionEvent:
    """Insert an event now (critical ones always come here), after the position's buffered ones."""
    buffered = _drain([position_id])
    with transaction.atomic():
        if buffered:
            PositionEvent.objects.bulk_create(buffered)
        event = PositionEvent.objects.create(position_id=position_id, kind=kind,
                                             critical=kind in CRITICAL_EVENT_KINDS, payload=payload or {},
                                             created_at=timezone.now())  # fmt: skip
    counters_add(STATS_KEY, {"written_now": 1, "flushed_with_critical": len(buffered)})
    if event.critical:
        transaction.on_commit(lambda: invalidate("positions", "account"))
    return event


def buffer(position_id: int, kind: str, payload: dict | None = None) -> str:
    """Queue a non-critical event for the next flush; "buffered", or "direct" when Redis is away."""
    if kind in CRITICAL_EVENT_KINDS:
        record(position_id, kind, payload)
        return "direct"
    return buffer_many([(position_id, kind, payload or {})])


def buffer_many(items: list[tuple[int, str, dict]]) -> str:
    """Queue non-critical events in one round trip; "buffered", or "direct" when Redis is away."""
    if not items:
        return "buffered"
    at = timezone.now().isoformat()
    try:
        pipe = redis_client().pipeline(transaction=False)
        for position_id, kind, payload in items:
            pipe.rpush(_key(position_id), json.dumps({"kind": kind, "payload": payload, "at": at}))
        pipe.sadd(DIRTY_KEY, *{pk for pk, _, _ in items})
        pipe.hincrby(STATS_KEY, "buffered", len(items))
        pipe.execute()
        return "buffered"
    except redis.RedisError as exc:
        log.warning("position events buffer unavailable, writing %d directly: %s", len(items), exc)
        PositionEvent.objects.bulk_create([
            PositionEvent(position_id=pk, kind=kind, critical=False, payload=payload, created_at=timezone.now())
            for pk, kind, payload in items
        ])  # fmt: skip
        return "direct"


def mark(marks: list[tuple[int, Decimal, Decimal, Decimal]], now: datetime) -> None:
    """Mark-to-market (non-critical progress) of (position, price, cost basis, held) in one buffer write."""
    buffer_updates(Position, [
        Update(pk, {"mark_price": price, "unrealized_pnl": (price - basis) * held, "last_checked_at": now})
        for pk, price, basis, held in marks
    ])  # fmt: skip


def flush(position_ids: list[int] | None = None) -> int:
    """Insert the buffered events (of `position_ids`, or of every position that has some); returns how many."""
    try:
        r = redis_client()
        ids = position_ids if position_ids is not None else [int(x) for x in r.smembers(DIRTY_KEY)]
    except redis.RedisError:
        return 0
    events = _drain(ids)
    if events:
        PositionEvent.objects.bulk_create(events)
        counters_add(STATS_KEY, {"flushed": len(events), "flush_statements": 1})
    return len(events)


def _drain(position_ids: list[int]) -> list[PositionEvent]:
    """Take the buffered events of these positions out of Redis (atomically per position)."""
    if not position_ids:
        return []
    try:
        pipe = redis_client().pipeline(transaction=True)
        for pk in position_ids:
            pipe.lrange(_key(pk), 0, -1)
            pipe.delete(_key(pk))
        pipe.srem(DIRTY_KEY, *position_ids)
        replies = pipe.execute()
    except redis.RedisError:
        return []
    existing = set(Position.objects.filter(pk__in=position_ids).values_list("pk", flat=True))
    events = []
    for pk, raw in zip(position_ids, replies[0:-1:2], strict=True):
        if pk not in existing:
            continue
        for item in raw:
            body = json.loads(item)
            events.append(PositionEvent(position_id=pk, kind=body["kind"], critical=False, payload=body["payload"],
                                        created_at=datetime.fromisoformat(body["at"])))  # fmt: skip
    return events


def stats() -> dict:
    raw = counters_read(STATS_KEY)
    return {k: raw[k] for k in ("buffered", "flushed", "flush_statements", "written_now", "flushed_with_critical")}
