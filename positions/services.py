"""Writes for positions: evaluate one check and account its exits; transitions under lock (opening: opening.py).

A position is long spot: its entry buys, its take-profits and its stop sell,
all through the shared order layer (`order_place`, roles entry, take_profit,
stop, close and reduce; intents `p<id>-entry`, `p<id>-tp<n>`, `p<id>-sl`… as
idempotency keys only). The monitor watches the price and places the
exit orders itself (market orders when a trigger is crossed), so the same
coins are never promised to a resting TP and a stop at once.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import Conflict, DomainError, IntegrityViolation
from core.failpoints import failpoint
from core.isolation import clear_failures
from core.statemachine import transition_locked
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.venue import Venue
from liquidation.services import panic_sell_start
from orders.errors import OrderRejected, SellAlreadyWorking
from orders.models import Order, OrderPurpose, OrderRole
from orders.services import order_place

from . import events
from .locks import positions_for_update, take_profits_for_update
from .models import Position, PositionEventKind, PositionPhase, TakeProfitLevel, TakeProfitStatus
from .outcomes import Outcome
from .outcomes import OutcomeKind as O
from .rules import Tiers, breakeven_price, tier, trailed_stop, watch_of

log = logging.getLogger(__name__)
K = PositionEventKind
P = PositionPhase
D0 = Decimal(0)


def tiers() -> Tiers:
    return Tiers(**settings.POSITION_TIERS)


def position_transition(*, position_id: int, to: str, **updates) -> tuple[Position, bool]:
    if to == PositionPhase.CLOSED:
        updates.setdefault("closed_at", timezone.now())
        updates["next_check_at"] = None
    return transition_locked(positions_for_update(), pk=position_id, to=to, **updates)


def take_profit_transition(*, level_id: int, to: str, **updates) -> tuple[TakeProfitLevel, bool]:
    return transition_locked(take_profits_for_update(), pk=level_id, to=to, **updates)


def position_order_ended(order: Order) -> None:
    """The orders hook (after commit): one of the position's orders ended, so the next tick takes it up at once."""
    Position.objects.filter(pk=order.position_id, next_check_at__isnull=False).update(next_check_at=timezone.now())


def _orders_by_intent(position: Position) -> dict[str, Order]:
    """The position's orders by intent, the latest attempt of each."""
    return {o.intent: o for o in Order.objects.filter(position=position).select_related("market").order_by("attempt")}


# --- one check ------------------------------------------------------------------------------
def position_check(*, position_id: int, price: Decimal | None = None, venue: Venue | None = None,
                   now: datetime | None = None) -> Outcome:  # fmt: skip
    """Evaluate one position at `price` (its bid, the price it can sell at): act, record, reschedule."""
    now = now or timezone.now()
    position = Position.objects.select_related("market", "exchange").get(pk=position_id)
    if position.phase == P.CLOSED:
        return Outcome(O.CLOSED)
    orders = _orders_by_intent(position)
    live = [o for o in orders.values() if not o.is_terminal]
    outcome = Outcome(O.WATCHING)
    if position.phase == P.BUILDING:
        outcome = _building(position, orders.get(f"p{position.pk}-entry"), now)
    elif position.market.resolved_at is not None:
        # Its market no longer trades: account what ended, sell nothing; the resolution pass closes it at the payout.
        outcome = _account_exits(position, orders, now) if not live else Outcome(O.WATCHING, "market resolved")
    elif not live:
        if price is None:
            venue = venue or get_venue(position.exchange)
            book = venue.fetch_order_book(position.market.symbol, 1)
            price = book.bids[0][0] if book.bids else None
        outcome = _exits(position, orders, price, venue, now)
    else:
        outcome = _account_exits(position, orders, now)
    position.refresh_from_db()
    if position.phase != P.CLOSED:
        reschedule(position, price, now)
    if position.errors_in_a_row:
        clear_failures(Position, position.pk)
    return outcome


