"""Risk figures against reference formulas on known series, and against pandas asset by asset."""

import math
import statistics

import numpy as np
import pytest

from analytics.risk import correlation, figures, portfolio_returns, returns_from_closes
from bench.bench_analytics import pandas_risk, risk_differences

SERIES = [0.01, -0.02, 0.03, -0.01, 0.0, 0.015, -0.03, 0.005, 0.02, -0.005]
BENCH = [0.008, -0.01, 0.02, -0.012, 0.001, 0.01, -0.02, 0.0, 0.015, -0.004]


def quantile(values, p):
    """Linear interpolation between order statistics (the textbook definition numpy and pandas default to)."""
    ordered = sorted(values)
    h = (len(ordered) - 1) * p
    low = math.floor(h)
    return ordered[low] + (h - low) * (ordered[min(low + 1, len(ordered) - 1)] - ordered[low])


def test_each_figure_matches_its_reference_formula_on_a_known_series():
    f = figures(np.array(SERIES), benchmark=np.array(BENCH), periods_a_year=365).column(0)
    mean, sd = statistics.fmean(SERIES), statistics.stdev(SERIES)
    assert f["mean"] == pytest.approx(mean, abs=1e-15)
    assert f["volatility"] == pytest.approx(sd, abs=1e-15)
    cut = quantile(SERIES, 0.05)
    assert f["var_95"] == pytest.approx(-cut, abs=1e-15)
    assert f["cvar_95"] == pytest.approx(-statistics.fmean([r for r in SERIES if r <= cut]), abs=1e-15)
    z = statistics.NormalDist().inv_cdf(0.01)
    assert f["var_99_parametric"] == pytest.approx(-(mean + z * sd), abs=1e-15)
    assert f["cvar_99_parametric"] == pytest.approx(-(mean - sd * statistics.NormalDist().pdf(z) / 0.01), abs=1e-12)
    wealth, peak, worst = 1.0, 1.0, 0.0
    for r in SERIES:
        wealth *= 1 + r
        peak = max(peak, wealth)
        worst = max(worst, 1 - wealth / peak)
    assert f["max_drawdown"] == pytest.approx(worst, abs=1e-15)
    assert f["sharpe"] == pytest.approx(mean / sd * math.sqrt(365), abs=1e-12)
    downside = math.sqrt(statistics.fmean([min(r, 0) ** 2 for r in SERIES]))
    assert f["sortino"] == pytest.approx(mean / downside * math.sqrt(365), abs=1e-12)
    assert f["beta"] == pytest.approx(statistics.covariance(SERIES, BENCH) / statistics.variance(BENCH), abs=1e-13)


def test_a_rising_series_has_no_drawdown_and_a_portfolio_is_its_weighted_columns():
    up = np.array([[0.01, 0.02], [0.02, -0.01], [0.005, 0.0]])
    f = figures(up)
    assert f.max_drawdown[0] == 0.0
    assert f.max_drawdown[1] == pytest.approx(0.01)
    assert np.allclose(portfolio_returns(up, np.array([0.25, 0.75])), up @ [0.25, 0.75])
    pairs = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, 6.0]])
    expected = statistics.correlation(pairs[:, 0].tolist(), pairs[:, 1].tolist())
    assert correlation(pairs)[0, 1] == pytest.approx(expected, abs=1e-15)


def test_returns_from_closes_carry_a_missing_close_forward():
    closes = np.array([[100.0, 10.0], [110.0, np.nan], [99.0, 12.0]])
    assert np.allclose(returns_from_closes(closes), [[0.1, 0.0], [-0.1, 0.2]], rtol=0, atol=1e-15)


def test_too_short_a_series_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="at least two returns"):
        figures(np.array([0.01]))


def test_the_vectorized_figures_equal_pandas_asset_by_asset():
    rng = np.random.default_rng(5)
    returns = rng.standard_t(4, size=(2000, 12)) * 0.001
    benchmark = returns[:, 0] * 0.7 + rng.normal(0, 0.0005, 2000)
    fast = figures(returns, benchmark=benchmark)
    assert risk_differences(fast, pandas_risk(returns, benchmark), correlation(returns)) < 1e-9
