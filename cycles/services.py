"""Writes for cycles: opened on a reserved slot (reservations.py), executed leg by leg, a failed one panic-sold
through the liquidation app (strategies.py writes strategies)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import metrics
from core.errors import Conflict, DomainError
from core.failpoints import failpoint
from core.statemachine import still_in_state, transition_locked
from exchanges.errors import VenueError
from exchanges.models import Market
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.types import OrderBook
from exchanges.venue import Venue
from liquidation.conversion import Conversion, convert, with_buy_buffer
from liquidation.models import PanicSellState
from liquidation.services import panic_sell_advance, panic_sell_create
from orders.errors import OrderRejected
from orders.models import Order, OrderPurpose, OrderRole
from orders.policy import monitoring_policy_of
from orders.services import order_place

from . import ledger
from .errors import ReservationUnusable
from .locks import cycles_for_update, reservations_for_update
from .models import OPEN_STATES, TERMINAL_STATES, Cycle, CycleLeg, CycleState

log = logging.getLogger(__name__)


def cycle_transition(*, cycle_id: int, to: str, **updates) -> tuple[Cycle, bool]:
    """Move a cycle to `to`, stamping when it started and when it finished."""
    now = timezone.now()
    if to == CycleState.EXECUTING:
        updates.setdefault("started_at", now)
    if to in TERMINAL_STATES:
        updates.setdefault("finished_at", now)
    cycle, changed = transition_locked(cycles_for_update(), pk=cycle_id, to=to, **updates)
    if changed and (to in TERMINAL_STATES or to == CycleState.FAILED):  # FAILED: an outcome, even if liquidated later
        transaction.on_commit(lambda: metrics.count(metrics.cycles_finished, state=to))
    return cycle, changed


@dataclass(frozen=True)
class PlannedLeg:
    market_id: int
    side: str
    expected_price: Decimal


def cycle_create(
    *, reservation_id: int, legs: list[PlannedLeg], start_amount: Decimal, expected_net_rate: Decimal
) -> Cycle:
    """Open a cycle on a reserved slot (consuming it) and hand it to the execution queue on commit."""
    cycle, _ = _cycle_insert(reservation_id=reservation_id, legs=legs, start_amount=start_amount,
                             expected_net_rate=expected_net_rate)  # fmt: skip
    return cycle


@dataclass(frozen=True)
class OpenedCycle:
    cycle: Cycle
    legs: list[CycleLeg]


def cycle_open(
    *, reservation_id: int, legs: list[PlannedLeg], start_amount: Decimal, expected_net_rate: Decimal,
    handover_s: float,
) -> OpenedCycle:  # fmt: skip
    """Open a cycle whose caller places leg 1 itself at once (`cycle_place_first_leg`): it starts EXECUTING, and
    the queue takes it up `handover_s` later anyway, so a caller that dies in between loses nothing."""
    cycle, created = _cycle_insert(reservation_id=reservation_id, legs=legs, start_amount=start_amount,
                                   expected_net_rate=expected_net_rate, handover_s=handover_s)  # fmt: skip
    return OpenedCycle(cycle, created)


def _cycle_insert(
    *, reservation_id: int, legs: list[PlannedLeg], start_amount: Decimal, expected_net_rate: Decimal,
    handover_s: float | None = None,
) -> tuple[Cycle, list[CycleLeg]]:  # fmt: skip
    """The cycle and its legs on a reserved slot, consumed; queued on commit (`handover_s` later when its
    opener places leg 1, and then it is EXECUTING from the start)."""
    if len(legs) != 3:
        raise DomainError(f"A triangular cycle has three legs, not {len(legs)}.")
    with transaction.atomic():
        reservation = reservations_for_update().select_related("strategy__exchange").get(pk=reservation_id)
        now = timezone.now()
        if reservation.consumed_at is not None:
            raise ReservationUnusable(f"Reservation {reservation_id} was already used by a cycle.")
        if reservation.expires_at <= now:
            raise ReservationUnusable(f"Reservation {reservation_id} expired at {reservation.expires_at:%H:%M:%S}.")
        strategy = reservation.strategy
        started = {"state": CycleState.EXECUTING, "started_at": now} if handover_s is not None else {}
        cycle = Cycle.objects.create(
            strategy=strategy, reservation=reservation, start_asset=strategy.start_asset, start_amount=start_amount,
            expected_net_rate=expected_net_rate, **started,
        )  # fmt: skip
        created = CycleLeg.objects.bulk_create(
            [
                CycleLeg(
                    cycle=cycle, index=i, market_id=leg.market_id, side=leg.side, expected_price=leg.expected_price
                )
                for i, leg in enumerate(legs)
            ]
        )
        reservation.consumed_at = now
        reservation.save(update_fields=["consumed_at"])
        cycle_execute_schedule(cycle_id=cycle.pk, countdown=handover_s or 0.0)
    return cycle, created


def cycle_execute_schedule(*, cycle_id: int, countdown: float = 0.0) -> None:
    from .tasks import execute

    transaction.on_commit(lambda: execute.apply_async((cycle_id,), countdown=countdown))


# --- execution -------------------------------------------------------------------------
def leg_intent(cycle_id: int, index: int) -> str:
    """The idempotency key of a leg's orders (each attempt of it is one order)."""
    return f"c{cycle_id}-l{index}"


