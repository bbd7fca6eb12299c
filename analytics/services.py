"""Writes for analytics: closed candles in bulk, the open ones in Redis, retention; the writer the trade
sources (the simulator, the paper venue's fills, a venue's trade stream) feed."""

import json
import logging
import time
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from core.clock import from_ms, to_ms
from core.redis_client import redis_client
from exchanges.models import Exchange, Market
from exchanges.selectors import market_data_account

from . import candles as pure
from . import risk
from .models import Candle, RiskLimits, RiskReport, RiskScope

log = logging.getLogger(__name__)

OPEN_KEY = "candles:open:{exchange}"  # hash "<symbol>|<timeframe>" -> the open candle (JSON), rewritten each flush
CLOSE_GRACE_MS = 2_000  # a candle closes this long after its span ends: trades printed at its end are still coming


def _markets(exchange: Exchange, symbols: set[str]) -> dict[str, int]:
    return dict(Market.objects.filter(exchange=exchange, symbol__in=symbols).values_list("symbol", "pk"))


def candles_write(*, exchange: Exchange, candles: list[pure.Candle]) -> int:
    """Store closed candles in one statement; a candle stored before (a backfill, a replay) is replaced. Candles of
    symbols that are not markets of the account are left out. Returns how many were written."""
    markets = _markets(exchange, {c.symbol for c in candles})
    rows = [
        Candle(market_id=markets[c.symbol], timeframe=c.timeframe, open_time=from_ms(c.open_ms), open=c.open,
               high=c.high, low=c.low, close=c.close, volume=c.volume, quote_volume=c.quote_volume, trades=c.trades)
        for c in candles if c.symbol in markets
    ]  # fmt: skip
    if rows:
        Candle.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["market", "timeframe", "open_time"],
            update_fields=["open", "high", "low", "close", "volume", "quote_volume", "trades"],
        )  # fmt: skip
    return len(rows)


def _encode(candle: pure.Candle) -> str:
    return json.dumps([candle.open_ms, str(candle.open), str(candle.high), str(candle.low), str(candle.close),
                       str(candle.volume), str(candle.quote_volume), candle.trades])  # fmt: skip


def decode_open(symbol: str, timeframe: str, raw: bytes) -> pure.Candle:
    open_ms, o, h, low, c, v, qv, n = json.loads(raw)
    return pure.Candle(symbol, timeframe, open_ms, Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(v),
                       Decimal(qv), n)  # fmt: skip


def candles_put_open(*, exchange_name: str, candles: list[pure.Candle], client=None) -> None:
    """The open candles as they stand (the API and the charts show them after the closed ones), in one round trip;
    the hash expires when its writer stops writing."""
    r = client or redis_client()
    key = OPEN_KEY.format(exchange=exchange_name)
    pipe = r.pipeline(transaction=True)
    pipe.delete(key)
    if candles:
        pipe.hset(key, mapping={f"{c.symbol}|{c.timeframe}": _encode(c) for c in candles})
        pipe.expire(key, max(60, int(settings.ANALYTICS_CANDLE_FLUSH_S * 10)))
    pipe.execute()


def candles_prune(*, now=None) -> dict[str, int]:
    """Delete candles past their timeframe's retention (ANALYTICS_CANDLE_RETENTION_DAYS; 0 keeps them)."""
    now = now or timezone.now()
    deleted = {}
    for timeframe, days in settings.ANALYTICS_CANDLE_RETENTION_DAYS.items():
        if days:
            deleted[timeframe], _ = Candle.objects.filter(
                timeframe=timeframe, open_time__lt=now - timedelta(days=days)
            ).delete()
    return deleted


