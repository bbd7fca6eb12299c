"""What the dashboard's charts draw: each a JSON-ready dict, read through the API cache (core.apicache) so a
dashboard left open on many screens costs one computation per TTL.

Times are epoch milliseconds. Money is never summed across assets: each series is one job in one asset.
"""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count, F, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from core.apicache import cached
from core.clock import to_ms
from core.limiter import usage_per_minute
from cycles.models import Cycle, CycleState
from cycles.scanner import scanner_stats
from exchanges.models import Exchange
from exchanges.registry import venue_breaker
from positions.models import Position, PositionPhase, PositionSource

from .models import EquitySnapshot

DETECTION_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
PNL_BINS = 20


# --- equity --------------------------------------------------------------------------------------
def equity(days: int = 30) -> dict:
    """Each account's equity over `days`: every snapshot for a day or less, hourly means beyond."""
    since = timezone.now() - timedelta(days=days)
    rows = EquitySnapshot.objects.filter(taken_at__gte=since)
    names = dict(Exchange.objects.values_list("pk", "name"))
    series: dict[int, list] = defaultdict(list)
    if days <= 1:
        for exchange_id, at, value in rows.order_by("taken_at").values_list("exchange_id", "taken_at", "equity"):
            series[exchange_id].append([to_ms(at), float(value)])
    else:
        hourly = (rows.annotate(hour=TruncHour("taken_at")).values("exchange_id", "hour").annotate(v=Avg("equity"))
                  .order_by("hour"))  # fmt: skip
        for row in hourly:
            series[row["exchange_id"]].append([to_ms(row["hour"]), float(row["v"])])
    lines = [{"name": names.get(pk, str(pk)), "points": pts} for pk, pts in sorted(series.items())]
    return {"asset": settings.DASHBOARD_VALUATION_ASSET, "days": days, "series": lines}


# --- realized PnL per day and job --------------------------------------------------------------------
def pnl_daily(days: int = 30) -> dict:
    """Realized PnL per day of each job (cycles, positions, copies) in each asset, and its running total."""
    since = timezone.now() - timedelta(days=days)
    daily: dict[tuple[str, str], dict] = defaultdict(dict)
    cycles = (Cycle.objects.filter(finished_at__gte=since).exclude(realized_pnl=None)
              .annotate(day=TruncDate("finished_at")).values("day", "start_asset")
              .annotate(pnl=Sum("realized_pnl")))  # fmt: skip
    for row in cycles:
        daily[("cycles", row["start_asset"])][row["day"]] = row["pnl"]
    closed = (Position.objects.filter(phase=PositionPhase.CLOSED, closed_at__gte=since)
              .annotate(day=TruncDate("closed_at"), quote=F("market__quote"))
              .values("day", "quote", "source").annotate(pnl=Sum("realized_pnl")))  # fmt: skip
    for row in closed:
        job = "copies" if row["source"] == PositionSource.COPY else "positions"
        daily[(job, row["quote"])][row["day"]] = daily[(job, row["quote"])].get(row["day"], Decimal(0)) + row["pnl"]
    series = []
    for (job, asset), by_day in sorted(daily.items()):
        total, points = Decimal(0), []
        for day in sorted(by_day):
            total += by_day[day]
            points.append([to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC)),
                           float(by_day[day]), float(total)])  # fmt: skip
        series.append({"name": f"{job} {asset}", "job": job, "asset": asset, "points": points})
    return {"days": days, "series": series}


# --- cycles --------------------------------------------------------------------------------------------
def cycles(days: int = 7) -> dict:
    """Cycles by outcome, and the distribution of finished cycles' PnL in basis points of what they started with."""
    since = timezone.now() - timedelta(days=days)
    recent = Cycle.objects.filter(created_at__gte=since)
    by_state = dict(recent.order_by().values_list("state").annotate(n=Count("id")))
    finished = recent.filter(state__in=[CycleState.COMPLETED, CycleState.LIQUIDATED, CycleState.FAILED],
                             start_amount__gt=0).exclude(realized_pnl=None)  # fmt: skip
    bps = [float(p / a * 10_000) for p, a in finished.values_list("realized_pnl", "start_amount")]
    histogram = []
    if bps:
        low, high = min(bps), max(bps)
        width = (high - low) / PNL_BINS or 1.0
        counts = Counter(min(PNL_BINS - 1, int((b - low) / width)) for b in bps)
        histogram = [[round(low + i * width, 2), round(low + (i + 1) * width, 2), counts.get(i, 0)]
                     for i in range(PNL_BINS)]  # fmt: skip
    return {"days": days, "by_state": by_state, "pnl_bps_histogram": histogram, "finished": len(bps)}


