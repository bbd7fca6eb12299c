"""Refusals of the cycles app, each a message a user can act on."""

from core.errors import Conflict, DomainError


class ReservationLimitReached(Conflict):
    code = "reservation_limit_reached"


class StrategyDisabled(Conflict):
    code = "strategy_disabled"


class StrategyOnHold(StrategyDisabled):
    """Recovery found something an operator must settle first (or is running): no new cycle until it is clean."""

    code = "strategy_on_hold"


class ReservationUnusable(Conflict):
    code = "reservation_unusable"


class NoRoute(DomainError):
    code = "no_route"
