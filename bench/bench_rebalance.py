"""The rebalance planner against an exhaustive search (bench/run.py analytics --parts rebalance).

rebalance_trades_vs_optimal
    The most orders the planner (analytics/rebalance_plan.py) used on a generated case, over the fewest any set
    of trades can do it with: 1.0 means never more. The exhaustive search tries every subset of the assets, every
    direction for each, and solves each one's amounts as a linear programme by enumerating its vertices (every
    amount at a bound of its box, or all but one at a bound and the quote on its band's edge): none of the
    planner's reasoning (which assets must trade, which way, the greedy fill) is used.
rebalance_cost_vs_optimal
    The planner's cost over the exhaustive search's cheapest among the plans with its fewest orders, worst case.
rebalance_cases / rebalance_infeasible / rebalance_disagreements
    Cases generated (`--rebalance-cases`, 1 to 6 assets besides the quote, random holdings, targets, tolerances,
    cost rates, routes of one or two orders, minimum trades and assets with no route), the cases neither could
    plan, and the cases where only one of them found a plan (must be 0).
"""

import itertools
import math
import random
import time

from analytics.rebalance_plan import BUY, SELL, Holding, Leg, Problem, plan


def _band(target: float, width: float, total: float) -> tuple[float, float]:
    return max(0.0, target - width) * total, min(1.0, target + width) * total


def exhaustive(problem: Problem) -> tuple[int, float] | None:
    """(fewest orders, cheapest cost at that count) over every set of trades; None when nothing works."""
    total = sum(h.value for h in problem.holdings) + problem.quote_value
    full, inner = problem.tolerance, problem.tolerance * (1 - problem.aim)
    slack = 1e-9 * total
    best = None
    n = len(problem.holdings)
    for mask in range(1 << n):
        traded = [h for i, h in enumerate(problem.holdings) if mask >> i & 1]
        still = [h for i, h in enumerate(problem.holdings) if not mask >> i & 1]
        if any(not (lo - slack <= h.value <= hi + slack)
               for h in still for lo, hi in [_band(h.target, full, total)]):  # fmt: skip
            continue
        q_lo, q_hi = _band(problem.quote_target, inner if traded else full, total)
        if not traded:
            if q_lo - slack <= problem.quote_value <= q_hi + slack:
                best = _better((0, 0.0), best)
            continue
        for sides in itertools.product((SELL, BUY), repeat=len(traded)):
            variables = []
            for h, side in zip(traded, sides, strict=True):
                leg = h.sell if side == SELL else h.buy
                if leg is None:
                    break
                lo_v, hi_v = _band(h.target, inner, total)
                r = leg.cost_rate
                if side == SELL:  # the asset falls by x, the quote rises by x(1 - r)
                    lo, hi, gain = h.value - hi_v, h.value - lo_v, 1 - r
                else:  # the quote falls by x, the asset rises by x(1 - r)
                    lo, hi, gain = (lo_v - h.value) / (1 - r), (hi_v - h.value) / (1 - r), -1.0
                lo, hi = max(lo, leg.min_value, 0.0), min(hi, leg.max_value)
                if lo > hi or hi <= 0:
                    break
                variables.append((lo, hi, gain, r, leg.orders))
            else:
                cost = _lp_vertices(problem.quote_value, q_lo, q_hi, variables, slack)
                if cost is not None:
                    best = _better((sum(v[4] for v in variables), cost), best)
    return best


def _lp_vertices(quote, q_lo, q_hi, variables, slack) -> float | None:
    """min sum(r x) with lo <= x <= hi and q_lo <= quote + sum(gain x) <= q_hi, over the polytope's vertices."""
    best = math.inf
    k = len(variables)
    for corner in itertools.product((0, 1), repeat=k):
        xs = [v[1] if c else v[0] for v, c in zip(variables, corner, strict=True)]
        q = quote + sum(x * v[2] for x, v in zip(xs, variables, strict=True))
        if q_lo - slack <= q <= q_hi + slack:
            best = min(best, sum(x * v[3] for x, v in zip(xs, variables, strict=True)))
    for j in range(k):
        others = [v for i, v in enumerate(variables) if i != j]
        for corner in itertools.product((0, 1), repeat=k - 1):
            xs = [v[1] if c else v[0] for v, c in zip(others, corner, strict=True)]
            rest = quote + sum(x * v[2] for x, v in zip(xs, others, strict=True))
            lo, hi, gain, r, _ = variables[j]
            for edge in (q_lo, q_hi):
                x = (edge - rest) / gain
                if lo - 1e-12 <= x <= hi + 1e-12:
                    best = min(best, r * x + sum(x_ * v[3] for x_, v in zip(xs, others, strict=True)))
    return None if best == math.inf else best


def _better(candidate, best):
    if best is None or candidate[0] < best[0] or (candidate[0] == best[0] and candidate[1] < best[1]):
        return candidate
    return best


def generated(rng: random.Random) -> Problem:
    n = rng.randint(1, 6)
    weights = [rng.random() ** 2 for _ in range(n + 1)]
    targets = [w / sum(weights) for w in weights]
    values = [rng.lognormvariate(7, 1.2) * (rng.random() < 0.9) for _ in range(n + 1)]
    values[rng.randrange(n + 1)] += rng.lognormvariate(7, 1.2)  # never a portfolio worth nothing
    total = sum(values)

    def leg():
        if rng.random() < 0.03:
            return None
        return Leg(cost_rate=rng.uniform(0.0005, 0.01), orders=2 if rng.random() < 0.25 else 1,
                   min_value=total * rng.choice((0.0, 0.0005, 0.002, 0.01)))  # fmt: skip

    holdings = tuple(Holding(f"A{i}", values[i], targets[i], sell=leg(), buy=leg()) for i in range(n))
    return Problem("Q", values[n], targets[n], holdings, tolerance=rng.choice((0.005, 0.01, 0.02, 0.05)),
                   aim=rng.choice((0.0, 0.5, 0.8)))  # fmt: skip


def bench_rebalance(cases: int, seed: int) -> dict:
    rng = random.Random(seed)
    worst_trades = worst_cost = 1.0
    infeasible = disagreements = 0
    planned_s = []
    for _ in range(cases):
        problem = generated(rng)
        started = time.perf_counter()
        mine = plan(problem)
        planned_s.append(time.perf_counter() - started)
        optimal = exhaustive(problem)
        if optimal is None or not mine.ok:
            infeasible += optimal is None and not mine.ok
            disagreements += (optimal is None) != (not mine.ok)
            continue
        orders, cost = optimal
        worst_trades = max(worst_trades, mine.orders / orders if orders else (1.0 if mine.orders == 0 else math.inf))
        if cost > 1e-12:
            worst_cost = max(worst_cost, mine.cost / cost)
        elif mine.cost > 1e-9:
            worst_cost = math.inf
    planned_s.sort()
    return {
        "rebalance_cases": cases, "rebalance_infeasible": infeasible, "rebalance_disagreements": disagreements,
        "rebalance_trades_vs_optimal": round(worst_trades, 6), "rebalance_cost_vs_optimal": round(worst_cost, 6),
        "rebalance_plan_ms_p99": round(planned_s[int(len(planned_s) * 0.99) - 1] * 1000, 3),
    }  # fmt: skip
