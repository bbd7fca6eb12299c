"""How big a copy is (pure, no Django).

size = equity x risk% / max(|entry - stop|, 0.001 x entry), then capped by the
wallet's max position size (in the quote), by the copy ratio (the source
fill's size x ratio) and by the depth the book shows, and rounded down to the
market's amount step. Under the market minimum (amount or notional) the copy
is skipped, with the reason. Every input and every cap is kept in `decision`.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from exchanges.rules import ceil_to_step, floor_to_step, fmt
from exchanges.types import MarketInfo

MIN_STOP_DISTANCE = Decimal("0.001")  # of the entry: a stop at the entry does not make the size infinite


@dataclass(frozen=True)
class CopySize:
    amount: Decimal  # 0 when skipped
    reason: str
    decision: dict = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return self.amount <= 0


def stop_price(entry: Decimal, stop_loss_pct: Decimal, tick: Decimal) -> Decimal:
    """The stop `stop_loss_pct`% under the entry, down to the tick."""
    return floor_to_step(entry * (1 - stop_loss_pct / 100), tick)


def ladder_prices(entry: Decimal, ladder: list[dict], tick: Decimal) -> list[tuple[Decimal, Decimal]]:
    """A wallet's TP ladder ([{pct, fraction}]) as (price, fraction), each price up to the tick above the entry."""
    levels = []
    for level in ladder:
        price = ceil_to_step(entry * (1 + Decimal(str(level["pct"])) / 100), tick)
        levels.append((max(price, entry + tick), Decimal(str(level["fraction"]))))
    return levels


def size_copy(
    *, equity: Decimal, risk_pct: Decimal, entry: Decimal, stop: Decimal, source_size: Decimal, copy_ratio: Decimal,
    book_depth: Decimal, market: MarketInfo, max_position_quote: Decimal | None = None,
) -> CopySize:  # fmt: skip
    decision = {
        "equity": str(equity), "risk_pct": str(risk_pct), "entry": str(entry), "stop": str(stop),
        "source_size": str(source_size), "copy_ratio": str(copy_ratio), "book_depth": str(book_depth),
        "max_position_quote": None if max_position_quote is None else str(max_position_quote),
        "amount_step": str(market.amount_step), "min_amount": str(market.min_amount),
        "min_notional": str(market.min_notional),
    }  # fmt: skip
    if entry <= 0:
        return CopySize(Decimal(0), "no price to enter at", decision)
    if equity <= 0:
        return CopySize(Decimal(0), f"no equity to risk ({equity} {market.quote})", decision)
    risk = equity * risk_pct / 100
    distance = max(abs(entry - stop), MIN_STOP_DISTANCE * entry)
    caps = {"risk": risk / distance, "copy_ratio": source_size * copy_ratio, "book_depth": book_depth}
    if max_position_quote is not None:
        caps["max_position"] = max_position_quote / entry
    bound = min(caps, key=lambda name: caps[name])
    amount = floor_to_step(max(caps[bound], Decimal(0)), market.amount_step)
    decision |= {"risk_amount": fmt(risk), "stop_distance": fmt(distance),
                 "caps": {name: fmt(value) for name, value in caps.items()}, "bound_by": bound,
                 "amount": fmt(amount)}  # fmt: skip
    if amount <= 0 or amount < market.min_amount:
        return CopySize(Decimal(0), f"{fmt(amount)} is under the market minimum of {fmt(market.min_amount)} "
                                    f"(bound by {bound.replace('_', ' ')})", decision)  # fmt: skip
    if amount * entry < market.min_notional:
        return CopySize(Decimal(0), f"{fmt(amount)} x {fmt(entry)} = {fmt(amount * entry)} {market.quote} is "
                                    f"under the minimum order value of {fmt(market.min_notional)} "
                                    f"(bound by {bound.replace('_', ' ')})",
                        decision)  # fmt: skip
    reason = (f"{fmt(amount)} = min(risk {caps['risk']:.6f}, " + ", ".join(
        f"{name.replace('_', ' ')} {value:.6f}" for name, value in caps.items() if name != "risk") +
        f"), bound by {bound.replace('_', ' ')}")  # fmt: skip
    return CopySize(amount, reason, decision)
