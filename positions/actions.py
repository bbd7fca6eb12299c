"""Operator actions on positions: reduce, close now (to a stablecoin too), close all, move the stop, add a
take-profit, stop and resume entries. Each is recorded as an event with who asked."""

import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.apicache import invalidate
from core.errors import Conflict
from exchanges.errors import VenueError
from exchanges.models import Exchange
from exchanges.registry import get_venue
from exchanges.rules import floor_to_step
from exchanges.venue import Venue
from orders.errors import OrderRejected, SellAlreadyWorking
from orders.models import Order, OrderPurpose, OrderRole
from orders.services import order_place

from . import events
from .locks import positions_for_update
from .models import Position, TakeProfitLevel, TakeProfitStatus
from .outcomes import Outcome
from .outcomes import OutcomeKind as O
from .rules import ladder_over_whole
from .services import (
    D0,
    K,
    P,
    position_check,
    sell,
    sell_guard,
    take_profit_transition,
)

log = logging.getLogger(__name__)


def position_reduce(
    *, position_id: int, amount: Decimal, requested_by: str, venue: Venue | None = None, copy_trade=None,
    tag: str = "",
) -> Order:  # fmt: skip
    """Sell `amount` of what the position holds at market now (all of it at most); the ladder and stop stay.

    With a `tag` the sell is placed at most once, ever (intent p<id>-reduce-<tag>): asking again returns
    the order placed the first time. Reduces are accounted once each, in order, by the monitor.
    """
    position = open_position(position_id)
    if tag:
        intent = f"p{position.pk}-reduce-{tag}"
        placed = Order.objects.filter(position=position, intent=intent).first()
        if placed is not None:
            return placed
    else:
        count = Order.objects.filter(position=position, role=OrderRole.REDUCE).count()
        intent = f"p{position.pk}-reduce-{count + 1}"
    if position.phase == P.BUILDING:
        raise Conflict(f"Position {position_id} is still buying its entry.")
    if Order.objects.filter(position=position, side="sell", live=True).exists():
        raise SellAlreadyWorking("A sell is already working on this position; wait for it, then reduce.")
    market = position.market
    amount = floor_to_step(min(Decimal(amount), position.remaining), market.amount_step)
    if amount <= 0 or amount < market.min_amount:
        raise ValidationError({"amount": f"{amount} is under the market minimum of {market.min_amount}"})

    def record(locked: Position) -> bool:
        events.record(position.pk, K.OPERATOR_ACTION, {"action": "reduce", "amount": str(amount),
                                                       "requested_by": requested_by})  # fmt: skip
        return True

    order = order_place(exchange=position.exchange, market=market, side="sell", type="market", amount=amount,
                        purpose=OrderPurpose.POSITION, role=OrderRole.REDUCE, intent=intent, position=position,
                        copy_trade=copy_trade,
                        venue=venue or get_venue(position.exchange),
                        guard=sell_guard(position.pk, amount, record))  # fmt: skip
    position_check(position_id=position.pk, venue=venue)
    return order


# --- operator actions -------------------------------------------------------------------------
def open_position(position_id: int) -> Position:
    position = Position.objects.select_related("market", "exchange").get(pk=position_id)
    if position.phase == P.CLOSED:
        raise Conflict(f"Position {position_id} is closed.")
    return position


def position_close_now(
    *, position_id: int, requested_by: str, venue: Venue | None = None, to_stable: bool = False
) -> Position:
    """Sell what the position holds at market now; its pending take-profits are canceled.

    With `to_stable`, once the sale is accounted its proceeds are routed on to a
    base currency (PANIC_BASE_CURRENCIES) by a panic sell, unless the market's
    quote is one already: a BTC-quoted position ends in USDT, not in BTC.
    """
    position = open_position(position_id)
    if position.phase == P.BUILDING:
        raise Conflict(f"Position {position_id} is still buying its entry; cancel the entry order first.")
    if Order.objects.filter(position=position, side="sell", live=True).exists():
        raise SellAlreadyWorking("A sell is already working on this position; wait for it, then close.")

    def stand_down(locked: Position) -> bool:
        """In the transaction that records the close's order: the ladder and stop stand down (or none of it)."""
        for level in locked.take_profits.filter(status=TakeProfitStatus.PENDING):
            take_profit_transition(level_id=level.pk, to=TakeProfitStatus.CANCELED)
        Position.objects.filter(pk=locked.pk).update(stop_loss=None, trailing_stop_bps=None,
                                                     close_to_stable=to_stable)  # fmt: skip
        events.record(locked.pk, K.OPERATOR_ACTION, {"action": "close now", "requested_by": requested_by,
                                                     "to_stable": to_stable})  # fmt: skip
        return True

    venue = venue or get_venue(position.exchange)
    bids = venue.fetch_order_book(position.market.symbol, 1).bids
    outcome = sell(position, OrderRole.CLOSE, f"p{position.pk}-close", position.remaining, venue, O.CLOSE, "close",
                    bids[0][0] if bids else D0, still=stand_down, raise_refusals=True)  # fmt: skip
    position_check(position_id=position.pk, venue=venue)
    position.refresh_from_db()
    if position.phase != P.CLOSED:
        log.warning("position %s: close requested by %s: %s", position.pk, requested_by, outcome)
    return position


