"""One exception hierarchy for every venue, paper or real."""

from datetime import datetime

from core.errors import Conflict, DomainError


class VenueError(DomainError):
    status_code = 502
    code = "venue_error"


class InsufficientFunds(VenueError):
    status_code = 400
    code = "insufficient_funds"


class InvalidOrder(VenueError):
    """An order breaks a market rule; `rule` names it and `allowed` says what would pass."""

    status_code = 400
    code = "invalid_order"

    def __init__(self, message: str, *, rule: str = "", allowed: object = None) -> None:
        super().__init__(message, rule=rule, allowed=allowed)
        self.rule = rule
        self.allowed = allowed


class OrderNotFound(VenueError):
    status_code = 404
    code = "order_not_found"


class DuplicateClientOrderId(VenueError):
    status_code = 409
    code = "duplicate_client_order_id"


class RateLimited(VenueError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Banned(VenueError):
    """The venue banned us (Binance HTTP 418): no call may go out until `until`."""

    status_code = 503
    code = "banned"

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message, until=until.isoformat())
        self.until = until


class VenueUnavailable(VenueError):
    status_code = 503
    code = "venue_unavailable"


class CircuitOpen(VenueUnavailable):
    """Refused locally by the circuit breaker: the request never went out."""

    code = "circuit_open"


class RequestTimeout(VenueError):
    """No answer in time: the request may or may not have taken effect."""

    status_code = 504
    code = "request_timeout"


class EntriesHalted(Conflict):
    """The account's kill switch is on: no new cycle, position or copy opens on it (exits still run)."""

    code = "entries_halted"
