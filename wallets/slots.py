"""At most COPY_CONCURRENCY copies being placed at once, across every worker (a Redis semaphore).

Each holder is a member of a sorted set scored by its lease's end, so a slot
held by a worker that died frees itself after COPY_SLOT_LEASE_S.
"""

import time
import uuid
from contextlib import contextmanager

from django.conf import settings

from core.redis_client import redis_client

KEY = "copies:slots"
# KEYS[1]: the set. ARGV: now (ms), lease end (ms), limit, token. 1 when the slot is taken.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  return 1
end
return 0
"""


class SlotsBusy(Exception):
    """Every copy slot is taken; try again shortly."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@contextmanager
def copy_slot(limit: int | None = None, lease_s: float | None = None):
    """Hold one of the copy slots for the block; SlotsBusy when none is free."""
    r = redis_client()
    limit = limit or settings.COPY_CONCURRENCY
    lease_ms = int((lease_s or settings.COPY_SLOT_LEASE_S) * 1000)
    token = uuid.uuid4().hex
    now = _now_ms()
    if not r.eval(_ACQUIRE, 1, KEY, now, now + lease_ms, limit, token):
        raise SlotsBusy(f"all {limit} copy slots are in use")
    try:
        yield token
    finally:
        r.zrem(KEY, token)


def slots_in_use() -> int:
    r = redis_client()
    return int(r.zcount(KEY, _now_ms(), "+inf"))
