"""Crash recovery for cycles: what `manage.py recover_cycles` and the beat sweep run.

Stages, in order:

1. flush the write-behind buffer, so progress is in the database before anything is judged;
2. validate integrity: expired reservations are deleted and orders whose totals disagree with their
   fills are repaired from them (orders.recovery; fills are the truth); completed cycles whose realized PnL disagrees
   with their orders are reported (a cycle order without its cycle, a hop without its panic sell, or a
   fill without its order, the schema itself refuses);
3. reconcile every live order of the accounts in scope with the venue (orders.recovery), by venue id,
   else client id; UNKNOWN orders are resolved by lookups (never by placing again), waiting up to
   `wait_s` for the grace window; open orders on the venue that we have no record of are adopted and
   flagged;
4. resume or unwind every interrupted cycle (the rule below);
5. statistics: found, recovered, resumed, unwound, repaired, needing an operator, with reasons.

An interrupted cycle is open (PENDING, EXECUTING, LIQUIDATING), has no live order, and has not moved
for `stall_s` seconds (the sweep waits RECOVERY_STALL_S; the operator's command after a crash, 0).

The rule, applied where the cycle would place its next leg:

- before leg 1 (nothing spent): resumed while the cycle is younger than CYCLE_RESUME_MAX_AGE_S, its
  prices still near those it was opened on; canceled otherwise;
- after leg 1 or 2: finishing the remaining legs from what it holds and liquidating it (the best
  panic-sell route into the start asset) are both simulated on the current books, with fees and lots;
  it is resumed when finishing gives at least as much (within 1 bp), and unwound (a panic sell with the
  strategy's routing) when liquidating gives more or the remaining legs cannot be walked;
- LIQUIDATING: its panic sell is resumed;
- a cycle whose order is still live after reconciliation (resting, or UNKNOWN inside its grace window)
  is left to monitoring and reported as waiting.

Running it again changes nothing: what was recovered is no longer interrupted. While something in
scope still waits for the venue or needs an operator, its strategies hold (`Strategy.recovery_hold`):
`cycle_reserve` refuses them new cycles until a run finds them clean.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from core.isolation import Loop
from core.writebehind import writebehind_flush
from exchanges.errors import VenueError, VenueUnavailable
from exchanges.models import Exchange
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from liquidation.conversion import convert
from liquidation.models import PanicSell, PanicSellState
from liquidation.services import panic_sell_advance, route_policy, venue_router
from orders.models import Order
from orders.recovery import Finding, orders_recover, orders_repair_totals

from .models import OPEN_STATES, Cycle, CycleLeg, CycleState, Strategy
from .reservations import reservation_expire_stale
from .services import cycle_advance

log = logging.getLogger(__name__)
D0 = Decimal(0)
ADVISORY_LOCK = 0x7265636F  # one recovery at a time, across processes and hosts
VENUE_TRIES = 3
TIE_BPS = Decimal(1)  # liquidating must beat finishing by more than this to unwind (the same route often does both)
Progress = Callable[[str, int, int], None]


@dataclass
class RecoveryReport:
    dry_run: bool
    flushed_rows: int = 0
    found: int = 0
    recovered: int = 0
    resumed: int = 0
    unwound: int = 0
    repaired: int = 0
    needs_operator: int = 0
    waiting: int = 0
    orders_reconciled: int = 0
    orders_adopted: int = 0
    held_strategies: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding, *, found: bool = True) -> None:
        self.findings.append(finding)
        self.found += found
        if finding.action in ("resumed", "unwound", "repaired"):
            self.recovered += 1
            setattr(self, finding.action, getattr(self, finding.action) + 1)
        elif finding.action == "operator":
            self.needs_operator += 1
        elif finding.action == "waiting":
            self.waiting += 1

    @property
    def clean(self) -> bool:
        return not (self.needs_operator or self.waiting)

    def as_dict(self) -> dict:
        return asdict(self) | {"clean": self.clean}


class RecoveryBusy(Exception):
    """Another recovery holds the lock."""


def recover_cycles(
    *,
    dry_run: bool = False,
    strategy: str | None = None,
    cycle_id: int | None = None,
    stall_s: float = 0.0,
    wait_s: float = 0.0,
    hold_while_running: bool = True,
    progress: Progress | None = None,
    venue_for: Callable[[Exchange], object] | None = None,
) -> RecoveryReport:
    """Run the stages over the strategies (or the one cycle) in scope; see the module docstring."""
    progress = progress or (lambda stage, done, total: None)
    venue_for = venue_for or get_venue
    report = RecoveryReport(dry_run=dry_run)
    strategies = Strategy.objects.select_related("exchange")
    if strategy:
        strategies = strategies.filter(name=strategy)
        if not strategies.exists():
            raise Strategy.DoesNotExist(f"No strategy named {strategy!r}.")
    if cycle_id is not None:
        cycle = Cycle.objects.filter(pk=cycle_id).first()
        if cycle is None:
            raise Cycle.DoesNotExist(f"No cycle {cycle_id}.")
        strategies = strategies.filter(pk=cycle.strategy_id)
    strategies = list(strategies)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK])
        if not cursor.fetchone()[0]:
            raise RecoveryBusy("Another recovery is running; try again when it has finished.")
    try:
        if hold_while_running and not dry_run:
            Strategy.objects.filter(pk__in=[s.pk for s in strategies], recovery_hold="").update(
                recovery_hold=f"recovery running since {timezone.now():%H:%M:%S}"
            )
        _flush(report, progress)
        _validate(report, strategies, cycle_id, progress)
        _reconcile(report, strategies, cycle_id, wait_s, venue_for, progress)
        _resume_or_unwind(report, strategies, cycle_id, stall_s, venue_for, progress)
        if not dry_run:
            _hold(report, strategies)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK])
    return report


# --- 1. flush ----------------------------------------------------------------------------
def _flush(report: RecoveryReport, progress: Progress) -> None:
    progress("flush", 0, 1)
    if not report.dry_run:
        result = writebehind_flush()
        report.flushed_rows = result.rows
        if result.skipped == "locked":  # a beat flush is running: it writes the same buffer
            time.sleep(0.5)
            report.flushed_rows += writebehind_flush().rows
    progress("flush", 1, 1)


# --- 2. integrity --------------------------------------------------------------------------
def _validate(report: RecoveryReport, strategies: list[Strategy], cycle_id: int | None, progress: Progress) -> None:
    exchange_ids = {s.exchange_id for s in strategies}
    progress("integrity", 0, 4)
    if report.dry_run:
        from .models import Reservation

        stale = Reservation.objects.filter(consumed_at__isnull=True, expires_at__lte=timezone.now()).count()
        if stale:
            report.add(Finding("reservations", "repaired", f"{stale} expired reservations would be deleted"))
    else:
        deleted = reservation_expire_stale()
        if deleted:
            report.add(Finding("reservations", "repaired", f"{deleted} expired reservations deleted"))
    progress("integrity", 1, 4)

    # A cycle order always has its cycle and a panic-sell hop its panic sell (check constraints, protected
    # foreign keys): neither can be orphaned, so there is nothing to look for.
    progress("integrity", 2, 4)

    orders = Order.objects.filter(exchange_id__in=exchange_ids)
    if cycle_id is not None:
        orders = orders.filter(cycle_id=cycle_id)
    orders_repair_totals(orders=orders, dry_run=report.dry_run, add=report.add)
    progress("integrity", 3, 4)

    for cycle, expected in _pnl_disagreements(strategies, cycle_id):
        report.add(Finding(f"cycle {cycle.pk}", "operator",
                           f"realized PnL {cycle.realized_pnl} but its orders give {expected}",
                           cycle.strategy.name))  # fmt: skip
    progress("integrity", 4, 4)


def _pnl_disagreements(strategies: list[Strategy], cycle_id: int | None):
    """Completed cycles (of the last day) whose realized PnL is not their start-asset flows."""
    since = timezone.now() - timedelta(days=1)
    cycles = Cycle.objects.filter(strategy__in=strategies, state=CycleState.COMPLETED, finished_at__gte=since)
    if cycle_id is not None:
        cycles = cycles.filter(pk=cycle_id)
    for cycle in cycles.select_related("strategy").prefetch_related("orders__market"):
        flow = D0
        for order in cycle.orders.all():
            market = order.market
            if market.quote == cycle.start_asset:
                flow += order.cost if order.side == "sell" else -order.cost
            if market.base == cycle.start_asset:
                flow += order.filled if order.side == "buy" else -order.filled
            if order.fee_asset == cycle.start_asset:
                flow -= order.fee
        if flow != cycle.realized_pnl:
            yield cycle, flow


# --- 3. orders (orders.recovery: every order of the accounts in scope) ----------------------
def _reconcile(
    report: RecoveryReport, strategies: list[Strategy], cycle_id: int | None, wait_s: float, venue_for, progress
) -> None:
    exchanges = {s.exchange_id: s.exchange for s in strategies}
    live = Order.objects.filter(exchange_id__in=exchanges)
    if cycle_id is not None:
        live = live.filter(cycle_id=cycle_id)
    counts = orders_recover(
        exchanges=list(exchanges.values()), live=live, dry_run=report.dry_run, wait_s=wait_s, venue_for=venue_for,
        add=report.add, progress=progress, label=lambda order: order.cycle.strategy.name if order.cycle_id else "",
    )  # fmt: skip
    report.orders_reconciled += counts.reconciled
    report.orders_adopted += counts.adopted


# --- 4. cycles -------------------------------------------------------------------------------
def interrupted_cycles(*, strategies: list[Strategy], cycle_id: int | None = None, stall_s: float = 0.0):
    """Open cycles with no live order that have not moved for `stall_s` seconds."""
    cutoff = timezone.now() - timedelta(seconds=stall_s)
    last_order = Order.objects.filter(cycle=OuterRef("pk")).order_by().values("cycle")
    cycles = (
        Cycle.objects.filter(strategy__in=strategies, state__in=OPEN_STATES)
        .annotate(
            live=Subquery(last_order.filter(live=True).annotate(n=Count("pk")).values("n")),
            last_order_at=Subquery(last_order.annotate(at=Max("updated_at")).values("at")),
        )
        .filter(Q(live__isnull=True) | Q(live=0), updated_at__lte=cutoff)
        .filter(Q(last_order_at__isnull=True) | Q(last_order_at__lte=cutoff))
        .select_related("strategy__exchange")
        .order_by("pk")
    )
    if cycle_id is not None:
        cycles = cycles.filter(pk=cycle_id)
    return list(cycles)


def _resume_or_unwind(
    report: RecoveryReport, strategies: list[Strategy], cycle_id: int | None, stall_s: float, venue_for, progress
) -> None:
    cycles = interrupted_cycles(strategies=strategies, cycle_id=cycle_id, stall_s=stall_s)
    loop = Loop("recovery: cycles")
    for done, cycle in enumerate(cycles, 1):
        progress("cycles", done - 1, len(cycles))
        name = cycle.strategy.name
        if report.dry_run:
            what = "its panic sell would be resumed" if cycle.state == CycleState.LIQUIDATING else (
                "would be resumed or unwound on the current books (see the rule)")  # fmt: skip
            report.add(Finding(f"cycle {cycle.pk}", "waiting", f"{cycle.state}, interrupted: {what}", name))
            continue
        venue = venue_for(cycle.strategy.exchange)

        def failed(message: str, ref=f"cycle {cycle.pk}", name=name) -> None:  # an operator decides; others go on
            report.add(Finding(ref, "operator", f"recovery failed: {message}", name))

        with loop.item(f"cycle {cycle.pk}", on_error=failed):
            for attempt in range(VENUE_TRIES):  # a venue hiccup is retried at once; a venue that stays down, later
                try:
                    report.add(_recover_one(cycle, venue))
                    break
                except VenueError as exc:
                    if attempt == VENUE_TRIES - 1:
                        report.add(Finding(f"cycle {cycle.pk}", "waiting", f"the venue is unavailable: {exc}", name))
                    else:
                        time.sleep(0.5)
        progress("cycles", done, len(cycles))


def _recover_one(cycle: Cycle, venue) -> Finding:
    name = cycle.strategy.name
    ref = f"cycle {cycle.pk}"
    if cycle.state == CycleState.LIQUIDATING:
        panic = cycle.panic_sells.filter(state=PanicSellState.ACTIVE).first()
        if panic is None:
            return Finding(ref, "operator", "liquidating with no active panic sell", name)
        outcome = _drive_panic(panic.pk, venue)
        return _outcome(cycle, "unwound", f"panic sell {panic.pk} resumed: {outcome}")
    decider = _Decider(venue)
    outcome = "moved"
    for _ in range(3):  # "moved": another process added an order meanwhile; decide again on the fresh read
        outcome = cycle_advance(cycle_id=cycle.pk, venue=venue, decide=decider)
        if outcome != "moved":
            break
    if outcome == "liquidating":
        panic = PanicSell.objects.filter(cycle=cycle, state=PanicSellState.ACTIVE).first()
        if panic is not None:
            outcome = f"liquidating; {_drive_panic(panic.pk, venue)}"
    if cycle.pk in decider.unwound:
        return _outcome(cycle, "unwound", f"{decider.unwound[cycle.pk]} ({outcome})")
    why = decider.resumed.get(cycle.pk, "resumed where it stopped")
    return _outcome(cycle, "resumed", f"{why} ({outcome})")


def _outcome(cycle: Cycle, action: str, reason: str) -> Finding:
    cycle.refresh_from_db()
    if cycle.state == CycleState.FAILED:
        return Finding(f"cycle {cycle.pk}", "operator", f"{reason}; ended FAILED: {cycle.error}", cycle.strategy.name)
    return Finding(f"cycle {cycle.pk}", action, f"{reason}; now {cycle.state}", cycle.strategy.name)


def _drive_panic(panic_id: int, venue, steps: int = 10) -> str:
    """Advance a panic sell hop by hop while its orders end at once (market orders)."""
    outcome = "done"
    for _ in range(steps):
        outcome = panic_sell_advance(panic_sell_id=panic_id, venue=venue)
        if outcome not in ("retrying",):
            break
        time.sleep(0.5)
    return outcome


class _Decider:
    """Resume or unwind, asked where the cycle would place its next leg (see the module docstring)."""

    def __init__(self, venue) -> None:
        self.venue = venue
        self.unwound: dict[int, str] = {}
        self.resumed: dict[int, str] = {}

    def __call__(self, cycle: Cycle, leg: CycleLeg, held_asset: str, held: Decimal) -> str | None:
        if leg.index == 0:
            age = (timezone.now() - cycle.created_at).total_seconds()
            if age > settings.CYCLE_RESUME_MAX_AGE_S:
                return self._unwind(cycle, f"recovery: not started {age:.0f}s after it was opened, its prices stale")
            self.resumed[cycle.pk] = f"recovery: started {age:.0f}s after it was opened"
            return None
        legs = list(cycle.legs.select_related("market").filter(index__gte=leg.index).order_by("index"))
        finish = _finish_value(self.venue, legs, held)
        unwind = _unwind_value(cycle, self.venue, held_asset, held)
        start = cycle.start_asset
        if finish is None:
            return self._unwind(cycle, f"recovery: legs {leg.index + 1}-3 cannot be walked on the current books")
        if unwind is not None and unwind > finish * (1 + TIE_BPS / 10_000):
            return self._unwind(cycle, f"recovery: liquidating gives {unwind:.8f} {start}, finishing {finish:.8f}")
        self.resumed[cycle.pk] = f"recovery: finishing gives {finish:.8f} {start}" + (
            f", liquidating {unwind:.8f}" if unwind is not None else ", no liquidation route"
        )
        return None

    def _unwind(self, cycle: Cycle, why: str) -> str:
        self.unwound[cycle.pk] = why
        return why


def _finish_value(venue, legs: list[CycleLeg], held: Decimal) -> Decimal | None:
    """What the remaining legs give back in the start asset on the current books, or None if they cannot."""
    for leg in legs:
        info = leg.market.info()
        book = venue.fetch_order_book(info.symbol, 20)
        conversion = convert(
            book.asks if leg.side == "buy" else book.bids, held, side=leg.side, amount_step=info.amount_step,
            min_amount=info.min_amount, min_notional=info.min_notional, fee=info.taker_fee, floor=floor_to_step,
            zero=D0,
        )  # fmt: skip
        if not conversion.ok:
            return None
        held = conversion.amount_out
    return held


def _unwind_value(cycle: Cycle, venue, asset: str, amount: Decimal) -> Decimal | None:
    """What the best liquidation route into the start asset gives now, or None without one."""
    strategy = cycle.strategy
    policy = route_policy(
        base_currencies=[cycle.start_asset], max_hops=strategy.panic_max_hops,
        preferred_intermediaries=strategy.panic_preferred_intermediaries,
        max_total_slippage_bps=strategy.panic_max_total_slippage_bps,
    )  # fmt: skip
    router = venue_router(strategy.exchange, venue)
    result = router.route(asset, float(amount), policy, volatility_bps=router.spread_bps(asset))
    if router.load_errors:
        raise VenueUnavailable(f"books unavailable: {'; '.join(router.load_errors.values())}")
    return Decimal(repr(result.route.proceeds)) if result.ok else None


# --- holds -------------------------------------------------------------------------------------
def _hold(report: RecoveryReport, strategies: list[Strategy]) -> None:
    """Hold each strategy in scope with what still waits or needs an operator; release the clean ones."""
    reasons: dict[str, list[str]] = {s.name: [] for s in strategies}
    for finding in report.findings:
        if finding.action in ("waiting", "operator") and finding.strategy in reasons:
            reasons[finding.strategy].append(f"{finding.ref}: {finding.reason}")
    for strategy in strategies:
        hold = "; ".join(reasons[strategy.name])[:1000]
        Strategy.objects.filter(pk=strategy.pk).update(recovery_hold=hold)
        if hold:
            report.held_strategies.append(strategy.name)


__all__ = ["Finding", "RecoveryBusy", "RecoveryReport", "interrupted_cycles", "recover_cycles"]
