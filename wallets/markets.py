"""Which of our markets a watched wallet's asset trades on, through a bounded TTL cache (LRU).

A copy looks its market up by the source's asset id (`Market.external_id`,
or the symbol itself for venue markets). Lookups are cached per process for
WALLET_MARKET_CACHE_TTL_S, at most WALLET_MARKET_CACHE_SIZE entries, absences
included; the counts go to Redis every few seconds and are served in
/api/cache-stats/ under `wallet_markets`.
"""

import contextlib
import threading
import time

import redis
from django.conf import settings
from django.db.models import Q

from core.redis_client import counters_add, counters_read
from core.ttlcache import TTLCache
from exchanges.models import Market

STATS_KEY = "wallets:marketcache"
_FLUSH_EVERY_S = 2.0
_cache: TTLCache | None = None
_lock = threading.Lock()
_last_flush = 0.0


def _the_cache() -> TTLCache:
    global _cache
    with _lock:
        if _cache is None:
            _cache = TTLCache(settings.WALLET_MARKET_CACHE_SIZE, settings.WALLET_MARKET_CACHE_TTL_S)
        return _cache


def market_for(exchange_id: int, asset: str) -> Market | None:
    """The active market of `exchange_id` trading `asset`, or None (cached either way)."""
    cache = _the_cache()
    market = cache.get_or_load((exchange_id, asset), lambda: _lookup(exchange_id, asset))
    _flush_counts(cache)
    return market


def _lookup(exchange_id: int, asset: str) -> Market | None:
    found = Market.objects.filter(Q(external_id=asset) | Q(symbol=asset.upper()), exchange_id=exchange_id, active=True)
    return found.first()


def _flush_counts(cache: TTLCache, *, force: bool = False) -> None:
    global _last_flush
    now = time.monotonic()
    if not force and now - _last_flush < _FLUSH_EVERY_S:
        return
    _last_flush = now
    counts = cache.flush_counts()
    if counts:
        with contextlib.suppress(redis.RedisError):  # statistics only: a lost count is not worth failing a copy
            counters_add(STATS_KEY, counts)


def forget() -> None:
    """Drop this process's cached lookups (markets changed, or tests)."""
    _the_cache().clear()


def market_cache_stats() -> dict:
    cache = _the_cache()
    _flush_counts(cache, force=True)
    raw = counters_read(STATS_KEY)
    hits, misses = raw["hits"], raw["misses"]
    return {
        "maxsize": cache.maxsize, "ttl_s": cache.ttl_s, "size_this_process": len(cache), "hits": hits,
        "misses": misses, "expired": raw["expired"], "evictions": raw["evictions"],
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
    }  # fmt: skip
