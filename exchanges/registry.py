"""From an Exchange row to the Venue that serves it, guarded by the shared limiter and breaker."""

from django.conf import settings

from .breaker import CircuitBreaker
from .guarded import GuardedVenue
from .limiter import RateLimiter
from .models import Exchange, ExchangeKind
from .venue import Venue


def venue_limiter(exchange: Exchange) -> RateLimiter:
    return RateLimiter(
        exchange.name, capacity=settings.VENUE_RATE_CAPACITY, refill_per_s=settings.VENUE_RATE_CAPACITY / 60
    )


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
    raise ValueError(f"Unknown exchange kind {exchange.kind!r}")


def get_venue(exchange: Exchange, **kwargs) -> Venue:
    return GuardedVenue(raw_venue(exchange, **kwargs), limiter=venue_limiter(exchange), breaker=venue_breaker(exchange))