def _size(venue: Venue, market: Market, side: str, held: Decimal, book: OrderBook | None = None) -> Conversion:
    """The order for spending `held` on this market now (from `book`, when the caller holds a fresh one):
    lot-floored, inside the minimums, fee-aware.

    A buy is sized from the current asks with a small buffer, so a price that
    moves a little between sizing and filling still fits in what we hold.
    """
    info = market.info()
    if side == "buy":
        book = book or venue.fetch_order_book(market.symbol, 20)
        return convert(
            book.asks, with_buy_buffer(held, settings.CYCLE_BUY_BUFFER_BPS), side="buy", amount_step=info.amount_step,
            min_amount=info.min_amount, min_notional=info.min_notional, fee=info.taker_fee, floor=floor_to_step,
            zero=Decimal(0),
        )  # fmt: skip
    amount = floor_to_step(held, info.amount_step)
    if amount <= 0 or amount < info.min_amount:
        return Conversion(False, Decimal(0), Decimal(0), amount, Decimal(0), "under the market's minimum amount")
    book = book or venue.fetch_order_book(market.symbol, 20)
    touch = book.bids[0][0] if book.bids else Decimal(0)
    if info.min_notional and amount * touch < info.min_notional:
        return Conversion(False, Decimal(0), Decimal(0), amount, amount * touch, "under the market's minimum notional")
    return Conversion(True, amount, Decimal(0), amount, amount * touch)