def positions_close_all(*, exchange: Exchange | None = None, requested_by: str, venue_for=None) -> dict:
    """Close every open position (of one account, or of all); what happened to each: its phase after the close
    was sent (kind CLOSE), or why nothing was sold (kind NOT_PLACED)."""
    venue_for = venue_for or get_venue
    positions = Position.objects.exclude(phase=P.CLOSED).select_related("exchange")
    if exchange is not None:
        positions = positions.filter(exchange=exchange)
    report: dict[int, Outcome] = {}
    for position in positions:
        try:
            closed = position_close_now(position_id=position.pk, requested_by=requested_by,
                                        venue=venue_for(position.exchange))  # fmt: skip
            report[position.pk] = Outcome(O.CLOSE, closed.phase)
        except (Conflict, VenueError, OrderRejected) as exc:
            report[position.pk] = Outcome(O.NOT_PLACED, f"not closed: {exc}")
    return report


def position_move_stop(*, position_id: int, stop_loss: Decimal, requested_by: str) -> Position:
    position = open_position(position_id)
    stop_loss = Decimal(stop_loss)
    if stop_loss <= 0:
        raise ValidationError({"stop_loss": "must be above zero"})
    if floor_to_step(stop_loss, position.market.price_step) != stop_loss:
        raise ValidationError({"stop_loss": f"must be on the market's tick of {position.market.price_step}"})
    with transaction.atomic():
        before = positions_for_update().get(pk=position.pk).stop_loss
        Position.objects.filter(pk=position.pk).update(stop_loss=stop_loss, next_check_at=timezone.now())
        events.record(position.pk, K.OPERATOR_ACTION, {"action": "move stop", "from": str(before) if before else None,
                                                       "to": str(stop_loss), "requested_by": requested_by})  # fmt: skip
    position.refresh_from_db()
    return position


def position_add_take_profit(
    *, position_id: int, price: Decimal, fraction: Decimal, requested_by: str
) -> TakeProfitLevel:
    position = open_position(position_id)
    price, fraction = Decimal(price), Decimal(fraction)
    errors = {}
    if not price.is_finite() or price <= 0:
        errors["price"] = "must be a number above zero"
    elif position.entry_price and price <= position.entry_price:
        errors["price"] = f"{price} is not above the entry ({position.entry_price}); on a long it would lose"
    if not fraction.is_finite() or not 0 < fraction <= 1:
        errors["fraction"] = "must be above 0 and at most 1"
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = positions_for_update().get(pk=position.pk)  # two adds at once sum their fractions one after other
        if locked.phase == P.CLOSED:
            raise Conflict(f"Position {position_id} is closed.")
        committed = position.take_profits.exclude(status=TakeProfitStatus.CANCELED).values_list("fraction", flat=True)
        if (total := ladder_over_whole([*committed, fraction])) is not None:
            raise ValidationError({"fraction": f"the ladder would sell {total:%} of the position, over 100%"})
        index = (position.take_profits.order_by("-index").values_list("index", flat=True).first() or 0) + 1
        level = TakeProfitLevel.objects.create(position=position, index=index, price=price, fraction=fraction)
        Position.objects.filter(pk=position.pk).update(next_check_at=timezone.now())
        events.record(position.pk, K.OPERATOR_ACTION, {"action": "add take-profit", "level": index,
                                                       "price": str(price), "fraction": str(fraction),
                                                       "requested_by": requested_by})  # fmt: skip
    return level


def entries_halt(*, exchange: Exchange, halted: bool, requested_by: str) -> Exchange:
    """The kill switch: stop (or resume) new position entries on an account; open positions are still managed."""
    Exchange.objects.filter(pk=exchange.pk).update(entries_halted_by=requested_by if halted else "")
    log.warning("new entries on %s %s by %s", exchange.name, "stopped" if halted else "resumed", requested_by)
    invalidate("account")
    exchange.refresh_from_db()
    return exchange
