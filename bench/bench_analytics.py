"""Analytics: candles from trades, and portfolio risk against pandas.

candle_update_us_p50 / _p99
    One trade through the candle aggregator (analytics/candles.py), timed one by one over every trade of both
    recordings (../shared/data/binance/depth/*.gz) replayed `--candle-rounds` times (their times shifted a
    recording's length each round, so the minutes keep closing and rolling up).
candles_mismatches
    The aggregator's candles of every timeframe against an independent pandas resample of the same trades (first,
    max, min, last, summed size, count per span from the epoch): OHLC and the count exactly, the volume within
    1e-9 relative. `candles_compared` says how many candles were compared.
risk_ms / risk_pandas_ms / risk_speedup_vs_pandas
    Every figure of analytics/risk.py (mean, volatility, historical and parametric VaR and CVaR at 95% and 99%,
    maximum drawdown, Sharpe, Sortino, beta to the first asset) and the correlation matrix, for `--assets` (500)
    assets x `--periods` (10,000) one-minute returns (fat-tailed, correlated through a common factor), best of
    `--rounds`; against the same figures computed asset by asset with pandas Series methods and DataFrame.corr
    (the older system's way), in the same run. `risk_max_difference`: the largest absolute difference over every
    figure and correlation (must stay under 1e-9).
rebalance_*
    The rebalance planner against an exhaustive search: see bench/bench_rebalance.py.
"""

import argparse
import statistics
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings

RECORDINGS = ("btcusdt_20240808.gz", "ethusdt_20240808.gz")


def recorded_trades() -> list[tuple[str, Decimal, Decimal, int]]:
    from exchanges.binance_format import recorded_trades as read

    folder = Path(settings.SHARED_DATA_DIR) / "binance" / "depth"
    trades = [t for name in RECORDINGS for t in read(folder / name)]
    return sorted(trades, key=lambda t: t[3])


