"""What one check of a position did: a kind to count and act on, and a text for logs (pure, no Django)."""

from enum import StrEnum


class OutcomeKind(StrEnum):
    WATCHING = "watching"  # nothing to do at this price
    ENTRY_WORKING = "entry working"
    MONITORING = "monitoring"  # the entry filled: the exits are watched now
    CLOSED = "closed"
    STOP_MOVED = "stop changed meanwhile"  # an operator (or a close) changed the stop this check read
    STOP = "stop"  # a stop sell was placed
    TAKE_PROFIT = "take profit"  # a take-profit sell was placed
    CLOSE = "close"  # an operator's close sell was placed
    UNDER_MINIMUM = "under minimum"  # a sell was due but is under the market's minimum
    NOT_PLACED = "not placed"  # a sell was due but refused (one already working, the venue said no)
    TP_FILLED = "tp filled"
    STOPPED = "stopped"
    CLOSED_BY_OPERATOR = "closed by operator"
    REDUCED = "reduced"
    FAILED = "failed"  # the check raised: recorded on the position and backed off
    VENUE_ERROR = "venue error"


class Outcome(str):
    """The outcome's text (what callers log and show), carrying its `kind` (what callers count)."""

    kind: OutcomeKind

    def __new__(cls, kind: OutcomeKind, text: str = "") -> "Outcome":
        outcome = super().__new__(cls, text or kind.value)
        outcome.kind = kind
        return outcome
