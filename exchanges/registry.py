"""From an Exchange row to the Venue that serves it, guarded by the shared limiter and breaker.

A process keeps one venue per account (rebuilt when the account row changes,
and every VENUE_INSTANCE_TTL_S so newly synced markets are seen): its pooled
HTTP session, ccxt's loaded markets and the paper venue's market table are
reused by every order and monitor tick instead of being rebuilt for each.
"""

import threading
import time

from django.conf import settings

from core.limiter import RateLimiter

from .breaker import CircuitBreaker
from .guarded import GuardedVenue
from .models import Exchange, ExchangeKind
from .venue import Venue


def venue_limiter(exchange: Exchange) -> RateLimiter:
    weights = None
    if exchange.kind == ExchangeKind.POLYMARKET:
        from .polymarket import WEIGHTS as weights
    return RateLimiter(
        exchange.name, capacity=settings.VENUE_RATE_CAPACITY, refill_per_s=settings.VENUE_RATE_CAPACITY / 60,
        weights=weights,
    )  # fmt: skip


def venue_breaker(exchange: Exchange) -> CircuitBreaker:
    return CircuitBreaker(
        exchange.name, threshold=settings.VENUE_BREAKER_THRESHOLD, cooldown_s=settings.VENUE_BREAKER_COOLDOWN_S
    )


def raw_venue(exchange: Exchange, **kwargs) -> Venue:
    """The venue itself, without the shared guards (tests of the venue alone)."""
    if exchange.kind == ExchangeKind.PAPER:
        from .paper import PaperVenue

        return PaperVenue(exchange, **kwargs)
    if exchange.kind == ExchangeKind.CCXT:
        from .ccxt_venue import CcxtVenue

        return CcxtVenue(exchange, limiter=venue_limiter(exchange), **kwargs)
    if exchange.kind == ExchangeKind.POLYMARKET:
        from .polymarket import PolymarketVenue

        return PolymarketVenue(exchange, **kwargs)
    raise ValueError(f"Unknown exchange kind {exchange.kind!r}")


_venues: dict[int, tuple[object, float, Venue]] = {}
_venues_lock = threading.Lock()


def get_venue(exchange: Exchange, **kwargs) -> Venue:
    if kwargs:  # a venue made to measure (tests, benchmarks) is not shared
        return _guarded(exchange, **kwargs)
    now = time.monotonic()
    with _venues_lock:
        stamp, built_at, venue = _venues.get(exchange.pk, (None, 0.0, None))
        if venue is None or stamp != exchange.updated_at or now - built_at > settings.VENUE_INSTANCE_TTL_S:
            venue = _guarded(exchange)
            _venues[exchange.pk] = (exchange.updated_at, now, venue)
    return venue


def _guarded(exchange: Exchange, **kwargs) -> Venue:
    return GuardedVenue(raw_venue(exchange, **kwargs), limiter=venue_limiter(exchange), breaker=venue_breaker(exchange))
