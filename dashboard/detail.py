"""The data behind one position's, one wallet's and one cycle's page (times in epoch ms, prices as floats)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from analytics.candles import TIMEFRAMES
from analytics.selectors import candles_of, open_candle_row
from core.clock import to_ms
from cycles.models import Cycle
from orders.models import Fill, Order
from positions.models import Position, PositionEventKind
from wallets.models import CopyTrade, WatchedWallet

PRICE_POINTS = 2000
WALLET_ROWS = 200


def _f(value) -> float | None:
    return None if value is None else float(value)


def position_chart(position: Position) -> dict:
    """The market's price as the monitor saw it while the position was open (its checks' prices), the position's
    fills, its entry, its take-profit ladder and its stop."""
    checks = position.events.filter(kind=PositionEventKind.MONITORING_UPDATE).order_by("-created_at")
    prices = [[to_ms(at), float(payload["price"])] for at, payload in checks.values_list("created_at", "payload")
              [:PRICE_POINTS] if payload.get("price") is not None]  # fmt: skip
    prices.reverse()
    fills = Fill.objects.filter(order__position=position).select_related("order").order_by("executed_at")
    return {
        "symbol": position.market.symbol,
        "prices": prices,
        **position_candles(position),
        "fills": [
            {
                "t": to_ms(f.executed_at),
                "price": float(f.price),
                "amount": float(f.amount),
                "side": f.order.side,
                "role": f.order.role,
            }
            for f in fills
        ],
        "entry": _f(position.entry_price),
        "stop": _f(position.stop_loss),
        "take_profits": [
            {"price": float(tp.price), "fraction": float(tp.fraction), "status": tp.status}
            for tp in position.take_profits.order_by("index")
        ],
    }


def position_candles(position: Position) -> dict:
    """The market's candles over the position's life (from a little before it opened), in the shortest timeframe
    that draws it in at most PRICE_POINTS candles, the open one last: [time, low, high, close] each."""
    start = position.created_at - timedelta(minutes=10)
    end = position.closed_at or timezone.now()
    minutes = max(1.0, (end - start).total_seconds() / 60)
    timeframe = next((tf for tf, span in TIMEFRAMES.items() if minutes / (span / 60_000) <= PRICE_POINTS), "1d")
    rows = candles_of(market=position.market, timeframe=timeframe, since=start).filter(open_time__lte=end)
    rows = rows.values_list("open_time", "low", "high", "close")[:PRICE_POINTS]
    candles = [[to_ms(t), float(low), float(high), float(close)] for t, low, high, close in rows]
    current = open_candle_row(market=position.market, timeframe=timeframe, since=start)
    if current is not None and position.closed_at is None:
        candles.append([to_ms(current["open_time"]), float(current["low"]), float(current["high"]),
                        float(current["close"])])  # fmt: skip
    return {"candles": candles, "timeframe": timeframe}


def wallet_chart(wallet: WatchedWallet) -> dict:
    """The wallet's latest fills with our copy of each (its status, size, our average price) and the reason."""
    copies = (CopyTrade.objects.filter(wallet_trade__wallet=wallet).select_related("wallet_trade", "order")
              .order_by("-wallet_trade__traded_at")[:WALLET_ROWS])  # fmt: skip
    rows = []
    for copy in copies:
        trade, order = copy.wallet_trade, copy.order
        latency = (copy.submitted_at - trade.detected_at).total_seconds() * 1000 if copy.submitted_at else None
        rows.append({
            "t": to_ms(trade.traded_at), "when": trade.traded_at.isoformat(timespec="seconds"), "side": trade.side,
            "asset": trade.asset, "title": trade.title, "price": float(trade.price), "size": float(trade.size),
            "status": copy.status, "copy_size": _f(copy.size), "reason": copy.reason,
            "our_price": _f(order.average) if order is not None else None,
            "latency_ms": None if latency is None else int(latency),
        })  # fmt: skip
    rows.reverse()
    return {"address": wallet.address, "rows": rows}


def cycle_chart(cycle: Cycle) -> dict:
    """Each leg: the price the scanner expected and the average it filled at, and the slippage in bps (against
    the leg's side: positive is worse)."""
    legs = []
    for leg in cycle.legs.select_related("market", "order").order_by("index"):
        order: Order | None = leg.order
        filled = order.average if order is not None and order.filled else None
        slip = None
        if filled is not None:
            worse = filled - leg.expected_price if leg.side == "buy" else leg.expected_price - filled
            slip = float(worse / leg.expected_price * Decimal(10_000))
        legs.append({"index": leg.index, "symbol": leg.market.symbol, "side": leg.side,
                     "expected": float(leg.expected_price), "filled": _f(filled),
                     "amount": _f(order.filled) if order is not None else None,
                     "status": order.status if order is not None else "not placed", "slippage_bps": slip})  # fmt: skip
    return {"state": cycle.state, "legs": legs}
