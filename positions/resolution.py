"""Positions in prediction markets that resolve: each closed at its payout, redeemed where the account can.

A market resolves on its venue (Polymarket: GET /markets/{condition_id} says `closed` and names the `winner`; a
paper account: an operator declares it with `manage.py resolve_market`). The beat pass asks the venue of every
outcome market an open position holds. Once the venue says resolved:

1. the resolution is recorded on the market (`resolved_at`, `payout`, `resolved_outcome`); from then on the
   monitor stops trading the position and the paper venue refuses orders in it;
2. our orders still working in it are canceled (the venue cancels them too) and an entry that ended is accounted,
   so what each position holds is final; until then the market waits for the next pass;
3. the account redeems its tokens (paid at the payout) where its venue can; where it cannot (Polymarket: an
   on-chain call) the event says so and the tokens stay redeemable;
4. each position closes at the payout: its remaining tokens booked as sold at `payout`, with a market_resolved
   event (outcome, payout, held, proceeds, redemption) and a position_closed one; the market is then inactive.

Redeeming before closing keeps a crash harmless: a second pass redeems nothing more (the venue pays what is held,
0 the second time) and closes what is still open.
"""

import logging
from collections import Counter
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict
from exchanges.errors import NotSupported, VenueError
from exchanges.models import Market
from exchanges.registry import get_venue
from exchanges.rules import fmt
from exchanges.venue import Venue
from orders.actions import order_cancel
from orders.models import Order, OrderStatus

from . import events
from .locks import positions_for_update
from .models import Position, PositionEventKind, PositionPhase, TakeProfitStatus
from .services import position_check, position_transition, take_profit_transition

log = logging.getLogger(__name__)
K = PositionEventKind
P = PositionPhase
UNSETTLED = (OrderStatus.NEW, OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)  # recovery settles these first


def positions_settle_resolved(*, venue_for=None) -> dict[str, int]:
    """One pass over the outcome markets open positions hold: how many markets were still open, waiting on their
    orders, settled, or unanswered."""
    held = Position.objects.exclude(phase=P.CLOSED).values("market_id")
    markets = Market.objects.filter(pk__in=held).exclude(external_id="").select_related("exchange")
    counts: Counter = Counter()
    for market in markets:
        try:
            counts[market_settle(market=market, venue=(venue_for or get_venue)(market.exchange))] += 1
        except VenueError as exc:
            log.warning("resolution of %s not read: %s", market, exc)
            counts["unanswered"] += 1
    return dict(counts)


def market_settle(*, market: Market, venue: Venue) -> str:
    """Settle one market's open positions if it has resolved: "open", "waiting" (orders still working) or
    "settled"."""
    if market.resolved_at is None or market.payout is None:
        resolution = venue.fetch_resolution(market.symbol)
        if resolution is None:
            return "open"
        Market.objects.filter(pk=market.pk, resolved_at__isnull=True).update(
            resolved_at=timezone.now(), payout=resolution.payout, resolved_outcome=resolution.outcome[:100]
        )
        market.refresh_from_db()
        log.info("%s resolved: %s, a token pays %s (%s)", market, market.resolved_outcome, market.payout,
                 resolution.source)  # fmt: skip
    open_positions = list(Position.objects.filter(market=market).exclude(phase=P.CLOSED).values_list("pk", flat=True))
    if not all(_orders_ended(pk, venue) for pk in open_positions):
        return "waiting"
    try:
        paid = venue.redeem(market.symbol)
        redeemed = {"redeemed": True, "paid": fmt(paid)}
    except NotSupported as exc:
        redeemed = {"redeemed": False, "why": str(exc)}
    for pk in open_positions:
        position_settle(position_id=pk, market=market, redemption=redeemed)
    if not Position.objects.filter(market=market).exclude(phase=P.CLOSED).exists():
        Market.objects.filter(pk=market.pk).update(active=False)
        return "settled"
    return "waiting"


def _orders_ended(position_id: int, venue: Venue) -> bool:
    """Cancel what still works on the position; True once nothing does (an ended entry accounted)."""
    for order in Order.objects.filter(position_id=position_id, live=True).exclude(status__in=UNSETTLED):
        try:
            order_cancel(order_id=order.pk, requested_by="market resolution", venue=venue)
        except (Conflict, VenueError) as exc:
            log.info("position %s: order %s not canceled yet: %s", position_id, order.client_order_id, exc)
    if Order.objects.filter(position_id=position_id, live=True).exists():
        return False
    position_check(position_id=position_id, venue=venue)  # account what ended: an entry's holding, exits' sales
    return not Position.objects.filter(pk=position_id, phase=P.BUILDING).exists()


def position_settle(*, position_id: int, market: Market, redemption: dict) -> bool:
    """Close one position at its market's payout; False if it was closed already (or is not settled yet)."""
    with transaction.atomic():
        locked = positions_for_update().get(pk=position_id)
        if locked.phase in (P.CLOSED, P.BUILDING) or Order.objects.filter(position_id=position_id, live=True).exists():
            return False
        held = locked.remaining
        proceeds = held * market.payout
        pnl = proceeds - held * (locked.cost_basis or Decimal(0))
        realized = locked.realized_pnl + pnl
        for level in locked.take_profits.filter(Q(status=TakeProfitStatus.PENDING)):
            take_profit_transition(level_id=level.pk, to=TakeProfitStatus.CANCELED)
        position_transition(position_id=position_id, to=P.CLOSED, remaining=Decimal(0), realized_pnl=realized,
                            mark_price=market.payout, unrealized_pnl=Decimal(0))  # fmt: skip
        events.record(position_id, K.MARKET_RESOLVED, {
            "outcome": market.resolved_outcome, "payout": fmt(market.payout), "held": fmt(held),
            "proceeds": fmt(proceeds), "pnl": fmt(pnl), **redemption,
        })  # fmt: skip
        events.record(position_id, K.POSITION_CLOSED, {"reason": f"market resolved ({market.resolved_outcome})",
                                                       "realized_pnl": fmt(realized)})  # fmt: skip
    log.info("position %s closed at the payout %s of %s: %s held, pnl %s", position_id, market.payout, market,
             held, pnl)  # fmt: skip
    return True
