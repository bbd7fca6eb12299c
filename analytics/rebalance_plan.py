"""The rebalance planner: the fewest orders that bring an account's weights within tolerance, then the cheapest
(pure, no Django).

The portfolio is the assets the targets name plus the quote asset, which takes the weight the targets leave.
Every trade converts one asset to or from the quote: a sell pays the quote, a buy spends it (sells run first).
An asset with no market to the quote is traded along a route of several orders (the liquidation router finds
it), and a trade counts as the orders it places.

In value terms (the quote, at mid), a sell of `s` lowers the asset by `s` and raises the quote by `s·(1 - r)`;
a buy spending `c` raises the asset by `c·(1 - r)` and lowers the quote by `c`, where `r` is the trade's cost
rate (fees, spread and depth, measured on the books). Weights are measured against the value before the
trades. An asset out of its band (target ± tolerance) must trade; an asset that trades, the quote included,
must land in the inner band (target ± tolerance·(1 - aim)), so that the next small move does not throw it out
again. Each trade is at least the market's minimum (notional and lot, in value).

Exact within these rules: the assets out of band must trade, in the one direction that helps; the search adds
assets in band (either direction) in order of how many orders they add, and stops at the first count that
balances the quote. For a set of trades and directions, the cheapest amounts are a fractional knapsack on the
quote's balance: every trade starts at its smallest amount, and the quote is brought into its band by growing
the trades of the lowest cost per unit of quote. `bench/run.py analytics --parts rebalance` checks both the
count and the cost against an exhaustive search.
"""

import itertools
import math
from dataclasses import dataclass, field

SELL, BUY = "sell", "buy"
MAX_EXTRA_SETS = 200_000  # sets of assets in band tried; past it the plan says it is not proven optimal


@dataclass(frozen=True, slots=True)
class Leg:
    """How one asset trades with the quote in one direction."""

    cost_rate: float  # fraction of the value traded that is lost
    orders: int = 1  # orders placed (hops of its route)
    min_value: float = 0.0  # smallest trade, in quote value
    max_value: float = math.inf  # largest the books can take


@dataclass(frozen=True, slots=True)
class Holding:
    asset: str
    value: float  # in the quote, at mid
    target: float  # weight, 0..1
    sell: Leg | None = None  # None: it cannot be sold to the quote
    buy: Leg | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    asset: str
    side: str  # SELL: `amount` of the asset's value sold; BUY: `amount` of the quote spent
    amount: float  # in quote value
    cost: float
    orders: int


@dataclass(frozen=True)
class Plan:
    ok: bool
    trades: tuple[Trade, ...] = ()
    orders: int = 0
    cost: float = 0.0
    total: float = 0.0  # the portfolio's value before
    after: dict[str, float] = field(default_factory=dict)  # each asset's value after, quote included
    exact: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    quote: str
    quote_value: float
    quote_target: float
    holdings: tuple[Holding, ...]
    tolerance: float  # an absolute weight, 0.02 = two points
    aim: float = 0.5  # 0: traded assets land anywhere in their band; 0.8: within a fifth of it from the target (< 1)

    @property
    def total(self) -> float:
        return self.quote_value + sum(h.value for h in self.holdings)

    def band(self, target: float, *, inner: bool) -> tuple[float, float]:
        width = self.tolerance * ((1 - self.aim) if inner else 1)
        return max(0.0, target - width) * self.total, min(1.0, target + width) * self.total


def in_band(problem: Problem, value: float, target: float, *, inner: bool = False) -> bool:
    lo, hi = problem.band(target, inner=inner)
    slack = 1e-9 * problem.total
    return lo - slack <= value <= hi + slack


def box(problem: Problem, h: Holding, side: str) -> tuple[float, float, Leg] | None:
    """The amounts (quote value) a trade of `h` in `side` may have to land in its inner band; None if none."""
    leg = h.sell if side == SELL else h.buy
    if leg is None:
        return None
    lo_v, hi_v = problem.band(h.target, inner=True)
    if side == SELL:
        lo, hi = h.value - hi_v, h.value - lo_v
    else:
        keep = 1 - leg.cost_rate
        lo, hi = (lo_v - h.value) / keep, (hi_v - h.value) / keep
    lo, hi = max(lo, leg.min_value, 0.0), min(hi, leg.max_value)
    if lo > hi or hi <= 0:
        return None
    return lo, hi, leg


