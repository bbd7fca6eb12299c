"""The root of every app's domain exceptions.

A DomainError is a value a user can act on: the API maps it to a 4xx with its
message, the admin shows it as an error message, commands print it.
"""

import re
from datetime import datetime


class DomainError(Exception):
    """A refused operation with a message that says why."""

    status_code = 400
    code = "domain_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IntegrityViolation(DomainError):
    """An invariant of ours would break (a sale beyond what is held): refused, never clamped."""

    status_code = 409
    code = "integrity_violation"


def constraint_name(exc: BaseException) -> str | None:
    """The name of the database constraint an IntegrityError broke (psycopg's diagnostics), if any."""
    cause = getattr(exc, "__cause__", None)
    return getattr(getattr(cause, "diag", None), "constraint_name", None)


# A remote service's answers (a venue, a chain explorer): the pooled HTTP session and the shared rate limiter
# raise these, and the venue adapters add their own kinds under VenueError (exchanges/errors.py).


class VenueError(DomainError):
    status_code = 502
    code = "venue_error"


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


_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")


def redact(message: str, *secrets: str) -> str:
    """An error text safe to store and show: URL query strings (signatures) and the given secrets removed."""
    message = _URL_QUERY.sub(r"\1?…", str(message))
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "…")
    return message
