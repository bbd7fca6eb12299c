"""Each feed's health in Redis (written every second by run_feed): /healthz (staff) and /api/cache-stats/."""

import orjson

from core.redis_client import redis_client

KEY = "feed:stats:{exchange}"
STALE_AFTER_S = 10  # a feed that has not reported for this long is taken for dead


def feed_publish(exchange: str, stats: dict, *, client=None) -> None:
    (client or redis_client()).set(KEY.format(exchange=exchange), orjson.dumps(stats), ex=STALE_AFTER_S)


def feed_health(exchange: str, *, client=None) -> dict | None:
    """The last report of the account's feed, or None (no feed running)."""
    raw = (client or redis_client()).get(KEY.format(exchange=exchange))
    return orjson.loads(raw) if raw is not None else None


def feed_stats(client=None) -> dict:
    """Every running feed's last report, by account."""
    r = client or redis_client()
    prefix = KEY.format(exchange="")
    keys = list(r.scan_iter(prefix + "*"))
    values = r.mget(keys) if keys else []
    return {k.decode().removeprefix(prefix): orjson.loads(v) for k, v in zip(keys, values, strict=True) if v}
