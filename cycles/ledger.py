"""A cycle's leg ledger and its next step, decided from its legs and their orders (pure: no Django, no venue).

`next_step` walks the legs in order, each from what the one before actually received: a leg with an order
working waits; a leg with attempts left and something worth sizing is sized (the `size` callback, which
reads the venue's book) and placed; a leg that cannot be placed or traded nothing fails (the cycle is
canceled at leg 1, liquidated after); three legs done complete the cycle. The executor
(services.cycle_advance) reads the rows, asks it, and carries the step out.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from liquidation.conversion import add_residual

ZERO = Decimal(0)


class Action(StrEnum):
    WAIT = "waiting"  # the current leg has an order working
    PLACE = "place"  # place the next attempt of the leg
    FAIL = "fail"  # the leg cannot go on: cancel the cycle (leg 1) or liquidate what it holds (after)
    COMPLETE = "completed"


@dataclass(frozen=True)
class Leg:
    index: int
    side: str
    base: str
    quote: str
    min_notional: Decimal = ZERO

    @property
    def receives(self) -> str:
        return self.base if self.side == "buy" else self.quote

    def worth_sizing(self, left: Decimal) -> bool:
        """Whether a remainder could make an order at all: quote dust under the minimum notional needs no book.

        (A sell's remainder is checked against the lot and minimum amount by the sizing, before any book.)
        """
        return self.side != "buy" or (left > 0 and left >= self.min_notional)


@dataclass(frozen=True)
class Attempt:
    """One order of a leg, as the ledger needs it."""

    spent: Decimal
    received: Decimal  # net of the fees taken in what it received
    ended: bool
    status: str = ""
    error: str = ""


@dataclass(frozen=True)
class Sized:
    ok: bool
    amount: Decimal = ZERO  # the order's amount (base asset)
    reason: str = ""  # why not


@dataclass(frozen=True)
class Step:
    action: Action
    leg: Leg | None = None
    attempt: int = 0  # PLACE: which attempt of the leg
    amount: Decimal = ZERO  # PLACE: the order's amount
    left: Decimal = ZERO  # PLACE: what the leg still has to spend
    held_asset: str = ""  # PLACE, FAIL: what the cycle holds entering the leg; COMPLETE: what it ends with
    held: Decimal = ZERO
    residuals: dict = field(default_factory=dict)  # left behind by earlier legs (asset -> amount)
    spent_start: Decimal = ZERO  # COMPLETE: the start asset leg 1 spent
    why: str = ""  # FAIL

    @property
    def pnl(self) -> Decimal:
        return self.held - self.spent_start


def next_step(
    *, start_asset: str, start_amount: Decimal, legs: Sequence[Leg], attempts: Sequence[Sequence[Attempt]],
    max_attempts: int, size: Callable[[Leg, Decimal], Sized],
) -> Step:  # fmt: skip
    """The cycle's next step; `attempts[i]` are leg i's orders, oldest first. `size(leg, left)` may raise (a
    venue that does not answer): the executor decides what that means."""
    held_asset, held = start_asset, start_amount
    spent_start = ZERO
    residuals: dict = {}
    for leg, tries in zip(legs, attempts, strict=True):
        if tries and not tries[-1].ended:
            return Step(Action.WAIT, leg)
        spent = sum((a.spent for a in tries), ZERO)
        received = sum((a.received for a in tries), ZERO)
        if leg.index == 0:
            spent_start = spent
        left = held - spent
        entering = {"held_asset": held_asset, "held": held, "residuals": residuals}
        if len(tries) < max_attempts and (not tries or leg.worth_sizing(left)):
            sized = size(leg, left)
            if sized.ok:
                return Step(Action.PLACE, leg, attempt=len(tries) + 1, amount=sized.amount, left=left, **entering)
            if not tries:
                return Step(Action.FAIL, leg, why=f"leg {leg.index + 1}: {sized.reason}", **entering)
        if received <= 0:
            last = tries[-1] if tries else None
            what = f"{last.status}: {last.error}" if last else "no order could be placed"
            return Step(Action.FAIL, leg, why=f"leg {leg.index + 1} traded nothing ({what})", **entering)
        if leg.index > 0:  # what leg 1 leaves is start asset never spent, not a residual
            residuals = add_residual(residuals, held_asset, left)
        held_asset, held = leg.receives, received
    return Step(Action.COMPLETE, held_asset=held_asset, held=held, residuals=residuals, spent_start=spent_start)
