"""Pooled HTTP sessions per venue, with explicit timeouts, recreated when unhealthy."""

import threading
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from .errors import RequestTimeout, VenueUnavailable, redact

_UNHEALTHY_AFTER = 3  # consecutive connection failures before the pool is rebuilt


class VenueHttp:
    """One keep-alive connection pool for one venue in this process."""

    def __init__(
        self,
        venue: str,
        *,
        pool_size: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self.venue = venue
        self.pool_size = pool_size or settings.VENUE_POOL_SIZE
        self.timeout = (
            connect_timeout if connect_timeout is not None else settings.VENUE_CONNECT_TIMEOUT_S,
            read_timeout if read_timeout is not None else settings.VENUE_READ_TIMEOUT_S,
        )
        self._lock = threading.Lock()
        self._failures = 0
        self.session = self._new_session()
        self.recreated = 0

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.pool_size, max_retries=0, pool_block=False)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def _recreate(self) -> None:
        with self._lock:
            self.session.close()
            self.session = self._new_session()
            self._failures = 0
            self.recreated += 1

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            # A read timeout leaves the outcome unknown; the caller must look it up, not resend.
            raise RequestTimeout(f"{self.venue}: no answer within {self.timeout[1]}s ({redact(url)})") from exc
        except requests.ConnectionError as exc:
            self._failures += 1
            if self._failures >= _UNHEALTHY_AFTER:
                self._recreate()
            raise VenueUnavailable(f"{self.venue}: connection failed ({exc.__class__.__name__})") from exc
        self._failures = 0
        return response


_sessions: dict[str, VenueHttp] = {}
_sessions_lock = threading.Lock()


def venue_http(venue: str) -> VenueHttp:
    with _sessions_lock:
        if venue not in _sessions:
            _sessions[venue] = VenueHttp(venue)
        return _sessions[venue]


def with_base(url: str, base: str) -> str:
    """`url` with its scheme and host (and port) replaced by `base`'s, its path kept (an account pointed at an
    emulator or a regional endpoint)."""
    parts, new = urlsplit(url), urlsplit(base)
    return urlunsplit(parts._replace(scheme=new.scheme, netloc=new.netloc))


def rebased(urls: dict, base: str) -> dict:
    """A ccxt client's `urls["api"]` with every URL on `base` (nested mappings too)."""
    return {k: with_base(v, base) if isinstance(v, str) else rebased(v, base) if isinstance(v, dict) else v
            for k, v in urls.items()}  # fmt: skip