def cycle_advance(
    *, cycle_id: int, venue: Venue | None = None, decide: Callable | None = None, queue_next: bool = False
) -> str:
    """Take the cycle's next step; returns what it did. Safe to call any number of times.

    A leg that ends at once (a market order filled) is followed here by the next step, unless `queue_next`
    (the scanner, which must get back to scanning): then the worker takes it.

    Every step is committed before the venue is called: legs run in order,
    each sized from the actual fills of the one before; a leg that trades
    nothing ends the cycle (CANCELED on leg 1, since nothing was spent) or
    hands what it holds to a panic sell; a partly filled leg places its rest as
    the next attempt.

    `decide(cycle, leg, held_asset, held)` (recovery) is asked before a leg's
    first attempt is placed; a reason back unwinds the cycle there instead
    (CANCELED before leg 1, a panic sell of what it holds after).
    """
    cycle = Cycle.objects.select_related("strategy__exchange").get(pk=cycle_id)
    if cycle.state not in OPEN_STATES:
        return "done"
    if cycle.state == CycleState.LIQUIDATING:
        panic = cycle.panic_sells.filter(state=PanicSellState.ACTIVE).first()
        return panic_sell_advance(panic_sell_id=panic.pk, venue=venue) if panic else "done"
    if cycle.state == CycleState.PENDING:
        strategy = cycle.strategy
        cycle, _ = cycle_transition(cycle_id=cycle_id, to=CycleState.EXECUTING)
        cycle.strategy = strategy  # loaded above with its exchange: no second read
    venue = venue or get_venue(cycle.strategy.exchange)
    legs = list(cycle.legs.select_related("market").order_by("index"))
    by_intent: dict[str, list[Order]] = {}
    for order in Order.objects.filter(cycle_id=cycle_id).select_related("market").order_by("attempt"):
        by_intent.setdefault(order.intent, []).append(order)
    seen = sum(len(attempts) for attempts in by_intent.values())
    attempts = [
        [ledger.Attempt(o.spent, o.received, o.is_terminal, o.status, o.last_error)
         for o in by_intent.get(leg_intent(cycle_id, leg.index), [])]
        for leg in legs
    ]  # fmt: skip
    sizing: list[int] = []

    def size(leg: ledger.Leg, left: Decimal) -> ledger.Sized:
        sizing.append(leg.index)
        conversion = _size(venue, legs[leg.index].market, leg.side, left)
        return ledger.Sized(conversion.ok, conversion.base_amount, conversion.reason)

    try:
        step = ledger.next_step(
            start_asset=cycle.start_asset, start_amount=cycle.start_amount, legs=[_ledger_leg(leg) for leg in legs],
            attempts=attempts, max_attempts=settings.CYCLE_LEG_MAX_ATTEMPTS, size=size,
        )  # fmt: skip
    except VenueError as exc:
        if sizing[-1] == 0 and not attempts[0] and _stale(cycle):
            why = f"leg 1: no book to size it: {exc}"
            return _leg_failed(cycle, legs[0], cycle.start_asset, cycle.start_amount, {}, why, seen=seen)
        log.warning("cycle %s: leg %s not sized yet: %s", cycle_id, sizing[-1] + 1, exc)
        cycle_execute_schedule(cycle_id=cycle_id, countdown=1.0)  # a venue hiccup: try again shortly
        return "retrying"
    return _carry_out(cycle, legs, step, venue, decide=decide, seen=seen, queue_next=queue_next)


def cycle_place_first_leg(*, opened: OpenedCycle, market: Market, book: OrderBook, venue: Venue) -> str:
    """Leg 1 of a cycle its caller just opened, sized from the book the caller walked as the worker would size it
    (`_size`), placed at once; the legs after it are the worker's (the order-ended hook queues them). A leg 1 that
    no longer sizes is left to the worker, which decides again from a fresh book."""
    cycle, leg = opened.cycle, opened.legs[0]
    leg.market = market
    conversion = _size(venue, market, leg.side, cycle.start_amount, book=book)
    if not conversion.ok:
        cycle_execute_schedule(cycle_id=cycle.pk)
        return "left to the worker"
    return _place_leg(cycle, leg, leg_intent(cycle.pk, 0), 1, conversion.base_amount, venue, queue_next=True)


def _ledger_leg(leg: CycleLeg) -> ledger.Leg:
    market = leg.market
    return ledger.Leg(leg.index, leg.side, market.base, market.quote, market.min_notional)


def _carry_out(cycle: Cycle, legs: list[CycleLeg], step: ledger.Step, venue: Venue, *, decide, seen: int,
               queue_next: bool = False) -> str:  # fmt: skip
    """Do what the ledger decided: place a leg, fail it (cancel or liquidate), or complete the cycle."""
    A = ledger.Action
    if step.action == A.WAIT:
        return "waiting"
    if step.action == A.COMPLETE:
        with transaction.atomic():
            if _orders_moved(cycle.pk, seen):
                return "moved"
            _, changed = cycle_transition(
                cycle_id=cycle.pk, to=CycleState.COMPLETED, end_amount=step.held, realized_pnl=step.pnl,
                held_asset="", held_amount=Decimal(0), residuals=step.residuals,
            )  # fmt: skip
        if changed:  # a concurrent wake-up may have completed it first
            log.info("cycle %s completed: pnl %s %s", cycle.pk, step.pnl, cycle.start_asset)
        return "completed"
    leg = legs[step.leg.index]
    why = step.why
    if step.action == A.PLACE and step.attempt == 1 and decide is not None:
        why = decide(cycle, leg, step.held_asset, step.left)
    if step.action == A.PLACE and not why:
        return _place_leg(cycle, leg, leg_intent(cycle.pk, leg.index), step.attempt, step.amount, venue,
                          queue_next=queue_next)  # fmt: skip
    return _leg_failed(cycle, leg, step.held_asset, step.held, step.residuals, why, seen=seen)