def funnel() -> dict:
    """Each account's scanner: ticker updates, passes, candidates, refusals by reason, cycles opened."""
    accounts = {}
    for account, counts in sorted(scanner_stats().items()):
        refused = {k.removeprefix("refused_"): v for k, v in counts.items() if k.startswith("refused_")}
        accounts[account] = {"updates": counts.get("updates", 0), "passes": counts.get("passes", 0),
                             "candidates": counts.get("candidates", 0), "refused": refused,
                             "opened": counts.get("cycles_opened", 0)}  # fmt: skip
    return {"accounts": accounts}


# --- orders and venues -----------------------------------------------------------------------------------
def fill_detection(hours: int = 24, limit: int = 5000) -> dict:
    """How long after their execution the latest fills were recorded, as a histogram (ms), with p50 and p95 (one
    aggregate query over the latest `limit` fills)."""
    since = timezone.now() - timedelta(hours=hours)
    edges = ", ".join(str(b) for b in DETECTION_BUCKETS_MS)
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY d),
                       array_agg(width_bucket(d, ARRAY[{edges}]::float8[]))
                FROM (SELECT greatest(0, extract(epoch FROM recorded_at - executed_at) * 1000)::float8 AS d
                      FROM orders_fill WHERE recorded_at >= %s ORDER BY recorded_at DESC LIMIT %s) latest""",  # noqa: S608  (constants only)
            [since, limit],
        )
        fills, p50, p95, slots = cur.fetchone()
    # width_bucket: 0 for d < 10 ms, i for edges[i-1] <= d < edges[i], len(edges) past the last
    counts = Counter(slots or ())
    labels = [f"<{b} ms" for b in DETECTION_BUCKETS_MS] + [f"≥{DETECTION_BUCKETS_MS[-1]} ms"]
    buckets = [[label, counts.get(i, 0)] for i, label in enumerate(labels)]
    return {"hours": hours, "fills": fills, "p50_ms": None if p50 is None else round(p50, 1),
            "p95_ms": None if p95 is None else round(p95, 1), "buckets": buckets}  # fmt: skip


def venues(minutes: int = 60) -> dict:
    """Each enabled account's calls and request weight per minute against its budget, and its breaker state."""
    names = list(Exchange.objects.filter(enabled=True).order_by("name").values_list("name", flat=True))
    usage = usage_per_minute(names, minutes)
    accounts = {}
    for exchange in Exchange.objects.filter(name__in=names).order_by("name"):
        accounts[exchange.name] = {"per_minute": usage[exchange.name], "breaker": venue_breaker(exchange).state()}
    return {"minutes": minutes, "budget_per_minute": settings.VENUE_RATE_CAPACITY, "accounts": accounts}


def positions() -> dict:
    """Open positions by urgency tier and by phase."""
    open_positions = Position.objects.exclude(phase=PositionPhase.CLOSED).order_by()
    return {"by_tier": {t or "-": n for t, n in open_positions.values_list("tier").annotate(n=Count("id"))},
            "by_phase": dict(open_positions.values_list("phase").annotate(n=Count("id")))}  # fmt: skip


CHARTS = {
    "equity": ("account", equity),
    "pnl": ("positions", pnl_daily),
    "cycles": ("positions", cycles),
    "funnel": ("positions", funnel),
    "detection": ("positions", fill_detection),
    "venues": ("positions", venues),
    "positions": ("positions", positions),
}


def chart(name: str) -> dict:
    """One chart's data, cached by its kind's TTL; KeyError for an unknown chart."""
    kind, compute = CHARTS[name]
    return {"name": name, "generated_at": to_ms(timezone.now()), **cached(kind, f"chart:{name}", compute)}
