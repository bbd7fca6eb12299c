"""A read cache for API answers, by kind, each kind with its own TTL (API_CACHE_TTLS).

A kind is invalidated at once by bumping its version (one INCR): keys of the
old version are never read again and expire on their own. Critical position
events invalidate `positions` and `account`; order changes invalidate
`orders`. Hits, misses and invalidations per kind are served in
/api/cache-stats/ under `api_cache`. With Redis away every read is computed.
"""

import hashlib
import json
import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.response import Response

from core.redis_client import counters_add, counters_read, redis_client

log = logging.getLogger(__name__)
STATS_KEY = "apicache:stats"


def cached(kind: str, key: str, compute: Callable[[], object]) -> object:
    """`compute()`'s answer, from the cache of `kind` when it holds one.

    The Redis key is a digest of `key` (a request's path and query), so its length is fixed, and a kind holds
    at most API_CACHE_MAX_KEYS answers per version: past that, answers are computed and not stored, so distinct
    query strings can never fill the Redis that is also the broker.
    """
    ttl = max(1, int(settings.API_CACHE_TTLS[kind]))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        r = redis_client()
        version = int(r.get(f"apicache:ver:{kind}") or 0)
        full = f"apicache:{kind}:{version}:{digest}"
        raw = r.get(full)
    except redis.RedisError:
        return compute()
    if raw is not None:
        counters_add(STATS_KEY, {f"{kind}:hits": 1})
        return json.loads(raw)
    value = json.loads(json.dumps(compute(), cls=DjangoJSONEncoder))  # what a hit would return
    try:
        count_key = f"apicache:n:{kind}:{version}"
        pipe = r.pipeline(transaction=False)
        pipe.incr(count_key)
        pipe.expire(count_key, ttl)
        stored, _ = pipe.execute()
        if stored <= settings.API_CACHE_MAX_KEYS:
            r.set(full, json.dumps(value), ex=ttl)
            counters_add(STATS_KEY, {f"{kind}:misses": 1})
        else:
            counters_add(STATS_KEY, {f"{kind}:misses": 1, f"{kind}:not_stored": 1})
    except redis.RedisError as exc:
        log.warning("API cache unavailable: %s", exc)
    return value


def invalidate(*kinds: str) -> None:
    try:
        pipe = redis_client().pipeline(transaction=False)
        for kind in kinds:
            pipe.incr(f"apicache:ver:{kind}")
            pipe.hincrby(STATS_KEY, f"{kind}:invalidations", 1)
        pipe.execute()
    except redis.RedisError as exc:  # the TTL bounds how stale a kind can get
        log.warning("API cache not invalidated (%s): %s", ", ".join(kinds), exc)


def stats() -> dict:
    raw = counters_read(STATS_KEY)
    result = {}
    for kind, ttl in settings.API_CACHE_TTLS.items():
        hits, misses = raw[f"{kind}:hits"], raw[f"{kind}:misses"]
        result[kind] = {"ttl_s": ttl, "hits": hits, "misses": misses, "invalidations": raw[f"{kind}:invalidations"],
                        "not_stored": raw[f"{kind}:not_stored"],
                        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}  # fmt: skip
    return result


class CachedReadsMixin:
    """List and retrieve answers of a viewset served from the cache of `cache_kind` (same answer for every user)."""

    cache_kind = ""

    def list(self, request, *args, **kwargs):
        read = super().list
        return Response(cached(self.cache_kind, request.get_full_path(), lambda: read(request, *args, **kwargs).data))

    def retrieve(self, request, *args, **kwargs):
        read = super().retrieve
        return Response(cached(self.cache_kind, request.get_full_path(), lambda: read(request, *args, **kwargs).data))