def cheapest(problem: Problem, chosen: list[tuple[Holding, str]]) -> tuple[float, list[float]] | None:
    """The cheapest amounts for these trades (each asset in its inner band, the quote in its inner band)."""
    boxes = [box(problem, h, side) for h, side in chosen]
    if any(b is None for b in boxes):
        return None
    amounts = [b[0] for b in boxes]
    quote = problem.quote_value + sum(
        a * (1 - b[2].cost_rate) if side == SELL else -a for a, b, (_, side) in zip(amounts, boxes, chosen, strict=True)
    )
    q_lo, q_hi = problem.band(problem.quote_target, inner=bool(chosen))
    if quote > q_hi:  # too much quote left: grow the buys, cheapest first
        need, growers = quote - q_hi, [(b[2].cost_rate, 1.0, i) for i, b in enumerate(boxes) if chosen[i][1] == BUY]
    elif quote < q_lo:  # too little: grow the sells, cheapest per unit of quote raised first
        need = q_lo - quote
        growers = [(b[2].cost_rate / (1 - b[2].cost_rate), 1 - b[2].cost_rate, i)
                   for i, b in enumerate(boxes) if chosen[i][1] == SELL]  # fmt: skip
    else:
        need, growers = 0.0, []
    for _, per_unit, i in sorted(growers):
        if need <= 0:
            break
        grow = min(boxes[i][1] - amounts[i], need / per_unit)
        amounts[i] += grow
        need -= grow * per_unit
    if need > 1e-9 * problem.total:
        return None
    return sum(a * b[2].cost_rate for a, b in zip(amounts, boxes, strict=True)), amounts


def plan(problem: Problem) -> Plan:
    """The plan with the fewest orders, and among those the cheapest; `ok` False with the reason when none."""
    total = problem.total
    if total <= 0:
        return Plan(False, reason="the portfolio is worth nothing")
    forced, optional, reasons = [], [], []
    for h in problem.holdings:
        if in_band(problem, h.value, h.target):
            optional.append(h)
            continue
        side = SELL if h.value > h.target * total else BUY
        if box(problem, h, side) is None:
            leg = h.sell if side == SELL else h.buy
            why = "no route to or from the quote" if leg is None else "its minimum trade overshoots its band"
            reasons.append(f"{h.asset} cannot be {'sold' if side == SELL else 'bought'}: {why}")
        forced.append((h, side))
    if reasons:
        return Plan(False, total=total, reason="; ".join(reasons))
    if not forced and in_band(problem, problem.quote_value, problem.quote_target):
        return Plan(True, total=total, after=_after(problem, []))
    base_orders = sum((h.sell if side == SELL else h.buy).orders for h, side in forced)
    options = [(h, side) for h in optional for side in (SELL, BUY) if box(problem, h, side) is not None]
    best, tried, exact = None, 0, True
    for extra in range(len(optional) + 1):
        if best is not None and base_orders + extra > best[0]:
            break  # every extra trade adds at least one order
        for combo in itertools.combinations(options, extra):
            if len({h.asset for h, _ in combo}) < extra:
                continue  # an asset trades once, one way
            tried += 1
            if tried > MAX_EXTRA_SETS:
                exact = False
                break
            chosen = forced + list(combo)
            orders = base_orders + sum((h.sell if s == SELL else h.buy).orders for h, s in combo)
            if best is not None and orders > best[0]:
                continue
            solved = cheapest(problem, chosen)
            if solved is not None and (best is None or (orders, solved[0]) < best[:2]):
                best = (orders, solved[0], chosen, solved[1])
        if not exact:
            break
    if best is None:
        return Plan(False, total=total, exact=exact,
                    reason=f"no set of trades brings {problem.quote} within its band")  # fmt: skip
    orders, cost, chosen, amounts = best
    trades = tuple(
        Trade(h.asset, side, a, a * leg.cost_rate, leg.orders)
        for (h, side), a in zip(chosen, amounts, strict=True)
        for leg in [h.sell if side == SELL else h.buy]
    )
    return Plan(True, trades, orders, cost, total, _after(problem, trades), exact)


def _after(problem: Problem, trades) -> dict[str, float]:
    after = {h.asset: h.value for h in problem.holdings}
    after[problem.quote] = problem.quote_value
    for t in trades:
        keep = 1 - t.cost / t.amount if t.amount else 1.0
        if t.side == SELL:
            after[t.asset] -= t.amount
            after[problem.quote] += t.amount * keep
        else:
            after[t.asset] += t.amount * keep
            after[problem.quote] -= t.amount
    return after
