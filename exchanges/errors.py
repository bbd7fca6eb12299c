"""One exception hierarchy for every venue, paper or real: the remote-call errors (core.errors, which the
chain explorers raise too) and the venue's own refusals below."""

from core.errors import Banned, CircuitOpen, Conflict, RateLimited, RequestTimeout, VenueError, VenueUnavailable

__all__ = [
    "Banned",
    "CircuitOpen",
    "DuplicateClientOrderId",
    "EntriesHalted",
    "InsufficientFunds",
    "InvalidOrder",
    "NotSupported",
    "OrderNotFound",
    "RateLimited",
    "RequestTimeout",
    "VenueError",
    "VenueUnavailable",
]


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


class NotSupported(VenueError):
    """The venue (or this account on it) cannot do what was asked; nothing was sent."""

    status_code = 501
    code = "not_supported"


class EntriesHalted(Conflict):
    """The account's kill switch is on: no new cycle, position or copy opens on it (exits still run)."""

    code = "entries_halted"
