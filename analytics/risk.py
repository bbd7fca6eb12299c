"""Portfolio risk, vectorized over a returns matrix (pure numpy: no Django, no pandas).

`returns` is (periods, assets): one column per asset, simple returns per period, oldest first. Every per-asset
figure is computed for all columns at once; a portfolio is its weighted sum of columns, measured the same way.
Losses are positive numbers (a VaR of 0.02 is "2% of the value can be lost in one period at that confidence").
Definitions:
- volatility: the sample standard deviation (ddof 1);
- historical VaR at q: minus the (1 - q) quantile of the returns, linearly interpolated;
- historical CVaR at q: minus the mean of the returns at or below that quantile;
- parametric (normal) VaR and CVaR at q: minus (mean + z * sd), minus (mean - sd * pdf(z) / (1 - q)), z the
  normal (1 - q) quantile;
- maximum drawdown: the largest fall from a running peak of the compounded value (1 + r) products;
- Sharpe and Sortino (risk-free rate 0): mean over sd, and over the downside deviation sqrt(mean(min(r, 0)^2)),
  both scaled by sqrt(periods a year);
- beta to the benchmark: cov(r, b) / var(b), sample moments.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVELS = (0.95, 0.99)
MINUTES_A_YEAR = 525_600


@dataclass(frozen=True)
class RiskFigures:
    """Per column (an asset, or one portfolio): arrays of the same length."""

    mean: np.ndarray
    volatility: np.ndarray
    var_historical: dict[float, np.ndarray]
    cvar_historical: dict[float, np.ndarray]
    var_parametric: dict[float, np.ndarray]
    cvar_parametric: dict[float, np.ndarray]
    max_drawdown: np.ndarray
    sharpe: np.ndarray
    sortino: np.ndarray
    beta: np.ndarray | None

    def column(self, i: int) -> dict:
        """One column's figures as plain numbers (for storage and the API)."""
        pick = lambda a: None if a is None or not math.isfinite(float(a[i])) else float(a[i])  # noqa: E731
        figures = {"mean": pick(self.mean), "volatility": pick(self.volatility),
                   "max_drawdown": pick(self.max_drawdown), "sharpe": pick(self.sharpe), "sortino": pick(self.sortino),
                   "beta": pick(self.beta)}  # fmt: skip
        for q in self.var_historical:
            pct = round(q * 100)
            figures |= {f"var_{pct}": pick(self.var_historical[q]), f"cvar_{pct}": pick(self.cvar_historical[q]),
                        f"var_{pct}_parametric": pick(self.var_parametric[q]),
                        f"cvar_{pct}_parametric": pick(self.cvar_parametric[q])}  # fmt: skip
        return figures


def figures(
    returns: np.ndarray, *, benchmark: np.ndarray | None = None, levels=LEVELS, periods_a_year: int = MINUTES_A_YEAR
) -> RiskFigures:
    """Every figure for every column of `returns` (periods x assets)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim == 1:
        r = r[:, None]
    periods = r.shape[0]
    if periods < 2:
        raise ValueError(f"risk needs at least two returns per asset, not {periods}")
    mean = r.mean(axis=0)
    sd = r.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_h, cvar_h, var_p, cvar_p = {}, {}, {}, {}
        cut = np.quantile(r, [1 - q for q in levels], axis=0, method="linear")  # (levels, assets)
        for k, q in enumerate(levels):
            tail = r <= cut[k]
            var_h[q] = -cut[k]
            cvar_h[q] = -(np.where(tail, r, 0.0).sum(axis=0) / tail.sum(axis=0))
            z = NormalDist().inv_cdf(1 - q)
            var_p[q] = -(mean + z * sd)
            cvar_p[q] = -(mean - sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - q))
        wealth = np.cumprod(1.0 + r, axis=0)
        peaks = np.maximum.accumulate(wealth, axis=0)
        drawdown = -(wealth / peaks - 1.0).min(axis=0)
        scale = math.sqrt(periods_a_year)
        sharpe = mean / sd * scale
        downside = np.sqrt((np.minimum(r, 0.0) ** 2).mean(axis=0))
        sortino = mean / downside * scale
        beta = None
        if benchmark is not None:
            b = np.asarray(benchmark, dtype=np.float64)
            if b.shape[0] != periods:
                raise ValueError(f"the benchmark has {b.shape[0]} returns, the assets {periods}")
            centred = b - b.mean()
            beta = (centred @ (r - mean)) / (periods - 1) / b.var(ddof=1)
    return RiskFigures(mean, sd, var_h, cvar_h, var_p, cvar_p, np.maximum(drawdown, 0.0), sharpe, sortino, beta)


def correlation(returns: np.ndarray) -> np.ndarray:
    """The assets' correlation matrix (Pearson); a constant column correlates with nothing (NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.corrcoef(np.asarray(returns, dtype=np.float64), rowvar=False)


def portfolio_returns(returns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The portfolio's return each period, its weights held constant (rebalanced each period)."""
    return np.asarray(returns, dtype=np.float64) @ np.asarray(weights, dtype=np.float64)


def returns_from_closes(closes: np.ndarray) -> np.ndarray:
    """Simple returns from aligned closes (periods x assets); a period missing a close (NaN) carries the last one."""
    c = np.asarray(closes, dtype=np.float64)
    filled = c.copy()
    for i in range(1, len(filled)):  # forward fill, row by row (columns at once)
        missing = np.isnan(filled[i])
        filled[i, missing] = filled[i - 1, missing]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = filled[1:] / filled[:-1] - 1.0
    return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
