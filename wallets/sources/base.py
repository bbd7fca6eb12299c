"""What every wallet source gives: fills of one wallet after a cursor, over the shared HTTP pool and rate limiter.

A source never decides what is new: it reads from the cursor minus an overlap
(indexer lag, reorgs) and returns every fill it saw, each with a dedup key
that is unique per fill. The scanner keeps what it does not know yet.
"""

import json
import logging
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import requests
from django.conf import settings

from core.http import VenueHttp
from core.limiter import RateLimiter
from exchanges.errors import Banned, RateLimited, VenueError
from exchanges.parsing import parse_retry_after

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


TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MAX_TOKEN_ID = 100  # an ERC-1155 token id is a uint256: at most 78 decimal digits


def tx_hash(value: object, *, what: str, field_name: str = "transactionHash") -> str:
    """A transaction hash as the chain writes it (0x and 64 hex digits), or the SourceError naming it."""
    if not isinstance(value, str) or not TX_HASH.match(value):
        raise SourceError(f"{what}: {field_name} is not a transaction hash ({str(value)[:80]!r})")
    return value.lower()


def address(value: object, *, what: str, field_name: str) -> str:
    if not isinstance(value, str) or not ADDRESS.match(value):
        raise SourceError(f"{what}: {field_name} is not an address ({str(value)[:80]!r})")
    return value.lower()


def unix_time(value: object, *, what: str, field_name: str) -> datetime:
    """A unix timestamp in seconds, between 2015 and 2100 (anything else is not a fill's time)."""
    try:
        seconds = int(str(value))
    except (TypeError, ValueError):
        raise SourceError(f"{what}: {field_name} is not a unix time ({str(value)[:40]!r})") from None
    if not 1_420_070_400 <= seconds <= 4_102_444_800:
        raise SourceError(f"{what}: {field_name} is out of range ({seconds})")
    return datetime.fromtimestamp(seconds, tz=UTC)


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

    def begin_scan(self) -> None:
        """A new scan's page and byte budget (WALLET_SCAN_MAX_PAGES, WALLET_SCAN_MAX_BYTES)."""
        self.scan_pages = self.scan_bytes = 0

    def scan_budget_spent(self) -> bool:
        """The scan read as many pages or bytes as one scan may: it stops and resumes from there next time."""
        return (
            getattr(self, "scan_pages", 0) >= settings.WALLET_SCAN_MAX_PAGES
            or getattr(self, "scan_bytes", 0) >= settings.WALLET_SCAN_MAX_BYTES
        )

    def get_json(self, url: str, params: dict) -> object:
        """One GET within the shared budget; HTTP errors become SourceError, 429 a shared backoff.

        The body is read up to WALLET_SCAN_MAX_BYTES: a larger answer is refused, never held in memory whole.
        """
        try:
            self.limiter.acquire(1, timeout=10.0)
        except RateLimited as exc:
            raise SourceRateLimited(str(exc), retry_after=exc.retry_after) from exc
        except Banned as exc:  # the daily allowance is spent: nothing goes out until it resets
            raise SourceDailyLimit(f"{self.name}: {exc}", until=exc.until) from exc
        self.calls += 1
        try:
            response = self.http.request("GET", url, params=params, stream=True)
        except VenueError as exc:
            raise SourceError(f"{self.name}: {exc}") from exc
        with response:
            if response.status_code == 429:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), default=1.0,
                                                cap=settings.WALLET_SOURCE_RETRY_AFTER_CAP_S)  # fmt: skip
                self.limiter.backoff(retry_after)
                raise SourceRateLimited(f"{self.name}: HTTP 429, retry in {retry_after:.1f}s", retry_after=retry_after)
            body = self._read_capped(response)
        self.scan_pages = getattr(self, "scan_pages", 0) + 1
        self.scan_bytes = getattr(self, "scan_bytes", 0) + len(body)
        text = body.decode(response.encoding or "utf-8", errors="replace")
        if response.status_code >= 400:
            raise SourceError(f"{self.name}: HTTP {response.status_code}: {text[:200]}")
        try:
            return json.loads(text)  # NaN and Infinity parse as floats: the row validators refuse them by name
        except ValueError as exc:
            raise SourceError(f"{self.name}: the answer is not JSON: {text[:200]!r}") from exc

    def _read_capped(self, response) -> bytes:
        limit = settings.WALLET_SCAN_MAX_BYTES
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise SourceError(f"{self.name}: an answer larger than {limit} bytes was refused")
        except requests.RequestException as exc:
            raise SourceError(f"{self.name}: the answer broke off: {type(exc).__name__}") from exc
        return b"".join(chunks)

    @abstractmethod
    def present_cursor(self, address: str) -> str:
        """Where a new wallet starts: now, so its history is never copied."""

    @abstractmethod
    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        """Every fill from the cursor (minus the overlap) on, and the cursor after them."""
