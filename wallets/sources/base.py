"""What every wallet source gives: fills of one wallet after a cursor, over the shared HTTP pool and rate limiter.

A source never decides what is new: it reads from the cursor minus an overlap
(indexer lag, reorgs) and returns every fill it saw, each with a dedup key
that is unique per fill. The scanner keeps what it does not know yet.
"""

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from exchanges.errors import Banned, RateLimited, VenueError
from exchanges.http import VenueHttp
from exchanges.limiter import RateLimiter

log = logging.getLogger(__name__)


class SourceError(Exception):
    """The source could not answer this scan; the wallet keeps its cursor and is scanned again later."""


class SourceRateLimited(SourceError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceDailyLimit(SourceError):
    """The source's daily allowance is spent: nothing is asked of it until `until`."""

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until


@dataclass(frozen=True, slots=True)
class SourceTrade:
    dedup_key: str
    tx_hash: str
    block_number: int | None
    traded_at: datetime
    market: str
    asset: str
    title: str
    side: str  # buy or sell
    price: Decimal
    size: Decimal
    raw: dict


@dataclass
class ScanResult:
    trades: list[SourceTrade] = field(default_factory=list)
    cursor: str = ""


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def with_ordinals(keys: list[str]) -> list[str]:
    """`key:n`, n counting identical keys in the order read: two identical fills in one transaction stay two."""
    seen: Counter[str] = Counter()
    result = []
    for key in keys:
        result.append(f"{key}:{seen[key]}")
        seen[key] += 1
    return result


def cursor_value(cursor: str, prefix: str) -> int | None:
    """The number in a cursor `prefix:n`; None for an empty or foreign one."""
    if not cursor.startswith(prefix + ":"):
        return None
    try:
        return int(cursor.split(":", 1)[1])
    except ValueError:
        return None


class Source(ABC):
    """One wallet-activity API. `known(keys)` says which dedup keys are stored already."""

    name = ""

    def __init__(self, *, http: VenueHttp, limiter: RateLimiter, base_url: str) -> None:
        self.http = http
        self.limiter = limiter
        self.base_url = base_url.rstrip("/")
        self.calls = 0

    def get_json(self, url: str, params: dict) -> object:
        """One GET within the shared budget; HTTP errors become SourceError, 429 a shared backoff."""
        try:
            self.limiter.acquire(1, timeout=10.0)
        except RateLimited as exc:
            raise SourceRateLimited(str(exc), retry_after=exc.retry_after) from exc
        except Banned as exc:  # the daily allowance is spent: nothing goes out until it resets
            raise SourceDailyLimit(f"{self.name}: {exc}", until=exc.until) from exc
        self.calls += 1
        try:
            response = self.http.request("GET", url, params=params)
        except VenueError as exc:
            raise SourceError(f"{self.name}: {exc}") from exc
        if response.status_code == 429:
            retry_after = float(response.headers.get("Retry-After") or 1.0)
            self.limiter.backoff(retry_after)
            raise SourceRateLimited(f"{self.name}: HTTP 429, retry in {retry_after:.1f}s", retry_after=retry_after)
        if response.status_code >= 400:
            raise SourceError(f"{self.name}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{self.name}: the answer is not JSON: {response.text[:200]!r}") from exc

    @abstractmethod
    def present_cursor(self, address: str) -> str:
        """Where a new wallet starts: now, so its history is never copied."""

    @abstractmethod
    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        """Every fill from the cursor (minus the overlap) on, and the cursor after them."""
