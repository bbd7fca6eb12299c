"""Every venue call passes the shared limiter and the shared circuit breaker."""

from collections.abc import Callable
from typing import TypeVar

from core.limiter import RateLimiter
from core.metrics import count_call

from .breaker import CircuitBreaker
from .errors import Banned, RateLimited, RequestTimeout, VenueError, VenueUnavailable
from .venue import Venue

T = TypeVar("T")


class GuardedVenue(Venue):
    def __init__(self, inner: Venue, *, limiter: RateLimiter, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter
        self.breaker = breaker

    def _guard(self, endpoint: str, call: Callable[[], T]) -> T:
        self.breaker.before_call()
        self.limiter.acquire(self.limiter.weight(endpoint))
        try:
            result = call()
        except RateLimited as exc:
            count_call(self.name, endpoint, "rate_limited")
            self.limiter.backoff(exc.retry_after)
            raise
        except Banned as exc:
            count_call(self.name, endpoint, "banned")
            self.limiter.ban(exc.until)
            raise
        except (VenueUnavailable, RequestTimeout) as exc:
            count_call(self.name, endpoint, "timeout" if isinstance(exc, RequestTimeout) else "unavailable")
            self.breaker.record_failure()
            raise
        except VenueError:
            count_call(self.name, endpoint, "refused")
            self.breaker.record_success()  # the venue answered; the request itself was refused
            raise
        count_call(self.name, endpoint, "ok")
        self.breaker.record_success()
        return result

    def request_weight(self, endpoint: str) -> int:
        return self.limiter.weight(endpoint)

    def budget_left(self) -> float:
        return self.limiter.budget_fraction()

    def __getattr__(self, name):
        return getattr(self.inner, name)  # venue-specific extras (e.g. the paper venue's match_resting)

    def load_markets(self):
        return self._guard("load_markets", self.inner.load_markets)

    def fetch_tickers(self):
        return self._guard("fetch_tickers", self.inner.fetch_tickers)

    def feed_book(self, symbol, depth=20):
        return self.inner.feed_book(symbol, depth)

    def feed_books(self, symbols, depth=20):
        return self.inner.feed_books(symbols, depth)  # no request goes out: nothing to limit or count

    def fetch_order_book(self, symbol, depth=20):
        if (book := self.inner.feed_book(symbol, depth)) is not None:
            return book  # the feed's book: no request, no weight spent, nothing for the breaker to count
        return self._guard("fetch_order_book", lambda: self.inner.fetch_order_book(symbol, depth))

    def prepare_order(self, **kwargs):
        return self.inner.prepare_order(**kwargs)  # signed here, nothing sent: no budget spent

    def create_order(self, **kwargs):
        return self._guard("create_order", lambda: self.inner.create_order(**kwargs))

    def fetch_order(self, **kwargs):
        return self._guard("fetch_order", lambda: self.inner.fetch_order(**kwargs))

    def fetch_open_orders(self, symbol=None):
        endpoint = "fetch_open_orders" if symbol else "fetch_open_orders_all"
        return self._guard(endpoint, lambda: self.inner.fetch_open_orders(symbol))

    def cancel_order(self, **kwargs):
        return self._guard("cancel_order", lambda: self.inner.cancel_order(**kwargs))

    def fetch_balance(self):
        return self._guard("fetch_balance", self.inner.fetch_balance)

    def fetch_my_trades(self, **kwargs):
        return self._guard("fetch_my_trades", lambda: self.inner.fetch_my_trades(**kwargs))

    def fetch_klines(self, symbol, **kwargs):
        return self._guard("fetch_klines", lambda: self.inner.fetch_klines(symbol, **kwargs))

    def fetch_resolution(self, symbol):
        return self._guard("fetch_resolution", lambda: self.inner.fetch_resolution(symbol))

    def redeem(self, symbol):
        return self._guard("redeem", lambda: self.inner.redeem(symbol))
