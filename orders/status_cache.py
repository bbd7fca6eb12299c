"""Venue order status cached in Redis for a few hundred ms: repeated reads of one order cost one venue call.

Every venue answer about an order (a single fetch or an open-orders batch)
is stored under the order's client id with the policy's `cache_ttl_ms`;
monitoring, re-checks and API reads look here first. Losing it costs only
venue calls, so a Redis outage is a miss, never an error.
"""

import contextlib
import json
import logging
from dataclasses import fields
from decimal import Decimal

import redis

from core.redis_client import counters_add, counters_read, redis_client
from exchanges.types import VenueOrder

log = logging.getLogger(__name__)

STATS_KEY = "ostat:stats"


def _key(exchange_id: int, client_order_id: str) -> str:
    return f"ostat:{exchange_id}:{client_order_id}"


def _encode(order: VenueOrder) -> str:
    values = {f.name: getattr(order, f.name) for f in fields(VenueOrder) if f.name != "trades"}
    return json.dumps(values, default=str)  # Decimals as exact strings


def _decode(raw: bytes) -> VenueOrder:
    d = json.loads(raw)
    for name in ("amount", "filled", "cost", "fee"):
        d[name] = Decimal(d[name])
    d["price"] = None if d["price"] is None else Decimal(d["price"])
    return VenueOrder(**d)  # trades are never cached: fills are fetched when the filled amount moves


def status_cache_put(exchange_id: int, orders: list[VenueOrder], *, ttl_ms: int) -> None:
    if not orders or ttl_ms <= 0:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        for order in orders:
            pipe.set(_key(exchange_id, order.client_order_id), _encode(order), px=ttl_ms)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("order status cache unavailable: %s", exc)


def status_cache_get(exchange_id: int, client_order_id: str) -> VenueOrder | None:
    try:
        raw = redis_client().get(_key(exchange_id, client_order_id))
        counters_add(STATS_KEY, {"misses" if raw is None else "hits": 1})
    except redis.RedisError:
        return None
    return None if raw is None else _decode(raw)


def status_cache_forget(exchange_id: int, client_order_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        redis_client().delete(_key(exchange_id, client_order_id))


def status_cache_stats() -> dict:
    raw = counters_read(STATS_KEY)
    hits, misses = raw["hits"], raw["misses"]
    return {"hits": hits, "misses": misses, "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0}
