"""What the dashboard and /api/accounts/ and /api/stats/ show: accounts with balances valued, platform figures.

Both are read through the API cache (`account`, API_CACHE_TTLS["account"],
dropped at each critical position event; `stats`, API_CACHE_TTLS["stats"]).
An account whose venue cannot be read is shown with the error, never hidden.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.selectors import latest_account_risk, latest_rebalance
from core.apicache import cached
from cycles.models import Cycle, CycleState
from cycles.scanner import scanner_stats
from exchanges.errors import VenueError
from exchanges.models import Exchange
from exchanges.registry import get_venue
from exchanges.selectors import account_holdings
from liquidation.models import PanicSell, PanicSellState
from orders.models import Order
from positions.models import Position, PositionEvent, PositionEventKind, PositionPhase
from wallets.models import CopyTrade, WalletTrade, WatchedWallet

log = logging.getLogger(__name__)


def account_overview(exchange: Exchange, venue=None) -> dict:
    """One account: balances valued in DASHBOARD_VALUATION_ASSET, open positions and work in flight."""
    valuation = settings.DASHBOARD_VALUATION_ASSET
    open_positions = Position.objects.filter(exchange=exchange).exclude(phase=PositionPhase.CLOSED)
    day_ago = timezone.now() - timedelta(days=1)
    summary = {
        "id": exchange.pk, "name": exchange.name, "kind": exchange.kind, "role": exchange.role,
        "mirror_of": exchange.mirror_of_id, "enabled": exchange.enabled,
        "entries_halted_by": exchange.entries_halted_by, "valuation_asset": valuation,
        "open_positions": open_positions.count(),
        "unrealized_pnl_by_quote": _sum_by(open_positions, "market__quote", "unrealized_pnl"),
        "realized_pnl_24h_by_quote": _sum_by(
            Position.objects.filter(exchange=exchange, phase=PositionPhase.CLOSED, closed_at__gte=day_ago),
            "market__quote", "realized_pnl",
        ),
        "live_orders": Order.objects.filter(exchange=exchange, live=True).count(),
        "active_cycles": Cycle.objects.filter(
            strategy__exchange=exchange, state__in=[CycleState.PENDING, CycleState.EXECUTING, CycleState.LIQUIDATING]
        ).count(),
        "active_panic_sells": PanicSell.objects.filter(exchange=exchange, state=PanicSellState.ACTIVE).count(),
        "balances": None, "equity": None, "unvalued_assets": [], "error": "",
        "risk": latest_account_risk(exchange=exchange), "rebalance": latest_rebalance(exchange=exchange),
    }  # fmt: skip
    if not exchange.enabled:
        summary["error"] = "account disabled"
        return summary
    try:
        balances, prices = account_holdings(exchange=exchange, venue=venue or get_venue(exchange), valuation=valuation)
    except VenueError as exc:
        summary["error"] = f"venue unavailable: {exc}"
        return summary
    rows, equity = [], Decimal(0)
    for asset, entry in balances.items():
        price = prices.get(asset)
        value = entry.total * price if price is not None else None
        equity += value or 0
        rows.append({"asset": asset, "free": entry.free, "locked": entry.locked, "total": entry.total,
                     "price": price, "value": value})  # fmt: skip
    rows.sort(key=lambda row: (row["value"] is None, -(row["value"] or 0), row["asset"]))
    summary["balances"] = rows
    summary["equity"] = equity
    summary["unvalued_assets"] = sorted(a for a in balances if a not in prices)
    return summary


def accounts_overview() -> list[dict]:
    return [account_overview(exchange) for exchange in Exchange.objects.order_by("role", "name")]


def cached_accounts_overview() -> list[dict]:
    return cached("account", "accounts", accounts_overview)


def platform_stats() -> dict:
    """Counts and results across the platform, for the last 24 hours and in all."""
    day_ago = timezone.now() - timedelta(days=1)
    cycles = Cycle.objects.all()
    finished = cycles.filter(finished_at__gte=day_ago)
    positions_closed = Position.objects.filter(phase=PositionPhase.CLOSED)
    results = positions_closed.aggregate(closed=Count("id"), won=Count("id", filter=Q(realized_pnl__gt=0)))
    closed, won = results["closed"], results["won"]
    events = _count_by(PositionEvent.objects.filter(created_at__gte=day_ago, critical=True), "kind")
    copies = CopyTrade.objects.values("status").annotate(n=Count("id")).order_by("status")
    return {
        "generated_at": timezone.now(),
        "cycles": {
            "by_state": _count_by(cycles, "state"),
            "finished_24h": finished.count(),
            "completed_24h": finished.filter(state=CycleState.COMPLETED).count(),
            "realized_pnl_24h_by_asset": _sum_by(finished.exclude(realized_pnl=None), "start_asset", "realized_pnl"),
            "realized_pnl_by_asset": _sum_by(cycles.exclude(realized_pnl=None), "start_asset", "realized_pnl"),
            # Each account's scanner: passes, candidates, cycles opened and the candidates refused, by reason.
            "scanner": scanner_stats(),
        },
        "positions": {
            "by_phase": _count_by(Position.objects.all(), "phase"),
            "open_by_tier": _count_by(Position.objects.exclude(phase=PositionPhase.CLOSED), "tier"),
            "closed": closed,
            "win_rate": round(won / closed, 4) if closed else None,
            "realized_pnl_by_quote": _sum_by(positions_closed, "market__quote", "realized_pnl"),
            "critical_events_24h": events,
            "tp_hits_24h": events.get(PositionEventKind.TP_HIT, 0),
            "sl_hits_24h": events.get(PositionEventKind.SL_HIT, 0),
        },
        "orders": {"live": Order.objects.filter(live=True).count(), **_orders_24h(day_ago)},
        "wallets": {
            "watched": WatchedWallet.objects.filter(enabled=True).count(),
            "copying": WatchedWallet.objects.filter(enabled=True, copy_enabled=True).count(),
            "trades_24h": WalletTrade.objects.filter(detected_at__gte=day_ago).count(),
            "copies_by_status": {row["status"]: row["n"] for row in copies},
        },
        "panic_sells": _count_by(PanicSell.objects.filter(Q(finished_at__gte=day_ago) | Q(finished_at=None)), "state"),
    }


def _orders_24h(since) -> dict:
    """The last day's orders by status and their fees by asset, in one pass over them."""
    by_status: dict[str, int] = {}
    fees: dict[str, Decimal] = {}
    rows = (Order.objects.filter(created_at__gte=since).order_by().values_list("status", "fee_asset")
            .annotate(n=Count("id"), fee=Sum("fee")))  # fmt: skip
    for status, asset, n, fee in rows:
        by_status[status] = by_status.get(status, 0) + n
        if fee:
            fees[asset] = fees.get(asset, Decimal(0)) + fee
    return {"created_24h_by_status": dict(sorted(by_status.items())), "fees_24h_by_asset": dict(sorted(fees.items()))}


def _count_by(queryset, field: str) -> dict[str, int]:
    rows = queryset.values(field).annotate(n=Count("id")).order_by(field)
    return {row[field] or "-": row["n"] for row in rows}


def _sum_by(queryset, field: str, amount: str) -> dict[str, Decimal]:
    rows = queryset.values(field).annotate(total=Sum(amount)).order_by(field)
    return {row[field]: row["total"] for row in rows}


def cached_platform_stats() -> dict:
    return cached("stats", "platform", platform_stats)
