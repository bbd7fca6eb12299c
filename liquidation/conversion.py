"""One conversion on an order book, simulated for an actual amount (pure, no Django).

Shared by the detection depth walk (Decimal, exact; lots floored by
`exchanges.rules.floor_to_step`) and liquidation routing (float, fast;
`floor_float`): the same code, the number type chosen by the caller. Fees are
taken as the paper venue and Binance take them: a buy pays its fee in the base
asset it receives, a sell in the quote asset it receives.
"""

import math
from dataclasses import dataclass
from decimal import Decimal


def floor_float(value: float, step: float) -> float:
    """Round down to a multiple of `step`, forgiving the last bits of float error."""
    if step <= 0:
        return value
    return math.floor(value / step + 1e-9) * step


@dataclass(frozen=True, slots=True)
class Conversion:
    """`amount_in` of the asset we hold becomes `amount_out` of the other; `base_amount` is the order's size."""

    ok: bool
    amount_in: object  # what is actually spent (the rest is lot dust or unspent quote)
    amount_out: object
    base_amount: object
    cost: object  # quote value traded, before fees
    reason: str = ""


def convert(
    levels,
    amount_in,
    *,
    side: str,
    amount_step,
    min_amount,
    min_notional,
    fee,
    floor,
    zero,
) -> Conversion:
    """Convert `amount_in` through `levels` (asks for a buy, bids for a sell; best first).

    A buy spends quote: the largest lot-floored base amount whose cost fits in
    `amount_in`. A sell spends base: `amount_in` floored to the lot. Refused
    (ok=False) when the visible book cannot take the whole amount, or the
    order would be under the market's minimum amount or notional.
    """
    if side == "buy":
        budget, base = amount_in, zero
        for price, size in levels:
            if price * size <= budget:
                base += size
                budget -= price * size
            else:
                base += budget / price
                budget = zero
                break
        if budget > zero:
            return Conversion(False, zero, zero, zero, zero, "the visible book is too thin")
        base_amount = floor(base, amount_step)
    else:
        base_amount = floor(amount_in, amount_step)
    left, cost = base_amount, zero
    for price, size in levels:
        take = size if size < left else left
        cost += price * take
        left -= take
        if left <= zero:
            break
    if left > zero:
        return Conversion(False, zero, zero, zero, zero, "the visible book is too thin")
    if base_amount <= zero or base_amount < min_amount:
        return Conversion(False, zero, zero, base_amount, cost, "under the market's minimum amount")
    if cost < min_notional:
        return Conversion(False, zero, zero, base_amount, cost, "under the market's minimum notional")
    if side == "buy":
        return Conversion(True, cost, base_amount * (1 - fee), base_amount, cost)
    return Conversion(True, base_amount, cost * (1 - fee), base_amount, cost)


def with_buy_buffer(amount: Decimal, buffer_bps: int) -> Decimal:
    """What to spend on a buy sized from the book now: `amount` less a small buffer, so a price that moves a
    little between sizing and filling still fits in what is held."""
    return amount * (1 - Decimal(buffer_bps) / 10_000)


def add_residual(residuals: dict, asset: str, amount) -> dict:
    """`residuals` (asset -> decimal string) with `amount` more of `asset` left behind; a new dict when it grows."""
    if amount > 0:
        residuals = dict(residuals)
        residuals[asset] = str(Decimal(residuals.get(asset, "0")) + amount)
    return residuals