def _building(position: Position, entry: Order | None, now: datetime) -> Outcome:
    if entry is None and (now - position.created_at).total_seconds() > settings.ORDER_SUBMIT_STALE_S:
        # Recorded, but the process died before the entry order was: it never reached the venue.
        position_transition(position_id=position.pk, to=P.CLOSED)
        events.record(position.pk, K.POSITION_CLOSED, {"reason": "the entry order was never placed"})
        return Outcome(O.CLOSED)
    if entry is None or not entry.is_terminal:
        return Outcome(O.ENTRY_WORKING)
    if entry.filled <= 0:
        position_transition(position_id=position.pk, to=P.CLOSED)
        events.record(position.pk, K.POSITION_CLOSED, {"reason": f"the entry traded nothing ({entry.status})"})
        return Outcome(O.CLOSED)
    held = entry.received
    held = floor_to_step(held, position.market.amount_step)
    if held <= 0 or held < position.market.min_amount:
        # E.g. one lot bought with the fee taken in the coin itself: nothing a market would take is left.
        reason = (f"dust: the entry bought {entry.filled} {position.market.base}, {held} after fees in the coin, "
                  f"under the market minimum of {position.market.min_amount}; nothing left to manage")  # fmt: skip
        with transaction.atomic():
            position_transition(position_id=position.pk, to=P.CLOSED, entry_price=entry.average, amount=entry.filled,
                                remaining=D0, cost_basis=entry.cost / entry.filled)  # fmt: skip
            events.record(position.pk, K.POSITION_CLOSED, {"reason": reason, "dust": str(max(held, D0))})
        return Outcome(O.CLOSED)
    position_transition(position_id=position.pk, to=P.MONITORING, entry_price=entry.average, remaining=held,
                        amount=held, cost_basis=entry.cost / held, last_activity_at=now)  # fmt: skip
    events.buffer(position.pk, K.PARTIAL_FILL if entry.filled < entry.amount else K.POSITION_UPDATE,
                  {"entry_price": str(entry.average), "held": str(held)})  # fmt: skip
    return Outcome(O.MONITORING)


def _exits(position: Position, orders: dict[str, Order], price: Decimal | None, venue, now: datetime) -> Outcome:
    """No exit order working: account the last ones, then see whether a trigger is crossed."""
    result = _account_exits(position, orders, now)
    position.refresh_from_db()
    if position.phase == P.CLOSED or price is None:
        return result
    market = position.market
    stop = trailed_stop(position.stop_loss, price, position.trailing_stop_bps, market.price_step)
    if stop != position.stop_loss:
        # Only over the stop this check read: an operator's move or a close since then wins.
        moved = Position.objects.filter(pk=position.pk, stop_loss=position.stop_loss, trailing_stop_bps__isnull=False)
        if moved.exclude(phase=P.CLOSED).update(stop_loss=stop):
            events.buffer(position.pk, K.ORDER_ADJUSTMENT, {"trailing_stop": str(stop), "price": str(price)})
            position.stop_loss = stop
        else:
            return Outcome(O.STOP_MOVED)
    stop = position.stop_loss
    if stop is not None and price <= stop:
        return sell(position, OrderRole.STOP, f"p{position.pk}-sl", position.remaining, venue, O.STOP, "stop", price,
                     still=lambda locked: locked.stop_loss == stop)  # fmt: skip
    level = position.take_profits.filter(status=TakeProfitStatus.PENDING, price__lte=price).order_by("index").first()
    if level is not None:
        amount = min(position.remaining, floor_to_step(position.amount * level.fraction, market.amount_step))
        if position.take_profits.filter(status=TakeProfitStatus.PENDING).count() == 1:
            amount = position.remaining  # the last level takes what is left

        def trigger(locked: Position) -> bool:
            _, changed = take_profit_transition(level_id=level.pk, to=TakeProfitStatus.TRIGGERED)
            return changed

        return sell(position, OrderRole.TAKE_PROFIT, f"p{position.pk}-tp{level.index}", amount, venue,
                     O.TAKE_PROFIT, f"TP{level.index}", price, still=trigger)  # fmt: skip
    events.buffer(position.pk, K.MONITORING_UPDATE, {"price": str(price)})
    return result


def sell_guard(position_id: int, amount: Decimal, still: Callable[[Position], bool] | None = None):
    """An order_place guard for a sell of a position: under the position's row lock (taken before the order row
    is inserted, so position before order, always), the position is open, holds `amount`, has no sell working,
    and `still(locked)` (what asked for the sell) still wants it. A refusal raises and inserts nothing; whatever
    `still` changed rolls back with it. The partial unique constraint order_one_live_sell_per_position backs it.
    """

    def guard() -> None:
        locked = positions_for_update().get(pk=position_id)
        if locked.phase in (P.CLOSED, P.BUILDING):
            raise Conflict(f"Position {position_id} is {locked.phase.lower()}: nothing to sell.")
        sells = Order.objects.filter(position_id=position_id, side="sell")
        if sells.filter(live=True).exists():
            raise SellAlreadyWorking("A sell is already working on this position; nothing was placed.")
        # What the orders say is left, whether or not their sales are accounted yet (a sell that just ended
        # is accounted after it returns): `remaining` alone would let a second exit sell those coins again.
        sold = sells.aggregate(sold=Sum("filled"))["sold"] or D0
        held = min(locked.remaining, locked.amount - sold)
        if amount > held:
            raise Conflict(f"Position {position_id} holds {held}, less than the {amount} to sell.")
        if still is not None and not still(locked):
            raise Conflict(f"Position {position_id} changed meanwhile; the sell is no longer wanted.")

    return guard


