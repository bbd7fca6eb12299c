"""Reads for analytics: which markets get candles, and the candles themselves (closed ones, then the open one)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.clock import from_ms
from core.redis_client import redis_client
from exchanges.models import Exchange, Market
from orders.models import Order
from positions.models import Position, PositionPhase

from .models import Candle, Rebalance, RebalanceTarget
from .services import OPEN_KEY, decode_open

TRADED_WITHIN = timedelta(hours=24)


def candle_symbols(*, exchange: Exchange) -> set[str]:
    """The markets an account holds (open positions), traded in the last day or charts (ANALYTICS_CHART_SYMBOLS),
    and each of their base assets' market against the valuation asset (what risk values them by)."""
    markets = Market.objects.filter(exchange=exchange, active=True)
    held = set(
        Position.objects.filter(exchange=exchange).exclude(phase=PositionPhase.CLOSED)
        .values_list("market__symbol", flat=True)
    )  # fmt: skip
    traded = set(
        Order.objects.filter(exchange=exchange, created_at__gte=timezone.now() - TRADED_WITHIN)
        .values_list("market__symbol", flat=True).distinct()
    )  # fmt: skip
    wanted = held | traded | set(settings.ANALYTICS_CHART_SYMBOLS)
    bases = set(markets.filter(symbol__in=wanted).values_list("base", flat=True))
    valuation = markets.filter(base__in=bases, quote=settings.DASHBOARD_VALUATION_ASSET).values_list(
        "symbol", flat=True
    )
    return set(markets.filter(symbol__in=wanted | set(valuation)).values_list("symbol", flat=True))


def open_candle(*, exchange: Exchange, symbol: str, timeframe: str, client=None):
    """The candle still open (from its writer, in Redis), or None."""
    raw = (client or redis_client()).hget(OPEN_KEY.format(exchange=exchange.name), f"{symbol}|{timeframe}")
    return decode_open(symbol, timeframe, raw) if raw else None


def candles_of(*, market: Market | None, timeframe: str, since: datetime | None = None, exchange: str | None = None):
    """Closed candles of a timeframe, oldest first, from `since` on: of `market`, or of every market (of the
    account named `exchange`)."""
    candles = Candle.objects.filter(timeframe=timeframe)
    if market is not None:
        candles = candles.filter(market=market)
    elif exchange is not None:
        candles = candles.filter(market__exchange__name=exchange)
    if since is not None:
        candles = candles.filter(open_time__gte=since)
    return candles.order_by("market_id", "open_time")


def open_candle_row(*, market: Market, timeframe: str, since: datetime | None = None) -> dict | None:
    """The open candle as an API row (closed: false), when there is one past `since`."""
    candle = open_candle(exchange=market.exchange, symbol=market.symbol, timeframe=timeframe)
    if candle is None or (since is not None and from_ms(candle.open_ms) < since):
        return None
    return {"open_time": from_ms(candle.open_ms), "open": candle.open, "high": candle.high, "low": candle.low,
            "close": candle.close, "volume": candle.volume, "quote_volume": candle.quote_volume,
            "trades": candle.trades, "closed": False}  # fmt: skip


def latest_account_risk(*, exchange: Exchange) -> dict | None:
    """The account's newest risk report and its limits, for the dashboard."""
    from .models import RiskLimits, RiskReport, RiskScope

    report = RiskReport.objects.filter(exchange=exchange, scope=RiskScope.ACCOUNT).order_by("-computed_at").first()
    if report is None:
        return None
    limits = RiskLimits.objects.filter(exchange=exchange).first()
    shares = {a: w for a, w in report.weights.items() if a != report.valuation_asset}
    largest = max(shares.items(), key=lambda kv: kv[1]) if shares else None
    bounds = {name: getattr(limits, name, None) for name in ("max_var_99", "max_drawdown", "max_asset_share")}
    return {"computed_at": f"{report.computed_at:%H:%M} UTC", "figures": report.figures, "largest": largest,
            "breaches": report.breaches, "unmeasured": report.unmeasured, "periods": report.periods,
            "limits": bounds}  # fmt: skip


def latest_rebalance(*, exchange: Exchange) -> dict | None:
    """The account's rebalance targets (the quote's share included) and its newest rebalance, for the dashboard."""
    target = RebalanceTarget.objects.filter(exchange=exchange).first()
    if target is None:
        return None
    weights = target.portfolio()
    last = Rebalance.objects.filter(exchange=exchange).order_by("-created_at", "-id").first()
    return {
        "targets": weights, "tolerance": target.tolerance, "auto": target.auto, "quote": target.quote,
        "last": None if last is None else {
            "id": last.pk, "state": last.state, "at": f"{(last.finished_at or last.created_at):%H:%M} UTC",
            "orders": last.orders, "expected_cost": last.expected_cost, "after": last.after or {},
            "error": last.error,
        },
    }  # fmt: skip
