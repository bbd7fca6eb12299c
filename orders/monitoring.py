"""Monitoring live orders: one tick per venue and market with as few venue calls as it can, UNKNOWN orders
resolved by lookups, and the sweeper that re-dispatches ticks whose task was lost."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from core.claims import claim
from core.errors import redact
from core.isolation import Loop, clear_failures, record_failure
from core.resilience import REDIS_OUTAGES
from core.writebehind import Update, buffer_updates
from exchanges.errors import (
    OrderNotFound,
    VenueError,
)
from exchanges.registry import get_venue
from exchanges.types import VenueOrder, VenueTrade
from exchanges.venue import Venue

from .models import RESTING_STATUSES, Order, OrderType
from .policy import monitoring_policy_of, rate_stretch
from .pushed import deferred_accounts_down, poll_delay_ms
from .services import (
    CHECKED,
    SETTLED_BY_BATCH,
    ZERO,
    S,
    answer_differs,
    fetch_one,
    order_record_answer,
    order_transition,
    orders_monitor_schedule,
    recent_trades,
    with_trades,
)
from .status_cache import status_cache_get, status_cache_put

log = logging.getLogger(__name__)


# --- monitoring -------------------------------------------------------------------
@dataclass
class TickResult:
    claimed: int = 0
    settled_by_batch: int = 0
    changed: int = 0
    venue_calls: list[str] = field(default_factory=list)
    next_due: datetime | None = None
    failed: int = 0  # orders whose check raised: recorded on them and backed off


def orders_monitor_tick(
    *, exchange_id: int, market_id: int, now: datetime | None = None, venue: Venue | None = None
) -> TickResult:
    """Check the due orders of one venue and market with as few venue calls as possible.

    Claims the due orders (skip_locked, leased), and when the market has
    several live orders asks for its open orders once: that answer settles
    every order in it, due or not. Only orders missing from it (filled,
    cancelled) or whose filled amount moved are fetched one by one. A
    redelivered or duplicate tick finds nothing due and calls nothing.
    """
    now = now or timezone.now()
    result = TickResult()
    due = _claim(exchange_id=exchange_id, market_id=market_id, now=now, due_only=True)
    if not due:
        return result
    orders = _load(due)
    exchange = orders[0].exchange
    venue = venue or get_venue(exchange)
    budget = venue.budget_left()
    orders = promote_stale_submissions(orders, now)
    answers: dict[int, VenueOrder] = {}

    def worth_a_batch(n: int) -> bool:
        return n * venue.request_weight("fetch_order") > venue.request_weight("fetch_open_orders")

    # Counting the market's live orders is needed only when the due ones alone do not decide it.
    batched = worth_a_batch(len(orders)) or worth_a_batch(
        Order.objects.filter(exchange_id=exchange_id, market_id=market_id, live=True, status__in=CHECKED).count()
    )
    if batched:
        # The batch answer covers every live order of the market: claim the not-yet-due ones too.
        more = _claim(exchange_id=exchange_id, market_id=market_id, now=now, due_only=False, exclude=due)
        orders += _load(more)
        symbol = orders[0].market.symbol
        try:
            result.venue_calls.append("fetch_open_orders")
            open_orders = {o.client_order_id: o for o in venue.fetch_open_orders(symbol)}
        except VenueError as exc:
            _reschedule_after_error(orders, exc, now, budget)
            return _finish(result, exchange_id, market_id, len(orders))
        status_cache_put(exchange_id, list(open_orders.values()), ttl_ms=monitoring_policy_of(orders[0]).cache_ttl_ms)
        for order in orders:
            if order.client_order_id in open_orders:
                answers[order.pk] = open_orders[order.client_order_id]
                result.settled_by_batch += 1
    unchanged: list[Order] = []
    loop = Loop("orders monitor")
    for order in orders:
        answer = answers.get(order.pk)
        failed = partial(record_failure, Order, order.pk, now=now, due_field="next_check_at")
        with loop.item(f"order {order.client_order_id}", on_error=failed, previous=order.last_error):
            _check_one(order, answer, batched=batched, venue=venue, now=now, budget=budget, result=result,
                       unchanged=unchanged)  # fmt: skip
    result.failed = len(loop.failed)
    _reschedule_unchanged(unchanged, now, budget)
    return _finish(result, exchange_id, market_id, len(orders))


def _check_one(order: Order, answer, *, batched: bool, venue, now, budget, result, unchanged: list) -> None:
    """One order of a monitor tick: settle it from the batch answer, or look it up; record what changed."""
    try:
        if answer is None and order.status == S.UNKNOWN:
            order_resolve_unknown(order=order, venue=venue, now=now, budget_left=budget, calls=result.venue_calls)
            result.changed += 1
            return
        fresh = False
        if answer is None and not batched:
            # Missing from a batch answer means it has changed: only the venue can say how.
            answer = status_cache_get(order.exchange_id, order.client_order_id)
        if answer is None:
            answer, fresh = fetch_one(venue, order, result.venue_calls), True
        if not answer_differs(order, answer):
            unchanged.append(order)
            return
        answer, trades = with_trades(venue, order, answer, result.venue_calls, fresh=fresh)
        order_record_answer(order_id=order.pk, answer=answer, trades=trades, now=now, budget_left=budget)
        result.changed += 1
    except VenueError as exc:
        _reschedule_after_error([order], exc, now, budget)
        return
    if order.errors_in_a_row:
        clear_failures(Order, order.pk)


def _finish(result: TickResult, exchange_id: int, market_id: int, claimed: int) -> TickResult:
    result.claimed = claimed
    result.next_due = Order.objects.filter(
        exchange_id=exchange_id, market_id=market_id, live=True, status__in=CHECKED, next_check_at__isnull=False
    ).aggregate(at=Min("next_check_at"))["at"]
    if result.next_due is not None:
        orders_monitor_schedule(exchange_id=exchange_id, market_id=market_id, at=result.next_due)
    return result


def _claim(*, exchange_id: int, market_id: int, now: datetime, due_only: bool, exclude: list[int] = ()) -> list[int]:
    """Lease orders of one market, due ones (or the open ones not yet due): one statement, skipping rows held."""
    lease = now + timedelta(seconds=settings.ORDER_MONITOR_LEASE_S)
    due = "AND next_check_at <= %s" if due_only else "AND next_check_at > %s"
    statuses = CHECKED if due_only else SETTLED_BY_BATCH
    # PENDING_SUBMIT rows are due only once stale (their next_check_at is set that far ahead).
    rows = claim(
        "orders_order", lease_column="next_check_at", until=lease,
        where=f"exchange_id = %s AND market_id = %s AND status = ANY(%s) {due} AND NOT id = ANY(%s)",
        params=[exchange_id, market_id, list(statuses), now, list(exclude)],
    )  # fmt: skip
    return sorted(row[0] for row in rows)


def _load(ids: list[int]) -> list[Order]:
    return list(Order.objects.filter(pk__in=ids).select_related("market", "exchange").order_by("pk"))


def promote_stale_submissions(orders: list[Order], now: datetime) -> list[Order]:
    """A claimed PENDING_SUBMIT order lost its placing worker mid-call: its outcome is unknown."""
    result = []
    for order in orders:
        if order.status == S.PENDING_SUBMIT:
            order, _ = order_transition(
                order_id=order.pk, to=S.UNKNOWN, last_error="The placing worker stopped before the venue answered."
            )
        result.append(order)
    return result


def _reschedule_unchanged(orders: list[Order], now: datetime, budget: float) -> None:
    """Nothing changed: the next check (written now, it drives scheduling); check stamps go write-behind."""
    if not orders:
        return
    for order in orders:
        age_ms = (now - order.updated_at).total_seconds() * 1000
        delay = monitoring_policy_of(order).delay_ms(age_ms, budget_left=budget)
        order.next_check_at = now + timedelta(milliseconds=poll_delay_ms(order.exchange_id, delay, order.status))
    Order.objects.bulk_update(orders, ["next_check_at"], batch_size=1000)
    buffer_updates(Order, [Update(o.pk, set={"last_checked_at": now}, add={"check_count": 1}) for o in orders])


def _reschedule_after_error(orders: list[Order], exc: Exception, now: datetime, budget: float) -> None:
    retry_after = getattr(exc, "retry_after", None)
    for order in orders:
        delay_ms = monitoring_policy_of(order).max_delay_ms * rate_stretch(budget)
        if retry_after:
            delay_ms = max(delay_ms, retry_after * 1000)
        order.next_check_at = now + timedelta(milliseconds=delay_ms)
        order.last_error = redact(f"{type(exc).__name__}: {exc}")
    Order.objects.bulk_update(orders, ["next_check_at", "last_error"], batch_size=1000)


def order_resolve_unknown(
    *, order: Order, venue: Venue, now: datetime, budget_left: float = 1.0, calls: list[str] | None = None
) -> Order:
    """Find out whether an UNKNOWN order reached the venue: by client id, then in recent trades, then balances.

    Found → recorded as the venue has it. Not found → one more miss; after
    ORDER_UNKNOWN_MIN_MISSES misses and ORDER_UNKNOWN_GRACE_S since submission
    it is declared not placed (REJECTED), unless the balances show funds
    locked that no known order explains: then it stays UNKNOWN for an operator.
    """
    calls = calls if calls is not None else []
    symbol = order.market.symbol
    try:
        calls.append("fetch_order")
        answer = venue.fetch_order(
            symbol=symbol, order_id=order.exchange_order_id, client_order_id=order.client_order_id
        )
    except OrderNotFound:
        answer = None
    if answer is not None:
        answer, trades = with_trades(venue, order, answer, calls, fresh=True)
        return order_record_answer(order_id=order.pk, answer=answer, trades=trades, now=now, budget_left=budget_left)
    trades = recent_trades(venue, order, calls, venue_order_id=None)
    if trades:
        return order_record_answer(
            order_id=order.pk,
            answer=_answer_from_trades(order, trades),
            trades=trades,
            now=now,
            budget_left=budget_left,
        )
    misses = order.lookup_misses + 1
    waited = (now - order.submitted_at).total_seconds()
    policy = monitoring_policy_of(order)
    if misses >= settings.ORDER_UNKNOWN_MIN_MISSES and waited >= settings.ORDER_UNKNOWN_GRACE_S:
        unexplained = _unexplained_locked_funds(order, venue, calls)
        if unexplained is None:
            order, _ = order_transition(
                order_id=order.pk, to=S.REJECTED, lookup_misses=misses,
                last_error=f"Not placed: no order or trade has its client id ({misses} lookups, {waited:.0f}s).",
            )  # fmt: skip
            return order
        Order.objects.filter(pk=order.pk).update(
            lookup_misses=misses, last_error=unexplained,
            next_check_at=now + timedelta(milliseconds=policy.max_delay_ms),
        )  # fmt: skip
        return order
    delay = policy.delay_ms(waited * 1000, budget_left=budget_left)
    Order.objects.filter(pk=order.pk).update(lookup_misses=misses, next_check_at=now + timedelta(milliseconds=delay))
    return order


def _answer_from_trades(order: Order, trades: list[VenueTrade]) -> VenueOrder:
    filled = sum((t.amount for t in trades), ZERO)
    return VenueOrder(
        id=trades[0].order_id, client_order_id=order.client_order_id, symbol=order.market.symbol, side=order.side,
        type=order.type, price=order.price, amount=order.amount, filled=filled,
        cost=sum((t.cost for t in trades), ZERO), fee=sum((t.fee for t in trades), ZERO),
        fee_asset=trades[-1].fee_asset, status=S.FILLED if filled >= order.amount else S.PARTIALLY_FILLED,
        ts_ms=trades[0].ts_ms, trades=tuple(trades),
    )  # fmt: skip


def _unexplained_locked_funds(order: Order, venue: Venue, calls: list[str]) -> str | None:
    """A resting limit order locks funds; locked funds beyond our known live orders may be this one."""
    if order.type != OrderType.LIMIT:
        return None  # market and IOC orders never rest: the trades lookup already covers them
    market = order.market
    asset = market.quote if order.side == "buy" else market.base
    calls.append("fetch_balance")
    balance = venue.fetch_balance().get(asset)
    locked = balance.locked if balance else ZERO
    expected = ZERO
    others = Order.objects.filter(
        exchange_id=order.exchange_id, status__in=[S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL], type=OrderType.LIMIT
    ).select_related("market")
    for other in others:
        remaining = other.amount - other.filled
        if other.side == "buy" and other.market.quote == asset:
            expected += remaining * other.price
        elif other.side == "sell" and other.market.base == asset:
            expected += remaining
    if locked > expected * Decimal("1.000001") + Decimal("1e-12"):
        return (
            f"Not found by client id or in trades, but {locked} {asset} is locked on the venue where our known "
            f"orders explain {expected}: an order we cannot see may be resting. An operator must check."
        )
    return None


def orders_sweep_overdue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-dispatch ticks for orders whose check is overdue (their task was lost); returns markets dispatched."""
    now = now or timezone.now()
    try:
        for exchange_id in deferred_accounts_down():  # a stream that died without saying so
            orders_poll_now(exchange_id=exchange_id, now=now)
    except REDIS_OUTAGES:
        pass  # Redis is away: the streams' keys are unreadable, and the orders are checked on their own times
    cutoff = now - timedelta(seconds=settings.ORDER_SWEEP_GRACE_S)
    with transaction.atomic():
        rows = claim("orders_order", lease_column="next_check_at", until=now,
                     where="status = ANY(%s) AND next_check_at < %s", params=[list(CHECKED), cutoff], limit=limit,
                     returning="exchange_id, market_id")  # fmt: skip
        markets = sorted(set(rows))
        for exchange_id, market_id in markets:
            orders_monitor_schedule(exchange_id=exchange_id, market_id=market_id, at=now)
    if markets:
        log.info("sweeper re-dispatched monitoring of %d markets", len(markets))
    return len(markets)


def orders_poll_now(*, exchange_id: int, now: datetime | None = None) -> int:
    """The account's fills are no longer pushed: its live orders waiting on the safety net are checked now
    (their markets' ticks dispatched); returns the markets."""
    now = now or timezone.now()
    waiting = Order.objects.filter(exchange_id=exchange_id, status__in=(*RESTING_STATUSES, S.UNKNOWN),
                                   next_check_at__gt=now)  # fmt: skip
    with transaction.atomic():
        markets = sorted(set(waiting.values_list("market_id", flat=True)))
        waiting.update(next_check_at=now)
        for market_id in markets:
            orders_monitor_schedule(exchange_id=exchange_id, market_id=market_id, at=now)
    if markets:
        log.info("fills of account %s are polled again: %d markets checked now", exchange_id, len(markets))
    return len(markets)