def sell(position: Position, role: str, intent: str, amount: Decimal, venue, kind: O, why: str, price: Decimal,
          still: Callable[[Position], bool] | None = None, raise_refusals: bool = False) -> Outcome:  # fmt: skip
    """Place a market sell of `amount` and account it; what happened, for the tick's outcome counts.

    With `raise_refusals` (an operator's close) a refusal (a sell already working, less held than asked, the
    position closed meanwhile) raises its Conflict instead, so the operator is told nothing was sold.
    """
    amount = floor_to_step(amount, position.market.amount_step)
    if amount <= 0 or amount < position.market.min_amount:
        return Outcome(O.UNDER_MINIMUM, f"{why}: {amount} is under the market minimum")
    attempt = Order.objects.filter(position=position, intent=intent).count() + 1
    try:
        order_place(exchange=position.exchange, market=position.market, side="sell", type="market", amount=amount,
                    purpose=OrderPurpose.POSITION, role=role, intent=intent, attempt=attempt, position=position,
                    venue=venue or get_venue(position.exchange),
                    guard=sell_guard(position.pk, amount, still))  # fmt: skip
    except SellAlreadyWorking:
        if raise_refusals:
            raise
        log.info("position %s: %s sell not placed: a sell is already working", position.pk, why)
        return Outcome(O.NOT_PLACED, f"{why}: not placed (a sell is already working)")
    except (OrderRejected, Conflict) as exc:
        if raise_refusals and isinstance(exc, Conflict):
            raise
        log.warning("position %s: %s sell not placed: %s", position.pk, why, exc)
        return Outcome(O.NOT_PLACED, f"{why}: not placed ({exc})")
    failpoint("position.after_exit")
    orders = _orders_by_intent(position)
    _account_exits(position, orders, timezone.now())
    return Outcome(kind, f"{why} at {price}")


def _account_exits(position: Position, orders: dict[str, Order], now: datetime) -> Outcome:
    """Apply ended exit orders: TP levels filled, the stop taken, breakeven moved, the position closed."""
    pk = position.pk
    outcome = Outcome(O.WATCHING)
    for level in position.take_profits.filter(status=TakeProfitStatus.TRIGGERED):
        order = orders.get(f"p{pk}-tp{level.index}")
        if order is None or not order.is_terminal:
            continue
        if order.filled <= 0:  # nothing sold: watch the level again
            take_profit_transition(level_id=level.pk, to=TakeProfitStatus.PENDING)
            continue
        with transaction.atomic():
            _, changed = take_profit_transition(level_id=level.pk, to=TakeProfitStatus.FILLED, order=order)
            if not changed:
                continue
            locked = positions_for_update().get(pk=pk)
            _book_sale(locked, order)
            locked.last_activity_at = now
            locked.save(update_fields=["remaining", "realized_pnl", "last_activity_at", "updated_at"])
            events.record(pk, K.TP_HIT, {"level": level.index, "sold": str(order.filled), "price": str(order.average)})
            if locked.phase == P.MONITORING:
                position_transition(position_id=pk, to=P.PROFIT_TAKING)
            if not locked.breakeven_moved and locked.remaining > 0:
                stop = breakeven_price(locked.entry_price, position.market.taker_fee, position.market.price_step)
                Position.objects.filter(pk=pk).update(stop_loss=stop, breakeven_moved=True, breakeven_at=now)
                events.record(pk, K.BREAKEVEN_MOVED, {"stop": str(stop), "size": str(locked.remaining)})
            outcome = Outcome(O.TP_FILLED, f"TP{level.index} filled")
    for role, kind in ((OrderRole.STOP, K.SL_HIT), (OrderRole.CLOSE, K.OPERATOR_ACTION)):
        exit_orders = [o for o in orders.values() if o.role == role]
        outcome = _account_exit(position, exit_orders, kind) or outcome
    outcome = _account_reduces(position, orders) or outcome
    position.refresh_from_db()
    if position.phase != P.CLOSED and position.phase != P.BUILDING and _done(position):
        with transaction.atomic():
            position_transition(position_id=pk, to=P.CLOSED)
            events.record(pk, K.POSITION_CLOSED, {"realized_pnl": str(position.realized_pnl),
                                                  "dust": str(position.remaining)})  # fmt: skip
        outcome = Outcome(O.CLOSED)
    return outcome