def _orders_moved(cycle_id: int, seen: int) -> bool:
    """Lock the cycle, then: has an order been added since `seen` were read? (Call inside a transaction.)

    A placement share-locks the cycle row in the transaction that inserts its order (its guard), so
    once this lock is held no order can appear until the state change it protects is committed, and
    that placement then finds the cycle no longer EXECUTING. A decision made from a stale read of the
    orders is dropped here: the wake-up for the newer order decides again.
    """
    cycles_for_update().get(pk=cycle_id)
    return Order.objects.filter(cycle_id=cycle_id).count() != seen


def _stale(cycle: Cycle) -> bool:
    return (timezone.now() - cycle.created_at).total_seconds() > settings.CYCLE_RESUME_MAX_AGE_S


def _place_leg(cycle: Cycle, leg: CycleLeg, intent: str, attempt: int, amount: Decimal, venue: Venue, *,
               queue_next: bool = False) -> str:  # fmt: skip
    if leg.index > 0:
        failpoint("cycle.between_legs")
    try:
        order = order_place(
            exchange=cycle.strategy.exchange, market=leg.market, side=leg.side, type="market", amount=amount,
            purpose=OrderPurpose.CYCLE, role=OrderRole.LEG, intent=intent, attempt=attempt, cycle=cycle,
            monitoring=monitoring_policy_of(cycle.strategy), venue=venue,
            guard=still_in_state(Cycle, cycle.pk, CycleState.EXECUTING),
        )  # fmt: skip
    except Conflict as exc:
        log.info("cycle %s: leg %s not placed: %s", cycle.pk, leg.index + 1, exc)
        return "superseded"
    except OrderRejected as exc:
        CycleLeg.objects.filter(pk=leg.pk).update(order_id=exc.details["order_id"])
        if exc.details.get("retryable") and attempt < settings.CYCLE_LEG_MAX_ATTEMPTS and leg.index > 0:
            cycle_execute_schedule(cycle_id=cycle.pk, countdown=min(30.0, exc.details.get("retry_after") or 1.0))
            return "retrying"
        return cycle_advance(cycle_id=cycle.pk, venue=venue)  # the rejected attempt is terminal: decide again
    CycleLeg.objects.filter(pk=leg.pk).update(order=order)
    if order.is_terminal and queue_next:  # the order-ended hook has queued the next step already
        return "placed"
    if order.is_terminal:
        return cycle_advance(cycle_id=cycle.pk, venue=venue)
    return "placed"


def _leg_failed(cycle, leg, held_asset: str, held: Decimal, residuals: dict, why: str, *, seen: int) -> str:
    if leg.index == 0:
        with transaction.atomic():
            if _orders_moved(cycle.pk, seen):
                return "moved"
            cycle_transition(cycle_id=cycle.pk, to=CycleState.CANCELED, error=why, end_amount=Decimal(0),
                             realized_pnl=Decimal(0))  # fmt: skip
        return "canceled"
    strategy = cycle.strategy
    with transaction.atomic():
        if _orders_moved(cycle.pk, seen):
            return "moved"
        cycle, changed = cycle_transition(
            cycle_id=cycle.pk, to=CycleState.LIQUIDATING, error=why, held_asset=held_asset, held_amount=held,
            residuals=residuals,
        )  # fmt: skip
        if changed:
            panic_sell_create(
                exchange=strategy.exchange, asset=held_asset, amount=held, requested_by="system", reason=why,
                routing=strategy.panic_routing(), strategy=strategy, cycle=cycle,
            )  # fmt: skip
    if changed:
        log.warning("cycle %s liquidating %s %s: %s", cycle.pk, held, held_asset, why)
    return "liquidating"
