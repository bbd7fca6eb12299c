"""Operator actions on one order: cancel it on the venue, or have it re-checked now."""

import logging

from django.utils import timezone

from core.errors import Conflict, redact
from exchanges.errors import (
    OrderNotFound,
    VenueError,
)
from exchanges.registry import get_venue
from exchanges.venue import Venue

from .models import Order
from .recovery import settle_with_venue
from .services import (
    S,
    fetch_one,
    order_record_answer,
    order_transition,
    orders_monitor_schedule,
    with_trades,
)
from .status_cache import status_cache_forget

log = logging.getLogger(__name__)


# --- operator actions ---------------------------------------------------------------
def order_cancel(*, order_id: int, requested_by: str, venue: Venue | None = None) -> Order:
    """Cancel an open order on the venue. The result is what the venue did (it may have filled first)."""
    order = Order.objects.select_related("market", "exchange").get(pk=order_id)
    if order.is_terminal:
        raise Conflict(f"Order {order.client_order_id} is already {order.status}; there is nothing to cancel.")
    if order.status in (S.NEW, S.PENDING_SUBMIT, S.UNKNOWN):
        raise Conflict(
            f"Order {order.client_order_id} is {order.status}: its placement is not settled yet. Re-check it first."
        )
    order, _ = order_transition(order_id=order.pk, to=S.PENDING_CANCEL)
    log.info("cancel of %s requested by %s", order.client_order_id, requested_by)
    venue = venue or get_venue(order.exchange)
    calls: list[str] = []
    now = timezone.now()
    try:
        try:
            answer = venue.cancel_order(
                symbol=order.market.symbol, order_id=order.exchange_order_id, client_order_id=order.client_order_id
            )
            fresh = False
        except OrderNotFound:
            answer = fetch_one(venue, order, calls)  # it ended on its own: find out how
            fresh = True
        answer, trades = with_trades(venue, order, answer, calls, fresh=fresh)
    except VenueError as exc:
        # Refused or unanswered: monitoring keeps looking (PENDING_CANCEL is checked like an open order).
        Order.objects.filter(pk=order.pk).update(last_error=redact(f"cancel: {exc}"), next_check_at=now)
        orders_monitor_schedule(exchange_id=order.exchange_id, market_id=order.market_id, at=now)
        raise
    status_cache_forget(order.exchange_id, order.client_order_id)
    return order_record_answer(order_id=order.pk, answer=answer, trades=trades, now=now)


def order_recheck(*, order_id: int, requested_by: str, venue: Venue | None = None) -> Order:
    """Ask the venue about one order now (bypassing the status cache) and record the answer."""
    order = Order.objects.select_related("market", "exchange").get(pk=order_id)
    if order.is_terminal:
        raise Conflict(f"Order {order.client_order_id} is {order.status}; it is no longer checked.")
    log.info("re-check of %s requested by %s", order.client_order_id, requested_by)
    return settle_with_venue(order, venue or get_venue(order.exchange), timezone.now())