def _account_exit(position: Position, exit_orders: list[Order], kind: str) -> Outcome | None:
    """Apply a whole-position exit (the stop, or an operator's close) once its order has ended."""
    position.refresh_from_db()
    done = [o for o in exit_orders if o.is_terminal and o.filled > 0]
    if not done or position.phase == P.CLOSED:
        return None
    order = done[-1]
    with transaction.atomic():
        locked = positions_for_update().get(pk=position.pk)
        if locked.last_exit_order_id == order.pk:
            return None  # accounted already
        proceeds = _book_sale(locked, order)
        locked.last_exit_order_id = order.pk
        locked.save(update_fields=["remaining", "realized_pnl", "last_exit_order_id", "updated_at"])
        payload = {"sold": str(order.filled), "price": str(order.average)}
        if kind == K.OPERATOR_ACTION:
            payload["action"] = "closed now"
            if locked.close_to_stable:
                payload["to_stable"] = _proceeds_to_stable(locked, proceeds)
        events.record(position.pk, kind, payload)
    return Outcome(O.STOPPED if kind == K.SL_HIT else O.CLOSED_BY_OPERATOR)


def _book_sale(locked: Position, order: Order) -> Decimal:
    """Take a sale off the locked row: what it sold, and its proceeds (quote fee off) less their cost; the proceeds."""
    proceeds = order.received
    if order.filled > locked.remaining:
        raise IntegrityViolation(
            f"Position {locked.pk}: order {order.client_order_id} sold {order.filled}, more than the "
            f"{locked.remaining} it held. Nothing was accounted; reconcile with the venue.",
            position_id=locked.pk, order_id=order.pk,
        )  # fmt: skip
    locked.remaining -= order.filled
    locked.realized_pnl += proceeds - order.filled * locked.cost_basis
    return proceeds


def _account_reduces(position: Position, orders: dict[str, Order]) -> Outcome | None:
    """Apply ended reduce sells (role reduce) in the order they were placed, each once.

    `reduces_accounted` counts the reduces applied; a reduce still working holds back those after it.
    """
    reduces = sorted((o for o in orders.values() if o.role == OrderRole.REDUCE), key=lambda o: o.pk)
    outcome = None
    for n, order in enumerate(reduces, 1):
        if n <= position.reduces_accounted:
            continue
        if not order.is_terminal:
            break
        with transaction.atomic():
            locked = positions_for_update().get(pk=position.pk)
            if n != locked.reduces_accounted + 1:
                break  # accounted meanwhile
            _book_sale(locked, order)
            locked.reduces_accounted = n
            locked.save(update_fields=["remaining", "realized_pnl", "reduces_accounted", "updated_at"])
            if order.filled > 0:
                payload = {"action": "reduced", "sold": str(order.filled), "price": str(order.average)}
                events.record(position.pk, K.OPERATOR_ACTION, payload)
        position.reduces_accounted = n
        outcome = Outcome(O.REDUCED, f"reduced by {order.filled}")
    return outcome


def _proceeds_to_stable(position: Position, proceeds: Decimal) -> str:
    """Start the panic sell that routes a close's proceeds to a base currency; what happened, for the event."""
    quote, bases = position.market.quote, settings.PANIC_BASE_CURRENCIES
    if quote in bases:
        return f"proceeds already in {quote}"
    try:
        with transaction.atomic():  # a refusal leaves the close accounted
            panic = panic_sell_start(exchange=position.exchange, asset=quote, amount=proceeds, base_currencies=bases,
                                     requested_by=f"close of position {position.pk}")  # fmt: skip
    except DomainError as exc:
        log.error("position %s: proceeds not routed to %s: %s", position.pk, "/".join(bases), exc)
        return f"not routed: {exc}"
    return f"panic sell {panic.pk} of {proceeds} {quote}"


def _done(position: Position) -> bool:
    """Nothing left a market can take (dust), or every exit done with no stop left to watch."""
    if position.remaining < position.market.min_amount:
        return True
    open_levels = position.take_profits.exclude(status__in=[TakeProfitStatus.FILLED, TakeProfitStatus.CANCELED])
    return position.stop_loss is None and not open_levels.exists()


def reschedule(position: Position, price: Decimal | None, now: datetime) -> None:
    pending = position.take_profits.filter(status=TakeProfitStatus.PENDING).values_list("price", flat=True)
    since_be = (now - position.breakeven_at).total_seconds() if position.breakeven_at else None
    since_activity = (now - (position.last_activity_at or position.created_at)).total_seconds()
    name, seconds = tier(watch_of(position, price, pending, since_be, since_activity), tiers())
    Position.objects.filter(pk=position.pk).exclude(phase=P.CLOSED).update(
        next_check_at=now + timedelta(seconds=seconds), tier=name
    )
    if price is not None and position.cost_basis is not None:
        events.mark([(position.pk, price, position.cost_basis, position.remaining)], now)