def pandas_candles(trades) -> dict[tuple[str, str, int], tuple]:
    """(symbol, timeframe, open ms) -> (open, high, low, close, volume, count), by pandas alone."""
    import pandas as pd

    from analytics.candles import TIMEFRAMES

    frame = pd.DataFrame(
        [(s, float(p), float(q), t) for s, p, q, t in trades], columns=["symbol", "price", "size", "ts"]
    )
    frame["time"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    result = {}
    for symbol, group in frame.groupby("symbol"):
        group = group.set_index("time")
        for timeframe, span_ms in TIMEFRAMES.items():
            bars = group.resample(f"{span_ms // 1000}s", origin="epoch").agg(
                open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
                volume=("size", "sum"), count=("price", "count"),
            ).dropna()  # fmt: skip
            for start, bar in bars.iterrows():
                key = (symbol, timeframe, int(start.timestamp() * 1000))
                result[key] = (bar.open, bar.high, bar.low, bar.close, bar.volume, int(bar["count"]))
    return result


def candle_mismatches(candles, reference: dict) -> tuple[int, int]:
    """(mismatches, compared) between the aggregator's closed candles and pandas' (a candle on one side only is a
    mismatch too)."""
    mine = {(c.symbol, c.timeframe, c.open_ms): c for c in candles}
    bad = 0
    for key in mine.keys() | reference.keys():
        c, ref = mine.get(key), reference.get(key)
        if c is None or ref is None:
            bad += 1
            continue
        o, h, low, close, volume, count = ref
        same = (float(c.open), float(c.high), float(c.low), float(c.close), c.trades) == (o, h, low, close, count)
        if not same or abs(float(c.volume) - volume) > 1e-9 * max(1.0, volume):
            bad += 1
    return bad, len(mine.keys() | reference.keys())


def pandas_risk(returns, benchmark, *, levels=(0.95, 0.99), periods_a_year: int = 525_600) -> dict:
    """The same figures asset by asset with pandas Series methods (the older system's way), and the correlation
    matrix with DataFrame.corr: {name: array over assets} plus "correlation"."""
    import math
    from statistics import NormalDist

    import numpy as np
    import pandas as pd

    b = pd.Series(benchmark)
    out: dict[str, list] = {}
    for j in range(returns.shape[1]):
        s = pd.Series(returns[:, j])
        mean, sd = s.mean(), s.std()
        row = {"mean": mean, "volatility": sd}
        for q in levels:
            cut = s.quantile(1 - q)
            z = NormalDist().inv_cdf(1 - q)
            row[f"var_{round(q * 100)}"] = -cut
            row[f"cvar_{round(q * 100)}"] = -s[s <= cut].mean()
            row[f"var_{round(q * 100)}_parametric"] = -(mean + z * sd)
            row[f"cvar_{round(q * 100)}_parametric"] = -(
                mean - sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (1 - q)
            )
        wealth = (1 + s).cumprod()
        row["max_drawdown"] = max(0.0, -(wealth / wealth.cummax() - 1).min())
        row["sharpe"] = mean / sd * math.sqrt(periods_a_year)
        row["sortino"] = mean / math.sqrt((s.clip(upper=0) ** 2).mean()) * math.sqrt(periods_a_year)
        row["beta"] = s.cov(b) / b.var()
        for name, value in row.items():
            out.setdefault(name, []).append(value)
    result = {name: np.array(values) for name, values in out.items()}
    result["correlation"] = pd.DataFrame(returns).corr().to_numpy()
    return result


def risk_differences(fast, reference: dict, correlation) -> float:
    """The largest absolute difference between analytics.risk's figures and the reference's, over every figure."""
    import numpy as np

    worst = float(np.nanmax(np.abs(correlation - reference["correlation"])))
    for i in range(len(fast.mean)):
        for name, value in fast.column(i).items():
            worst = max(worst, abs(value - float(reference[name][i])))
    return worst


def bench_candles(rounds: int) -> dict:
    from analytics.candles import CandleAggregator

    trades = recorded_trades()
    span = trades[-1][3] - trades[0][3] + 60_000
    replayed = [(s, p, q, t + k * span) for k in range(rounds) for s, p, q, t in trades]
    aggregator = CandleAggregator()
    timings = []
    clock = time.perf_counter_ns
    for symbol, price, size, ts in replayed:
        started = clock()
        aggregator.add(symbol, price, size, ts)
        timings.append(clock() - started)
    aggregator.close_due(replayed[-1][3] + 2 * 86_400_000)
    mismatches, compared = candle_mismatches(aggregator.take_closed(), pandas_candles(replayed))
    timings.sort()
    return {
        "candle_trades": len(replayed),
        "candle_update_us_p50": round(statistics.median(timings) / 1000, 3),
        "candle_update_us_p99": round(timings[int(len(timings) * 0.99)] / 1000, 3),
        "candles_compared": compared,
        "candles_mismatches": mismatches,
    }


def bench_risk(assets: int, periods: int, rounds: int, seed: int) -> dict:
    import numpy as np

    from analytics.risk import correlation, figures

    rng = np.random.default_rng(seed)
    factor = rng.standard_t(4, size=(periods, 1)) * 0.001
    returns = factor * rng.uniform(0.3, 1.5, size=(1, assets)) + rng.standard_t(4, size=(periods, assets)) * 0.0008
    benchmark = returns[:, 0]

    def fast():
        return figures(returns, benchmark=benchmark), correlation(returns)

    fast_s = min(_timed(fast) for _ in range(rounds))
    pandas_s = _timed(lambda: pandas_risk(returns, benchmark))
    fast_figures, fast_corr = fast()
    return {
        "risk_assets": assets,
        "risk_periods": periods,
        "risk_ms": round(fast_s * 1000, 1),
        "risk_pandas_ms": round(pandas_s * 1000, 1),
        "risk_speedup_vs_pandas": round(pandas_s / fast_s, 1),
        "risk_max_difference": risk_differences(fast_figures, pandas_risk(returns, benchmark), fast_corr),
    }


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py analytics")
    parser.add_argument("--candle-rounds", type=int, default=20)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--periods", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="the vectorized risk's best of this many")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebalance-cases", type=int, default=400)
    parser.add_argument("--parts", default="candles,risk,rebalance", help="candles, risk, rebalance (comma-separated)")
    args = parser.parse_args(argv)
    parts, result = set(args.parts.split(",")), {}
    if "candles" in parts:
        result |= bench_candles(args.candle_rounds)
    if "risk" in parts:
        result |= bench_risk(args.assets, args.periods, args.rounds, args.seed)
    if "rebalance" in parts:
        from bench.bench_rebalance import bench_rebalance

        result |= bench_rebalance(args.rebalance_cases, args.seed)
    return result
