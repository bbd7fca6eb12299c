"""Whether an account's fills are pushed: the user-data stream says it is alive (a Redis key it refreshes every
second while it is connected and subscribed), and while it is, the monitor checks that account's orders only as
a slow safety net (USER_STREAM_SAFETY_POLL_MS). When the stream drops it says so at once (polling takes over:
the live orders are checked now); if its process dies instead, the key expires within USER_STREAM_ALIVE_TTL_S
and the sweeper does the same on its next run."""

import logging
import time

from django.conf import settings
from django_redis import get_redis_connection

from core.resilience import REDIS_OUTAGES

from .models import RESTING_STATUSES

log = logging.getLogger(__name__)
ALIVE = "userstream:{}:alive"
DEFERRED = "userstream:deferred"  # accounts whose orders may be waiting on the safety interval
_cache: dict[int, tuple[float, bool]] = {}
CACHE_S = 0.5


def stream_alive(exchange_id: int) -> None:
    """The stream of this account is connected and subscribed (called every second while it is)."""
    redis = get_redis_connection("default")
    with redis.pipeline(transaction=False) as pipe:
        pipe.set(ALIVE.format(exchange_id), 1, ex=settings.USER_STREAM_ALIVE_TTL_S)
        pipe.sadd(DEFERRED, exchange_id)
        pipe.execute()
    _cache[exchange_id] = (time.monotonic(), True)


def stream_down(exchange_id: int) -> None:
    get_redis_connection("default").delete(ALIVE.format(exchange_id))
    _cache[exchange_id] = (time.monotonic(), False)


def fills_pushed(exchange_id: int) -> bool:
    """True while the account's user-data stream is alive (read at most every half second per process; a Redis
    outage reads as not alive: polling is the safe side)."""
    now = time.monotonic()
    at, alive = _cache.get(exchange_id, (0.0, False))
    if now - at < CACHE_S:
        return alive
    try:
        alive = bool(get_redis_connection("default").exists(ALIVE.format(exchange_id)))
    except REDIS_OUTAGES:
        alive = False
    _cache[exchange_id] = (now, alive)
    return alive


def poll_delay_ms(exchange_id: int, delay_ms: float, status: str) -> float:
    """The monitor's next delay for an order of this account: the policy's, or the safety net's while fills are
    pushed and the order is one a push moves on (an UNKNOWN one is looked up on the policy's times)."""
    if status not in RESTING_STATUSES:
        return delay_ms
    if delay_ms < settings.USER_STREAM_SAFETY_POLL_MS and fills_pushed(exchange_id):
        return float(settings.USER_STREAM_SAFETY_POLL_MS)
    return delay_ms


def deferred_accounts_down() -> list[int]:
    """Accounts whose stream was alive and is not any more (their orders wait on the safety interval): each is
    returned once, and forgotten."""
    redis = get_redis_connection("default")
    ids = [int(i) for i in redis.smembers(DEFERRED)]
    down = [i for i in ids if not redis.exists(ALIVE.format(i))]
    if down:
        redis.srem(DEFERRED, *down)
        for exchange_id in down:
            _cache.pop(exchange_id, None)
    return down