class CandleWriter:
    """An aggregator for one account, flushed every ANALYTICS_CANDLE_FLUSH_S: closed candles to PostgreSQL in bulk,
    the open ones to Redis. A trade source calls `add` for each trade and `maybe_flush` as it goes (cheap when
    not due). A flush that fails (PostgreSQL away) keeps its candles for the next one: nothing closed is lost
    while the process lives."""

    def __init__(self, exchange: Exchange, *, flush_s: float | None = None) -> None:
        self.exchange = exchange
        self.aggregator = pure.CandleAggregator()
        self.flush_s = settings.ANALYTICS_CANDLE_FLUSH_S if flush_s is None else flush_s
        self._next_flush = time.monotonic() + self.flush_s
        self._unwritten: list[pure.Candle] = []
        self.written = 0

    def symbols(self) -> set[str]:
        from .selectors import candle_symbols

        return candle_symbols(exchange=self.exchange)

    def add(self, symbol: str, price: Decimal, size: Decimal, ts_ms: int) -> None:
        self.aggregator.add(symbol, price, size, ts_ms)

    def maybe_flush(self) -> None:
        if time.monotonic() >= self._next_flush:
            self.flush()

    def flush(self, *, now_ms: int | None = None) -> int:
        """Close what is due and write it. Due by the market's own clock (its newest trade's time, `now_ms` when
        given), not this host's: a replay, or a host whose clock runs ahead, never closes a minute still trading."""
        self._next_flush = time.monotonic() + self.flush_s
        now_ms = self.aggregator.latest_ms if now_ms is None else now_ms
        self.aggregator.close_due(now_ms - CLOSE_GRACE_MS)
        self._unwritten += self.aggregator.take_closed()
        written = 0
        try:
            if self._unwritten:
                written = candles_write(exchange=self.exchange, candles=self._unwritten)
            self._unwritten = []
            candles_put_open(exchange_name=self.exchange.name, candles=self.aggregator.open_candles())
        except Exception as exc:  # kept for the next flush; the source goes on
            log.warning("candles of %s not written yet (%d waiting): %s", self.exchange.name, len(self._unwritten), exc)
            return 0
        self.written += written
        return written


def candles_backfill(*, exchange: Exchange, symbols: list[str], since, until=None, venue=None, say=None) -> dict:
    """The account's one-minute candles from `since` to `until` (now) from its venue's REST history, 1000 a call
    within the request budget, and every higher timeframe span they cover whole, rolled up from them; written as
    any closed candle (replacing what was stored for the same span). Returns {symbol: candles written}."""
    from exchanges.registry import get_venue

    venue = venue or get_venue(exchange)
    until_ms = to_ms(until or timezone.now())
    written = {}
    for symbol in symbols:
        aggregator = pure.CandleAggregator()
        cursor = first = to_ms(since) // pure.MINUTE_MS * pure.MINUTE_MS
        while cursor < until_ms:
            page = venue.fetch_klines(symbol, timeframe=pure.BASE, since_ms=cursor, limit=1000)
            closed = [k for k in page if cursor <= k.open_ms and k.open_ms + pure.MINUTE_MS <= until_ms]
            for k in closed:
                aggregator.add_closed_minute(pure.Candle(symbol, pure.BASE, k.open_ms, k.open, k.high, k.low, k.close,
                                                         k.volume, k.quote_volume, k.trades))  # fmt: skip
            if len(page) < 1000 or not closed:
                break
            cursor = closed[-1].open_ms + pure.MINUTE_MS
        if aggregator.closed_before.get(symbol):
            aggregator.close_due(aggregator.closed_before[symbol])
        # A higher span that began before the first minute fetched holds only part of its minutes: left out.
        candles = [c for c in aggregator.take_closed() if c.open_ms >= first]
        written[symbol] = candles_write(exchange=exchange, candles=candles)
        if say is not None:
            say(f"{symbol}: {written[symbol]} candles")
    return written


