"""Market rules (tick, lot, minimums) and the one rounding helper (pure, no Django)."""

from decimal import ROUND_DOWN, ROUND_UP, Decimal

from .errors import InvalidOrder
from .types import MarketInfo

LEDGER_QUANTUM = Decimal("1e-18")  # the precision of every stored amount (NUMERIC(36,18))


def fmt(value: Decimal) -> str:
    """A Decimal as people write it: 60000, 0.01, never 6E+4 or 0.010000000000000000."""
    return format(value.normalize(), "f")


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of `step` (amounts: never more than we have or asked)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def ledger(value: Decimal) -> Decimal:
    """Quantize to the stored precision, so every ledger movement adds up exactly."""
    return value.quantize(LEDGER_QUANTUM, rounding=ROUND_DOWN)


def check_order(market: MarketInfo, *, amount: Decimal, price: Decimal | None, reference_price: Decimal | None):
    """Raise InvalidOrder naming the broken rule and a value that would pass.

    `price` is the limit price (None for market orders); `reference_price` the
    price a market order would trade at, for the minimum-notional check.
    """
    s = market.symbol
    if amount <= 0:
        raise InvalidOrder(f"Amount must be positive for {s}.", rule="amount", allowed="> 0")
    if price is not None:
        if price <= 0:
            raise InvalidOrder(f"Price must be positive for {s}.", rule="price", allowed="> 0")
        if price % market.price_step != 0:
            lower = floor_to_step(price, market.price_step)
            upper = lower + market.price_step
            raise InvalidOrder(
                f"Price {fmt(price)} is not a multiple of the tick size {fmt(market.price_step)} for {s}; "
                f"use {fmt(lower)} or {fmt(upper)}.",
                rule="tick_size",
                allowed=str(market.price_step),
            )
    if amount % market.amount_step != 0:
        floored = floor_to_step(amount, market.amount_step)
        raise InvalidOrder(
            f"Amount {fmt(amount)} is not a multiple of the lot size {fmt(market.amount_step)} for {s}; "
            f"round down to {fmt(floored)}.",
            rule="lot_size",
            allowed=str(market.amount_step),
        )
    if amount < market.min_amount:
        raise InvalidOrder(
            f"Amount {fmt(amount)} is below the minimum amount {fmt(market.min_amount)} for {s}.",
            rule="min_amount",
            allowed=str(market.min_amount),
        )
    notional_price = price if price is not None else reference_price
    if notional_price is not None and market.min_notional > 0:
        notional = amount * notional_price
        if notional < market.min_notional:
            needed = ceil_to_step(market.min_notional / notional_price, market.amount_step)
            raise InvalidOrder(
                f"Order value {fmt(notional)} {market.quote} is below the minimum notional "
                f"{fmt(market.min_notional)} {market.quote} for {s}; at this price buy or sell at least "
                f"{fmt(needed)} {market.base}.",
                rule="min_notional",
                allowed=str(market.min_notional),
            )


def walk_book(
    levels: tuple[tuple[Decimal, Decimal], ...], amount: Decimal, *, limit: Decimal | None, side: str
) -> list[tuple[Decimal, Decimal]]:
    """Take liquidity for `amount` (base units) level by level; stop at `limit` if given.

    `levels` is the opposite side, best first: asks for a buy, bids for a sell.
    Returns the (price, amount) fills; their sum may fall short of `amount` when
    the book or the limit runs out.
    """
    fills: list[tuple[Decimal, Decimal]] = []
    left = amount
    for price, size in levels:
        if left <= 0:
            break
        if limit is not None and ((side == "buy" and price > limit) or (side == "sell" and price < limit)):
            break
        take = min(left, size)
        if take > 0:
            fills.append((price, take))
            left -= take
    return fills


def vwap(fills: list[tuple[Decimal, Decimal]]) -> Decimal | None:
    filled = sum((q for _, q in fills), Decimal(0))
    return sum((p * q for p, q in fills), Decimal(0)) / filled if filled else None
