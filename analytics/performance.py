"""Performance reports (reads): per cycle strategy, per copied wallet and per account, from the rows the platform
already keeps: PnL (per asset, never summed across assets), win rate, fees paid (per asset), slippage (realized
against what was expected at decision time) and latency."""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Min, Q, Sum

from cycles.models import Cycle, CycleState, Strategy
from exchanges.models import Exchange
from orders.models import Fill, Order, OrderRole
from positions.models import Position, PositionPhase
from wallets.models import CopyTrade, WatchedWallet

ENDED = [CycleState.COMPLETED, CycleState.LIQUIDATED, CycleState.CANCELED, CycleState.FAILED]


def _pct(values: list[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 3) if values else None


def _fees(fills) -> dict[str, str]:
    rows = fills.values("fee_asset").annotate(total=Sum("fee")).order_by("fee_asset")
    return {r["fee_asset"] or "?": str(r["total"]) for r in rows if r["total"]}


def _by_asset(rows) -> dict[str, str]:
    return {asset: str(total) for asset, total in rows if total is not None}


def _since(queryset, field: str, since: datetime | None):
    return queryset.filter(**{f"{field}__gte": since}) if since is not None else queryset


def strategy_performance(*, since: datetime | None = None) -> list[dict]:
    """Each cycle strategy: cycles ended, completed and won; PnL in its start asset; fees; slippage of the completed
    cycles (net rate realized against the rate expected when the cycle opened, bps); decision to leg 1 sent (ms)."""
    result = []
    for strategy in Strategy.objects.select_related("exchange").order_by("exchange__name", "name"):
        cycles = _since(Cycle.objects.filter(strategy=strategy, state__in=ENDED), "finished_at", since)
        completed = cycles.filter(state=CycleState.COMPLETED)
        slippage = [
            float((end / start / expected - 1) * 10_000)
            for start, end, expected in completed.values_list("start_amount", "end_amount", "expected_net_rate")
            if start and end is not None and expected
        ]  # fmt: skip
        legs = Order.objects.filter(cycle__in=cycles, role=OrderRole.LEG, submitted_at__isnull=False)
        first_legs = legs.values("cycle_id").annotate(sent=Min("submitted_at")).values_list("sent", "cycle__created_at")
        latency = [(sent - opened).total_seconds() * 1000 for sent, opened in first_legs]
        ended, won = cycles.count(), cycles.filter(realized_pnl__gt=0).count()
        result.append({
            "scope": "strategy", "id": strategy.pk, "name": strategy.name, "account": strategy.exchange.name,
            "ended": ended, "completed": completed.count(), "won": won,
            "win_rate": round(won / ended, 4) if ended else None,
            "pnl": _by_asset([(strategy.start_asset, cycles.aggregate(t=Sum("realized_pnl"))["t"])]),
            "fees": _fees(Fill.objects.filter(order__cycle__in=cycles)),
            "slippage_bps_mean": round(sum(slippage) / len(slippage), 3) if slippage else None,
            "slippage_bps_worst": round(min(slippage), 3) if slippage else None,
            "latency_ms_p50": _pct(latency, 0.5), "latency_ms_p95": _pct(latency, 0.95),
        })  # fmt: skip
    return result


def wallet_performance(*, since: datetime | None = None) -> list[dict]:
    """Each copied wallet: copies by outcome; the PnL of the positions its copies opened, per quote asset, and how
    many closed in profit; fees; slippage of our fills against the wallet's price (bps, positive = worse for us);
    the fill seen to our copy order sent, and the fill made to seen (ms)."""
    result = []
    for wallet in WatchedWallet.objects.order_by("label", "pk"):
        copies = _since(CopyTrade.objects.filter(wallet_trade__wallet=wallet), "created_at", since)
        positions = Position.objects.filter(copies__in=copies).distinct()
        closed = positions.filter(phase=PositionPhase.CLOSED)
        slippage, latency, detection = [], [], []
        for side, theirs, ours, sent, seen, made in copies.filter(order__isnull=False).values_list(
            "wallet_trade__side", "wallet_trade__price", "order__average", "order__submitted_at",
            "wallet_trade__detected_at", "wallet_trade__traded_at",
        ):  # fmt: skip
            if ours and theirs:
                worse = ours / theirs - 1 if side == "buy" else 1 - ours / theirs
                slippage.append(float(worse * 10_000))
            if sent and seen:
                latency.append((sent - seen).total_seconds() * 1000)
            if seen and made:
                detection.append((seen - made).total_seconds() * 1000)
        statuses = defaultdict(int)
        for status in copies.values_list("status", flat=True):
            statuses[status] += 1
        closed_count = closed.count()
        won = closed.filter(realized_pnl__gt=0).count()
        result.append({
            "scope": "wallet", "id": wallet.pk, "name": wallet.label or wallet.address, "copies": dict(statuses),
            "closed": closed_count, "won": won, "win_rate": round(won / closed_count, 4) if closed_count else None,
            "pnl": _by_asset(positions.values("market__quote").annotate(t=Sum("realized_pnl"))
                             .values_list("market__quote", "t").order_by("market__quote")),
            "fees": _fees(Fill.objects.filter(order__copy_trade__in=copies)),
            "slippage_bps_mean": round(sum(slippage) / len(slippage), 3) if slippage else None,
            "latency_ms_p50": _pct(latency, 0.5), "latency_ms_p95": _pct(latency, 0.95),
            "detection_ms_p50": _pct(detection, 0.5),
        })  # fmt: skip
    return result


def account_performance(*, since: datetime | None = None) -> list[dict]:
    """Each account: the PnL of its closed positions (per quote asset) and of its cycles (per start asset), the
    positions that closed in profit, fees paid per asset, orders and fills."""
    result = []
    for exchange in Exchange.objects.order_by("name"):
        closed = _since(Position.objects.filter(exchange=exchange, phase=PositionPhase.CLOSED), "closed_at", since)
        cycles = _since(Cycle.objects.filter(strategy__exchange=exchange, state__in=ENDED), "finished_at", since)
        fills = _since(Fill.objects.filter(exchange=exchange), "executed_at", since)
        closed_count, won = closed.count(), closed.filter(realized_pnl__gt=0).count()
        pnl = defaultdict(Decimal)
        for asset, total in [
            *closed.values("market__quote").annotate(t=Sum("realized_pnl")).values_list("market__quote", "t"),
            *cycles.values("start_asset").annotate(t=Sum("realized_pnl")).values_list("start_asset", "t"),
        ]:
            pnl[asset] += total or 0
        result.append({
            "scope": "account", "id": exchange.pk, "name": exchange.name, "positions_closed": closed_count,
            "won": won, "win_rate": round(won / closed_count, 4) if closed_count else None,
            "cycles_ended": cycles.count(), "pnl": {a: str(v) for a, v in sorted(pnl.items())},
            "fees": _fees(fills), "fills": fills.count(),
            "orders": _since(Order.objects.filter(exchange=exchange), "created_at", since)
            .filter(~Q(status="REJECTED")).count(),
        })  # fmt: skip
    return result


REPORTS = {"strategy": strategy_performance, "wallet": wallet_performance, "account": account_performance}


def flatten(row: dict) -> dict:
    """One CSV row: nested figures as `pnl.USDT`, `copies.FILLED`…"""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{k}": v for k, v in value.items()}
        else:
            flat[key] = value
    return flat
