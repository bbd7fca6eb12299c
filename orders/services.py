"""Writes for orders: placement exactly once, venue answers, fills, monitoring, operator actions.

The venue is never called inside a transaction or under a row lock: the
order is committed first (PENDING_SUBMIT, deterministic client id), the venue
is called, and its answer is recorded in a new short transaction. An answer
that never came makes the order UNKNOWN; it is then resolved by looking it up
(client id, then recent trades, then balances), never by placing it again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Sum
from django.utils import timezone

from core.errors import Conflict, DomainError, constraint_name
from core.statemachine import transition_locked
from exchanges.errors import (
    Banned,
    CircuitOpen,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
)
from exchanges.models import Exchange, Market
from exchanges.parsing import redact
from exchanges.registry import get_venue
from exchanges.types import VenueOrder, VenueTrade, from_ms, to_ms
from exchanges.venue import Venue
from tradingsite.apicache import invalidate
from tradingsite.failpoints import failpoint
from tradingsite.isolation import Loop, clear_failures, record_failure
from tradingsite.writebehind import Update, buffer_updates

from .errors import AccountDisabled, OrderRejected, SellAlreadyWorking
from .locks import orders_for_update
from .models import LIVE_STATUSES, TERMINAL_STATUSES, Fill, Order, OrderPurpose, OrderRole, OrderStatus, OrderType
from .owners import order_ended
from .policy import MonitoringPolicy, client_order_id, monitoring_fields, monitoring_policy_of, rate_stretch
from .status_cache import status_cache_forget, status_cache_get, status_cache_put

log = logging.getLogger(__name__)
S = OrderStatus
ZERO = Decimal(0)

# Refusals where the request never reached the venue, or the venue said no: the order is REJECTED.
NOT_PLACED = (RateLimited, Banned, CircuitOpen, InsufficientFunds, InvalidOrder)
RETRYABLE = (RateLimited, Banned, CircuitOpen)
# Statuses a monitor tick looks at with the venue (PENDING_SUBMIT only once stale).
CHECKED = (S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.UNKNOWN, S.PENDING_SUBMIT)
# Orders an open-orders answer can settle before they are due (not submissions still in flight).
SETTLED_BY_BATCH = (S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL)


def order_transition(*, order_id: int, to: str, **updates) -> tuple[Order, bool]:
    """Move an order to `to`; stamps `closed_at` and stops monitoring when it becomes terminal."""
    if to in TERMINAL_STATUSES:
        updates.setdefault("closed_at", timezone.now())
        updates.setdefault("next_check_at", None)
    order, changed = transition_locked(orders_for_update(), pk=order_id, to=to, **updates)
    if changed:
        transaction.on_commit(lambda: invalidate("orders"))
        if order.is_terminal:
            order_ended(order)
    return order, changed


# --- placement -------------------------------------------------------------------
def order_place(
    *,
    exchange: Exchange,
    market: Market,
    side: str,
    type: str,
    amount: Decimal,
    price: Decimal | None = None,
    purpose: str,
    intent: str,
    role: str | None = None,
    attempt: int = 1,
    monitoring: MonitoringPolicy | None = None,
    venue: Venue | None = None,
    guard: Callable[[], None] | None = None,
    **owner,
) -> Order:
    """Place attempt `attempt` of `intent` on the venue, at most once, ever.

    Returns the order as the venue left it (OPEN, FILLED…), or UNKNOWN when
    the answer was lost (monitoring resolves it). Raises OrderRejected when
    the venue refused it or it could not be sent, and Conflict while another
    attempt of the intent is still live. Calling it again for an attempt that
    exists returns that order without calling the venue. Must not run inside
    a transaction: the order row is committed before the venue is called.
    `guard`, if given, runs in the transaction that creates the row and may
    refuse it (raise): what the order serves can lock its own row there and
    check it still wants the order.

    `purpose` names the owner kind (its hook runs when the order ends, see
    owners.py) and `owner` its row (`cycle=`, `position=`, `panic_sell=`,
    `copy_trade=`); `role` what the order is to it (entry, stop, leg, hop…;
    an operator's manual order needs none).
    `monitoring` is how closely it is watched (the account's policy when not
    given); it is kept on the order. The intent is the idempotency key only.
    """
    if role is None and purpose == OrderPurpose.MANUAL:
        role = OrderRole.MANUAL
    _validate(market=market, side=side, type=type, amount=amount, price=price, exchange=exchange, role=role)
    order, created = _order_create_pending(
        exchange=exchange, market=market, side=side, type=type, amount=Decimal(amount),
        price=None if price is None or type == OrderType.MARKET else Decimal(price), purpose=purpose, role=role,
        intent=intent, attempt=attempt, guard=guard, **monitoring_fields(monitoring or monitoring_policy_of(exchange)),
        **owner,
    )  # fmt: skip
    if not created:
        return order
    return _order_submit(order, venue or get_venue(exchange))


def _validate(*, market, side, type, amount, price, exchange, role) -> None:
    if role not in OrderRole.values:
        raise DomainError(f"Order role must be one of {', '.join(OrderRole.values)}, not {role!r}.")
    if market.exchange_id != exchange.pk:
        raise DomainError(f"{market.symbol} is a market of another account, not {exchange.name}.")
    if side not in ("buy", "sell"):
        raise DomainError(f"Side must be buy or sell, not {side!r}.")
    if type not in OrderType.values:
        raise DomainError(f"Order type must be one of {', '.join(OrderType.values)}, not {type!r}.")
    if Decimal(amount) <= 0:
        raise DomainError(f"The amount must be above zero (got {amount}).")
    if type != OrderType.MARKET and (price is None or Decimal(price) <= 0):
        raise DomainError(f"A {type} order needs a price above zero.")


def _order_create_pending(*, exchange, intent, attempt, guard=None, **fields) -> tuple[Order, bool]:
    now = timezone.now()
    try:
        # durable: refuses to run inside a caller's transaction, whose rollback could
        # erase the record of an order the venue has already received.
        with transaction.atomic(durable=True):
            if not Exchange.objects.filter(pk=exchange.pk, enabled=True).exists():
                raise AccountDisabled(f"The account {exchange.name} is disabled: it takes no new orders.")
            if guard is not None:
                guard()
            order = Order.objects.create(
                exchange=exchange, intent=intent, attempt=attempt,
                client_order_id=client_order_id(settings.ORDER_CLIENT_ID_PREFIX, intent, attempt),
                status=S.PENDING_SUBMIT, submitted_at=now,
                next_check_at=now + timedelta(seconds=settings.ORDER_SUBMIT_STALE_S), **fields,
            )  # fmt: skip
    except IntegrityError as exc:
        if constraint_name(exc) == "order_one_live_sell_per_position":
            raise SellAlreadyWorking("A sell is already working on this position; nothing was placed.") from None
        existing = Order.objects.filter(exchange=exchange, intent=intent, attempt=attempt).first()
        if existing is not None:
            return existing, False
        live = Order.objects.filter(exchange=exchange, intent=intent, status__in=LIVE_STATUSES).first()
        if live is not None:
            raise Conflict(
                f"{intent} already has a live order {live.client_order_id} ({live.status}); "
                f"attempt {attempt} may be placed only once it has ended.",
                order_id=live.pk,
            ) from None
        raise
    return order, True


def _order_submit(order: Order, venue: Venue) -> Order:
    failpoint("order.before_submit")
    try:
        answer = venue.create_order(
            symbol=order.market.symbol, side=order.side, type=order.type, amount=order.amount, price=order.price,
            client_order_id=order.client_order_id,
        )  # fmt: skip
        failpoint("order.after_submit")
    except NOT_PLACED as exc:
        order_transition(order_id=order.pk, to=S.REJECTED, last_error=redact(str(exc)))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, Banned):
            retry_after = max(0.0, (exc.until - datetime.now(UTC)).total_seconds())
        raise OrderRejected(
            f"{order.client_order_id} was not placed: {exc}",
            order_id=order.pk, retryable=isinstance(exc, RETRYABLE), retry_after=retry_after,
        ) from exc  # fmt: skip
    except Exception as exc:
        log.warning(
            "order %s: outcome unknown after %s: %s", order.client_order_id, type(exc).__name__, redact(str(exc))
        )
        policy = monitoring_policy_of(order)
        now = timezone.now()
        order, _ = order_transition(
            order_id=order.pk, to=S.UNKNOWN, last_error=redact(f"{type(exc).__name__}: {exc}"),
            next_check_at=now + timedelta(milliseconds=policy.initial_delay_ms),
        )  # fmt: skip
        orders_monitor_schedule(exchange_id=order.exchange_id, market_id=order.market_id, at=order.next_check_at)
        return order
    try:
        answer, trades = _with_trades(venue, order, answer, [], fresh=True)
    except VenueError as exc:
        log.warning("order %s: placed, its trades not fetched yet: %s", order.client_order_id, exc)
        trades = []  # the order stays live until they are: monitoring fetches them
    order = order_record_answer(order_id=order.pk, answer=answer, trades=trades)
    if not order.is_terminal:
        orders_monitor_schedule(exchange_id=order.exchange_id, market_id=order.market_id, at=order.next_check_at)
    return order


# --- recording what the venue says ------------------------------------------------------
def order_record_answer(
    *,
    order_id: int,
    answer: VenueOrder,
    trades: list[VenueTrade] | None = None,
    now: datetime | None = None,
    budget_left: float = 1.0,
) -> Order:
    """Record the venue's view of an order: new fills, derived totals, its status, the next check.

    Fills are keyed by the venue's trade id, so recording the same answer twice
    adds nothing. The status follows the venue, except that the order does not
    end while the venue reports more filled than the fills we hold (their
    trades are fetched on the next check).
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = orders_for_update().select_related("market", "exchange").get(pk=order_id)
        mine = [t for t in trades or () if t.order_id == answer.id or t.client_order_id == order.client_order_id]
        if mine:
            Fill.objects.bulk_create(
                [
                    Fill(
                        order=order, exchange_id=order.exchange_id, trade_id=t.id, price=t.price, amount=t.amount,
                        cost=t.cost, fee=t.fee, fee_asset=t.fee_asset, is_maker=t.is_maker,
                        executed_at=from_ms(t.ts_ms),
                    )
                    for t in mine
                ],
                ignore_conflicts=True,
            )  # fmt: skip
        changed_fields = order_totals_from_fills(order)
        filled = order.filled
        if not order.exchange_order_id and answer.id:
            order.exchange_order_id = answer.id
            changed_fields.append("exchange_order_id")
        target = _target_status(order, answer, filled)
        if target != order.status:
            if target in Order.ALLOWED_TRANSITIONS[order.status]:
                order.status = target
                changed_fields.append("status")
                transaction.on_commit(lambda: invalidate("orders"))
                if target in TERMINAL_STATUSES:
                    order.closed_at = now
                    changed_fields.append("closed_at")
                    order_ended(order)
            else:
                log.warning("order %s: venue says %s, kept %s", order.client_order_id, target, order.status)
        if order.lookup_misses:
            order.lookup_misses = 0
            changed_fields.append("lookup_misses")
        if order.is_terminal:
            order.next_check_at = None
        else:
            age_ms = 0.0 if changed_fields else (now - order.updated_at).total_seconds() * 1000
            delay = monitoring_policy_of(order).delay_ms(age_ms, budget_left=budget_left)
            order.next_check_at = now + timedelta(milliseconds=delay)
        if order.last_error and "status" in changed_fields:
            order.last_error = ""
            changed_fields.append("last_error")
        update_fields = ["next_check_at", *changed_fields]
        if changed_fields:
            update_fields.append("updated_at")  # age for the backoff counts from the last real change
        order.save(update_fields=update_fields)
    return order


def order_totals_from_fills(order: Order) -> list[str]:
    """Set the order's filled, cost, fee, average and fee asset from its fills (the truth); the fields changed.

    The caller holds the order row locked and saves those fields.
    """
    totals = order.fills.aggregate(filled=Sum("amount"), cost=Sum("cost"), fee=Sum("fee"))
    filled, cost, fee = totals["filled"] or ZERO, totals["cost"] or ZERO, totals["fee"] or ZERO
    if (filled, cost, fee) == (order.filled, order.cost, order.fee):
        return []
    order.filled, order.cost, order.fee = filled, cost, fee
    order.average = cost / filled if filled else None
    last = order.fills.order_by("-executed_at", "-id").values_list("fee_asset", flat=True).first()
    order.fee_asset = last or ""
    return ["filled", "cost", "fee", "average", "fee_asset"]


def _target_status(order: Order, answer: VenueOrder, filled: Decimal) -> str:
    status = answer.status
    if status in TERMINAL_STATUSES and answer.filled > filled:
        return S.PARTIALLY_FILLED if filled else order.status  # its trades are not all here yet
    if status == S.OPEN and filled > 0:
        return S.PARTIALLY_FILLED
    if status == S.OPEN and order.status == S.PENDING_CANCEL:
        return S.OPEN  # the cancel did not take: the order is open again
    return status


def _answer_differs(order: Order, answer: VenueOrder) -> bool:
    return (
        answer.filled != order.filled
        or not order.exchange_order_id
        or _target_status(order, answer, order.filled) != order.status
    )


def _with_trades(
    venue: Venue, order: Order, answer: VenueOrder, calls: list[str], *, fresh: bool
) -> tuple[VenueOrder, list[VenueTrade]]:
    """`answer` and the trades behind it, with as few calls as the venue allows.

    A venue answer that was not a fresh single-order fetch (a batch, the
    cache, a cancel) is refetched once when its filled amount moved, since
    a fresh fetch carries the trades on venues that give them; otherwise
    they come from the account's recent trades.
    """
    if answer.trades or answer.filled <= order.filled:
        return answer, list(answer.trades)
    if not fresh:
        answer = _fetch_one(venue, order, calls)
        if answer.trades or answer.filled <= order.filled:
            return answer, list(answer.trades)
    return answer, _recent_trades(venue, order, calls, venue_order_id=answer.id)


def _recent_trades(venue: Venue, order: Order, calls: list[str], *, venue_order_id: str | None) -> list[VenueTrade]:
    """The account's trades of the order's market since just before it was submitted, that are the order's."""
    since = to_ms(order.submitted_at) - 60_000 if order.submitted_at else None
    calls.append("fetch_my_trades")
    return [
        t
        for t in venue.fetch_my_trades(symbol=order.market.symbol, since_ms=since)
        if t.client_order_id == order.client_order_id or (venue_order_id and t.order_id == venue_order_id)
    ]


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
    orders = _promote_stale_submissions(orders, now)
    answers: dict[int, VenueOrder] = {}

    def worth_a_batch(n: int) -> bool:
        return n * venue.request_weight("fetch_order") > venue.request_weight("fetch_open_orders")

    # Counting the market's live orders is needed only when the due ones alone do not decide it.
    batched = worth_a_batch(len(orders)) or worth_a_batch(
        Order.objects.filter(exchange_id=exchange_id, market_id=market_id, status__in=CHECKED).count()
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
            answer, fresh = _fetch_one(venue, order, result.venue_calls), True
        if not _answer_differs(order, answer):
            unchanged.append(order)
            return
        answer, trades = _with_trades(venue, order, answer, result.venue_calls, fresh=fresh)
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
        exchange_id=exchange_id, market_id=market_id, status__in=CHECKED, next_check_at__isnull=False
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
    sql = f"""
        UPDATE orders_order SET next_check_at = %s
        WHERE id IN (
            SELECT id FROM orders_order
            WHERE exchange_id = %s AND market_id = %s AND status = ANY(%s) {due} AND NOT id = ANY(%s)
            ORDER BY id FOR UPDATE SKIP LOCKED
        )
        RETURNING id
    """  # noqa: S608 - the only interpolation is one of two fixed strings
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [lease, exchange_id, market_id, list(statuses), now, list(exclude)])
        return sorted(row[0] for row in cursor.fetchall())


def _load(ids: list[int]) -> list[Order]:
    return list(Order.objects.filter(pk__in=ids).select_related("market", "exchange").order_by("pk"))


def _promote_stale_submissions(orders: list[Order], now: datetime) -> list[Order]:
    """A claimed PENDING_SUBMIT order lost its placing worker mid-call: its outcome is unknown."""
    result = []
    for order in orders:
        if order.status == S.PENDING_SUBMIT:
            order, _ = order_transition(
                order_id=order.pk, to=S.UNKNOWN, last_error="The placing worker stopped before the venue answered."
            )
        result.append(order)
    return result


def _fetch_one(venue: Venue, order: Order, calls: list[str]) -> VenueOrder:
    """The order as the venue has it now (its answer is cached for the next readers)."""
    calls.append("fetch_order")
    answer = venue.fetch_order(
        symbol=order.market.symbol, order_id=order.exchange_order_id, client_order_id=order.client_order_id
    )
    status_cache_put(order.exchange_id, [answer], ttl_ms=monitoring_policy_of(order).cache_ttl_ms)
    return answer


def _reschedule_unchanged(orders: list[Order], now: datetime, budget: float) -> None:
    """Nothing changed: the next check (written now, it drives scheduling); check stamps go write-behind."""
    if not orders:
        return
    for order in orders:
        age_ms = (now - order.updated_at).total_seconds() * 1000
        delay = monitoring_policy_of(order).delay_ms(age_ms, budget_left=budget)
        order.next_check_at = now + timedelta(milliseconds=delay)
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
        answer = venue.fetch_order(symbol=symbol, client_order_id=order.client_order_id)
    except OrderNotFound:
        answer = None
    if answer is not None:
        answer, trades = _with_trades(venue, order, answer, calls, fresh=True)
        return order_record_answer(order_id=order.pk, answer=answer, trades=trades, now=now, budget_left=budget_left)
    trades = _recent_trades(venue, order, calls, venue_order_id=None)
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


# --- recovery --------------------------------------------------------------------------
def order_reconcile(*, order_id: int, venue: Venue | None = None, now: datetime | None = None) -> Order:
    """Bring one order to what the venue says now (crash recovery); terminal orders are left alone.

    A PENDING_SUBMIT row older than ORDER_SUBMIT_STALE_S lost its placing
    worker: it becomes UNKNOWN. UNKNOWN is resolved by lookups, never by
    placing again (the grace window and misses of order_resolve_unknown hold).
    A live order is fetched by venue id, else client id, and its answer and
    trades recorded. A PENDING_SUBMIT row still inside its window is returned
    as it is: its worker may be waiting for the venue right now.
    """
    now = now or timezone.now()
    order = Order.objects.select_related("market", "exchange").get(pk=order_id)
    if order.is_terminal:
        return order
    if order.status == S.PENDING_SUBMIT and (now - order.submitted_at).total_seconds() < settings.ORDER_SUBMIT_STALE_S:
        return order
    return _settle_with_venue(order, venue or get_venue(order.exchange), now)


def _settle_with_venue(order: Order, venue: Venue, now: datetime) -> Order:
    """Ask the venue about one live order now and record its answer (a lost submission: by lookups)."""
    if order.status == S.PENDING_SUBMIT:
        order = _promote_stale_submissions([order], now)[0]
    if order.status == S.UNKNOWN:
        return order_resolve_unknown(order=order, venue=venue, now=now)
    calls: list[str] = []
    answer = _fetch_one(venue, order, calls)
    answer, trades = _with_trades(venue, order, answer, calls, fresh=True)
    return order_record_answer(order_id=order.pk, answer=answer, trades=trades, now=now)


def orders_adopt_unknown(*, exchange: Exchange, venue: Venue | None = None) -> list[Order]:
    """Record the venue's open orders that we have no row for, flagged for an operator.

    Our orders are committed before the venue hears of them, so an open order
    we do not know was placed by someone else on the account (or our record of
    it was lost with a database restore). It is adopted as purpose `adopted`,
    monitored like the rest, and named in its last_error; nothing trades it.
    """
    venue = venue or get_venue(exchange)
    open_orders = venue.fetch_open_orders()
    ids = [o.client_order_id for o in open_orders if o.client_order_id]
    known = set(
        Order.objects.filter(exchange=exchange, client_order_id__in=ids).values_list("client_order_id", flat=True)
    )
    known_venue_ids = set(
        Order.objects.filter(exchange=exchange, exchange_order_id__in=[o.id for o in open_orders]).values_list(
            "exchange_order_id", flat=True
        )
    )
    markets = {m.symbol: m for m in Market.objects.filter(exchange=exchange)}
    adopted = []
    now = timezone.now()
    for found in open_orders:
        if found.client_order_id in known or found.id in known_venue_ids or found.symbol not in markets:
            continue
        client_id = (found.client_order_id or f"venue-{found.id}")[:36]
        order, created = Order.objects.get_or_create(
            exchange=exchange, client_order_id=client_id,
            defaults={
                "market": markets[found.symbol], "purpose": OrderPurpose.ADOPTED, "role": OrderRole.ADOPTED,
                "intent": f"adopted-{found.id}"[:48], **monitoring_fields(monitoring_policy_of(exchange)),
                "exchange_order_id": found.id, "side": found.side,
                "type": found.type if found.type in OrderType.values else OrderType.LIMIT, "price": found.price,
                "amount": found.amount, "status": S.OPEN, "submitted_at": from_ms(found.ts_ms) if found.ts_ms else now,
                "next_check_at": now,
                "last_error": "Adopted: open on the venue with no record here. An operator must decide what it is for.",
            },
        )  # fmt: skip
        if created:
            log.warning("adopted venue order %s (%s %s %s) on %s", found.id, found.side, found.amount, found.symbol,
                        exchange.name)  # fmt: skip
            adopted.append(order_record_answer(order_id=order.pk, answer=found, trades=list(found.trades), now=now))
    return adopted


def orders_monitor_schedule(*, exchange_id: int, market_id: int, at: datetime | None) -> None:
    """Ask for a monitor tick of one market at `at` (after the current transaction commits)."""
    if at is None:
        return
    from .tasks import monitor

    countdown = max(0.0, (at - timezone.now()).total_seconds())
    transaction.on_commit(lambda: monitor.apply_async((exchange_id, market_id), countdown=countdown))


def orders_sweep_overdue(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Re-dispatch ticks for orders whose check is overdue (their task was lost); returns markets dispatched."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDER_SWEEP_GRACE_S)
    sql = """
        UPDATE orders_order SET next_check_at = %s
        WHERE id IN (
            SELECT id FROM orders_order
            WHERE status = ANY(%s) AND next_check_at < %s
            ORDER BY id FOR UPDATE SKIP LOCKED LIMIT %s
        )
        RETURNING exchange_id, market_id
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, list(CHECKED), cutoff, limit])
            markets = sorted(set(cursor.fetchall()))
        for exchange_id, market_id in markets:
            orders_monitor_schedule(exchange_id=exchange_id, market_id=market_id, at=now)
    if markets:
        log.info("sweeper re-dispatched monitoring of %d markets", len(markets))
    return len(markets)


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
            answer = _fetch_one(venue, order, calls)  # it ended on its own: find out how
            fresh = True
        answer, trades = _with_trades(venue, order, answer, calls, fresh=fresh)
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
    return _settle_with_venue(order, venue or get_venue(order.exchange), timezone.now())
