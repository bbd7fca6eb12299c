"""Wallet sources behind one interface (`Source`), each over a pooled session and a shared rate limiter."""

from django.conf import settings

from core.http import venue_http
from core.limiter import RateLimiter

from .base import ScanResult, Source, SourceDailyLimit, SourceError, SourceRateLimited, SourceTrade
from .etherscan import EtherscanPolygon
from .polymarket import PolymarketActivity, PolymarketActivityV2

__all__ = [
    "ScanResult", "Source", "SourceDailyLimit", "SourceError", "SourceRateLimited", "SourceTrade", "source_for",
    "source_limiter",
]  # fmt: skip

_KINDS = {"polymarket": PolymarketActivity, "polymarket_v2": PolymarketActivityV2, "etherscan": EtherscanPolygon}
# Both Polymarket routes are one host, so one budget.
_BUDGET = {"polymarket": "polymarket", "polymarket_v2": "polymarket", "etherscan": "etherscan"}


def source_limiter(kind: str) -> RateLimiter:
    """The request budget of a source, shared by every process (WALLET_SOURCE_RATE_PER_S).

    No burst (a bucket of one): requests go out evenly spaced, so no second ever holds more than the rate.
    """
    budget = _BUDGET[kind]
    rate = float(settings.WALLET_SOURCE_RATE_PER_S[budget])
    return RateLimiter(f"source:{budget}", capacity=1.0, refill_per_s=rate)


def source_for(kind: str) -> Source:
    if kind not in _KINDS:
        raise ValueError(f"Unknown wallet source {kind!r}; one of {', '.join(sorted(_KINDS))}.")
    base_url = settings.ETHERSCAN_API_URL if kind == "etherscan" else settings.POLYMARKET_DATA_API_URL
    return _KINDS[kind](http=venue_http(f"source:{_BUDGET[kind]}"), limiter=source_limiter(kind), base_url=base_url)
