"""Pure position rules: validation of a new position, urgency tiers, triggers. No Django."""

from dataclasses import dataclass, field
from decimal import Decimal

from exchanges.rules import floor_to_step
from exchanges.types import MarketInfo

D0 = Decimal(0)


@dataclass(frozen=True)
class Tiers:
    """Check intervals by urgency, and what makes a position urgent (settings POSITION_TIER_*)."""

    critical_s: float = 2.0
    active_s: float = 5.0
    standard_s: float = 12.0
    inactive_s: float = 30.0
    idle_s: float = 60.0
    near_trigger_bps: float = 50.0  # price this close to a TP or the stop: critical
    breakeven_critical_s: float = 60.0  # critical for this long after the stop moved to breakeven
    inactive_closed_fraction: float = 0.9  # this much of the position closed: inactive
    idle_after_s: float = 600.0  # no activity this long: idle
    near: Decimal = field(init=False, repr=False)  # near_trigger_bps as a fraction, computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "near", Decimal(str(self.near_trigger_bps)) / 10_000)


@dataclass(frozen=True)
class Watch:
    """What a tier is decided from."""

    phase: str
    price: Decimal | None  # the mark; None when the venue gave none
    stop: Decimal | None
    pending_tps: tuple[Decimal, ...]  # prices of the TP levels still waiting
    closed_fraction: float
    seconds_since_breakeven: float | None
    seconds_since_activity: float


BUILDING = "BUILDING"  # PositionPhase.BUILDING (models.py), named here so the rules need no Django


@dataclass(slots=True)
class Claimed:
    """What the monitor tick reads of a position to decide whether it must act (a row, not a model)."""

    pk: int
    exchange_id: int
    phase: str
    stop_loss: Decimal | None
    trailing_stop_bps: int | None
    remaining: Decimal
    amount: Decimal
    cost_basis: Decimal | None
    since_breakeven: float | None  # seconds
    since_activity: float
    tier: str
    symbol: str
    price_step: Decimal


def must_act(position: Claimed, price: Decimal | None, levels: list[Decimal], working: bool) -> bool:
    """Whether the tick hands the position to a full check now: its entry is filling or an order of its is
    working (or ended unaccounted), the stop or a take-profit is crossed, or the trailing stop moves."""
    if position.phase == BUILDING or working:
        return True
    if price is None:
        return False
    if position.stop_loss is not None and price <= position.stop_loss:
        return True
    if levels and price >= min(levels):
        return True
    step = position.price_step
    return (
        bool(position.trailing_stop_bps)
        and trailed_stop(position.stop_loss, price, position.trailing_stop_bps, step) != position.stop_loss
    )


def watch_of(position, price: Decimal | None, levels, since_be: float | None, since_activity: float) -> Watch:
    """What the tier is decided from, for a model (the full check) or a claimed row (the tick)."""
    building = position.phase == BUILDING
    closed = 0.0 if building or not position.amount else float(1 - position.remaining / position.amount)
    return Watch(position.phase, price, position.stop_loss, tuple(levels), closed, since_be, since_activity)


def tier(watch: Watch, tiers: Tiers) -> tuple[str, float]:
    """(tier name, seconds to the next check)."""
    if watch.phase == "BUILDING":
        return "critical", tiers.critical_s  # the entry is filling
    if watch.seconds_since_breakeven is not None and watch.seconds_since_breakeven < tiers.breakeven_critical_s:
        return "critical", tiers.critical_s
    if watch.price is not None:
        price, near = watch.price, tiers.near
        if any(p and abs(price - p) <= p * near for p in (*watch.pending_tps, watch.stop)):
            return "critical", tiers.critical_s
    if watch.closed_fraction >= tiers.inactive_closed_fraction:
        return "inactive", tiers.inactive_s
    if watch.phase == "PROFIT_TAKING" and watch.pending_tps:
        return "active", tiers.active_s
    if watch.seconds_since_activity >= tiers.idle_after_s:
        return "idle", tiers.idle_s
    return "standard", tiers.standard_s


def breakeven_price(entry: Decimal, taker_fee: Decimal, price_step: Decimal) -> Decimal:
    """The stop at which selling gives back what buying cost: entry plus both fees, up to the tick."""
    raw = entry * (1 + taker_fee) / (1 - taker_fee)
    floored = floor_to_step(raw, price_step)
    return floored if floored == raw else floored + price_step


def trailed_stop(stop: Decimal | None, price: Decimal, trailing_bps: int | None, price_step: Decimal) -> Decimal | None:
    """A trailing stop follows the price up (never down), `trailing_bps` below it."""
    if not trailing_bps:
        return stop
    candidate = floor_to_step(price * (1 - Decimal(trailing_bps) / 10_000), price_step)
    return candidate if stop is None or candidate > stop else stop


def ladder_over_whole(fractions) -> Decimal | None:
    """The share a take-profit ladder's fractions add up to, when it is over the whole position; None if not."""
    total = sum(fractions, D0)
    return total if total > 1 else None


def validate_new(
    market: MarketInfo, *, amount: Decimal, reference: Decimal, take_profits: list[tuple[Decimal, Decimal]],
    stop_loss: Decimal | None, trailing_stop_bps: int | None,
) -> dict[str, str]:  # fmt: skip
    """Problems with a new long position, by field; empty when it is fine.

    `reference` is the entry price (a limit entry) or the current ask (a market entry).
    """
    errors: dict[str, str] = {}
    if amount <= 0:
        errors["amount"] = "must be above zero"
    elif amount < market.min_amount:
        errors["amount"] = f"{amount} is under {market.symbol}'s minimum of {market.min_amount} {market.base}"
    elif floor_to_step(amount, market.amount_step) != amount:
        errors["amount"] = (
            f"must be a multiple of {market.amount_step} (for example {floor_to_step(amount, market.amount_step)})"
        )
    elif market.min_notional and amount * reference < market.min_notional:
        errors["amount"] = (f"{amount} {market.base} is worth {amount * reference:.8f} {market.quote}, under the "
                            f"minimum order of {market.min_notional}")  # fmt: skip
    if not take_profits and stop_loss is None:
        errors["take_profits"] = "give at least one take-profit or a stop loss"
    if (total := ladder_over_whole(f for _, f in take_profits)) is not None:
        errors["take_profits"] = f"the fractions add up to {total:%}, over 100%"
    for i, (price, fraction) in enumerate(take_profits, 1):
        if fraction <= 0:
            errors["take_profits"] = f"TP{i}: the fraction must be above zero"
        elif price <= reference:
            errors["take_profits"] = f"TP{i} at {price} is not above the entry ({reference}); on a long it would lose"
        elif market.min_amount and floor_to_step(amount * fraction, market.amount_step) < market.min_amount:
            errors["take_profits"] = f"TP{i} sells {amount * fraction}, under the minimum of {market.min_amount}"
    prices = [p for p, _ in take_profits]
    if prices != sorted(prices):
        errors["take_profits"] = "list the levels from the lowest price to the highest"
    if stop_loss is not None and stop_loss >= reference:
        errors["stop_loss"] = f"{stop_loss} is not under the entry ({reference}); on a long it would trigger at once"
    if stop_loss is not None and stop_loss <= 0:
        errors["stop_loss"] = "must be above zero"
    if trailing_stop_bps is not None and not 1 <= trailing_stop_bps <= 5000:
        errors["trailing_stop_bps"] = "must be from 1 to 5000 basis points"
    return errors