# --- risk --------------------------------------------------------------------------------------------------------
def _returns_by_asset(*, exchange: Exchange, assets: list[str], valuation: str, since, until) -> dict[str, np.ndarray]:
    """Each asset's one-minute returns in the valuation asset from the account's candles (its market against the
    valuation asset, or the inverse market), on one minute grid from `since` to `until`; the valuation asset
    itself returns 0. Assets with no such market or no candles are left out."""
    start_ms, end_ms = to_ms(since) // pure.MINUTE_MS * pure.MINUTE_MS, to_ms(until)
    minutes = max(0, (end_ms - start_ms) // pure.MINUTE_MS)
    markets = {}
    for market in Market.objects.filter(exchange=market_data_account(exchange)).filter(
        Q(base__in=assets, quote=valuation) | Q(quote__in=assets, base=valuation)
    ):  # fmt: skip
        asset, inverse = (market.base, False) if market.quote == valuation else (market.quote, True)
        markets.setdefault(asset, (market.pk, inverse))
    closes = np.full((minutes + 1, len(markets)), np.nan)
    column = {pk: i for i, (pk, _) in enumerate(markets.values())}
    rows = Candle.objects.filter(
        market_id__in=column, timeframe=pure.BASE, open_time__gte=from_ms(start_ms), open_time__lte=from_ms(end_ms)
    ).values_list("market_id", "open_time", "close")
    for market_id, open_time, close in rows:
        closes[(to_ms(open_time) - start_ms) // pure.MINUTE_MS, column[market_id]] = float(close)
    priced = [(asset, column[pk], inverse) for asset, (pk, inverse) in markets.items()
              if np.count_nonzero(~np.isnan(closes[:, column[pk]])) >= 2]  # fmt: skip
    for _, i, inverse in priced:
        first = np.argmax(~np.isnan(closes[:, i]))
        closes[:first, i] = closes[first, i]  # before its first candle: flat
        if inverse:
            closes[:, i] = 1.0 / closes[:, i]
    returns = risk.returns_from_closes(closes[:, [i for _, i, _ in priced]])  # every column at once
    result = {valuation: np.zeros(minutes)} if valuation in assets else {}
    return result | {asset: returns[:, k] for k, (asset, _, _) in enumerate(priced)}


def _portfolio_report(*, exchange: Exchange, values: dict[str, Decimal], now, **subject) -> RiskReport:
    """The figures of holdings `values` (asset -> value in the valuation asset), unsaved."""
    valuation = settings.DASHBOARD_VALUATION_ASSET
    total = sum(values.values(), Decimal(0))
    since = now - timedelta(minutes=settings.ANALYTICS_RISK_WINDOW_MIN)
    benchmark = settings.ANALYTICS_RISK_BENCHMARK
    returns = _returns_by_asset(exchange=exchange, assets=sorted({*values, benchmark}), valuation=valuation,
                                since=since, until=now)  # fmt: skip
    measured = sorted(a for a in values if a in returns)
    report = RiskReport(exchange=exchange, computed_at=now, valuation_asset=valuation, value=total,
                        periods=0, unmeasured=sorted(set(values) - set(measured)), **subject)  # fmt: skip
    if not total or not measured:
        return report
    weights = np.array([float(values[a] / total) for a in measured])
    matrix = np.column_stack([returns[a] for a in measured])
    bench = returns.get(benchmark)
    report.periods = matrix.shape[0]
    report.weights = {a: round(float(w), 10) for a, w in zip(measured, weights, strict=True)}
    if report.periods < 2:
        return report
    report.figures = risk.figures(risk.portfolio_returns(matrix, weights), benchmark=bench).column(0)
    per_asset = risk.figures(matrix, benchmark=bench)
    report.assets = {a: per_asset.column(i) for i, a in enumerate(measured)}
    corr = risk.correlation(matrix)
    report.correlation = {"assets": measured, "matrix": np.where(np.isfinite(corr), corr, None).tolist()}
    return report


def _equity_drawdown(exchange: Exchange, equity: Decimal) -> float | None:
    """How far the account's equity is below its peak in the snapshots kept (the dashboard's equity chart)."""
    from dashboard.models import EquitySnapshot

    peak = EquitySnapshot.objects.filter(exchange=exchange).aggregate(peak=Max("equity"))["peak"]
    peak = max(peak or Decimal(0), equity)
    return float(1 - equity / peak) if peak > 0 else None


def _breaches(report: RiskReport, limits: "RiskLimits | None", drawdown: float | None) -> list[str]:
    if limits is None:
        return []
    said = []
    var = report.figures.get("var_99")
    if limits.max_var_99 is not None and var is not None and var > limits.max_var_99:
        said.append(f"VaR 99% {var:.2%} over the {limits.max_var_99:.2%} limit")
    if limits.max_drawdown is not None and drawdown is not None and drawdown > limits.max_drawdown:
        said.append(f"drawdown {drawdown:.2%} over the {limits.max_drawdown:.2%} limit")
    if limits.max_asset_share is not None:
        for asset, share in sorted(report.weights.items(), key=lambda kv: -kv[1]):
            if asset != report.valuation_asset and share > limits.max_asset_share:
                said.append(f"{asset} {share:.2%} of equity, over the {limits.max_asset_share:.2%} limit")
    return said


RISK_HALT = "risk: "  # how a halt the limits set begins (an operator's halt names the operator)


def risk_assess_account(*, exchange: Exchange, venue=None, now=None) -> RiskReport:
    """The account's risk from its balances, saved; its limits enforced through the kill switch: crossed, new
    entries stop with the reason; met again, a halt the limits set is lifted (an operator's halt is left alone)."""
    from exchanges.registry import get_venue
    from exchanges.selectors import account_holdings
    from positions.actions import entries_halt

    now = now or timezone.now()
    balances, prices = account_holdings(exchange=exchange, venue=venue or get_venue(exchange),
                                        valuation=settings.DASHBOARD_VALUATION_ASSET)  # fmt: skip
    values = {asset: entry.total * prices[asset] for asset, entry in balances.items() if asset in prices}
    report = _portfolio_report(exchange=exchange, values=values, now=now, scope=RiskScope.ACCOUNT)
    report.unmeasured = sorted(set(report.unmeasured) | (set(balances) - set(prices)))
    drawdown = _equity_drawdown(exchange, report.value)
    report.figures["equity_drawdown"] = drawdown
    report.breaches = _breaches(report, RiskLimits.objects.filter(exchange=exchange).first(), drawdown)
    report.save()
    halted = Exchange.objects.filter(pk=exchange.pk).values_list("entries_halted_by", flat=True).first()
    if report.breaches and not halted:
        entries_halt(exchange=exchange, halted=True, requested_by=(RISK_HALT + "; ".join(report.breaches))[:150])
    elif not report.breaches and halted.startswith(RISK_HALT):
        entries_halt(exchange=exchange, halted=False, requested_by="risk: limits met again")
    return report


def risk_assess_wallets(*, exchange: Exchange, now=None) -> list[RiskReport]:
    """For each copied wallet with open positions on the account: the risk of what its copies hold, saved."""
    from positions.models import Position, PositionPhase

    now = now or timezone.now()
    valuation = settings.DASHBOARD_VALUATION_ASSET
    holdings: dict[int, dict[str, Decimal]] = {}
    for wallet_id, base, quote, remaining, mark in (
        Position.objects.filter(exchange=exchange, copies__wallet_trade__wallet__isnull=False)
        .exclude(phase=PositionPhase.CLOSED).distinct()
        .values_list("copies__wallet_trade__wallet", "market__base", "market__quote", "remaining", "mark_price")
    ):  # fmt: skip
        if quote == valuation and mark:  # priced in the valuation asset (outcome tokens against USDC are not)
            held = holdings.setdefault(wallet_id, {})
            held[base] = held.get(base, Decimal(0)) + remaining * mark
    reports = [_portfolio_report(exchange=exchange, values=values, now=now, scope=RiskScope.WALLET,
                                 wallet_id=wallet_id) for wallet_id, values in holdings.items()]  # fmt: skip
    return RiskReport.objects.bulk_create(reports)


def risk_assess_strategies(*, exchange: Exchange, now=None) -> list[RiskReport]:
    """For each cycle strategy of the account: the figures of its cycles' returns (PnL over what each started
    with), over ANALYTICS_RISK_WINDOW_MIN; a strategy holds nothing between cycles, so its risk is what a cycle
    can lose."""
    from cycles.models import TERMINAL_STATES, Cycle, Strategy

    now = now or timezone.now()
    since = now - timedelta(minutes=settings.ANALYTICS_RISK_WINDOW_MIN)
    reports = []
    for strategy in Strategy.objects.filter(exchange=exchange):
        pnl = Cycle.objects.filter(strategy=strategy, state__in=TERMINAL_STATES, finished_at__gte=since,
                                   start_amount__gt=0).order_by("finished_at")  # fmt: skip
        returns = np.array([float(p / a) for p, a in pnl.values_list("realized_pnl", "start_amount") if p is not None])
        report = RiskReport(exchange=exchange, scope=RiskScope.STRATEGY, strategy=strategy, computed_at=now,
                            valuation_asset=strategy.start_asset, value=0, periods=len(returns))  # fmt: skip
        if len(returns) >= 2:
            report.figures = risk.figures(returns, periods_a_year=1).column(0)  # per cycle: not annualized
        reports.append(report)
    return RiskReport.objects.bulk_create(reports)


def risk_limits_set(*, exchange: Exchange, **limits) -> RiskLimits:
    """An account's risk limits (the fields given; None lifts one); the next assessment applies them."""
    fields = {k: limits[k] for k in ("max_var_99", "max_drawdown", "max_asset_share") if k in limits}
    row, _ = RiskLimits.objects.update_or_create(exchange=exchange, defaults=fields)
    return row


def risk_prune(*, now=None) -> int:
    now = now or timezone.now()
    deleted, _ = RiskReport.objects.filter(
        computed_at__lt=now - timedelta(days=settings.ANALYTICS_RISK_RETENTION_DAYS)
    ).delete()
    return deleted
