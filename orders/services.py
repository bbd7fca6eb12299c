"""Writes for orders: placement exactly once, the venue's answers and fills recorded (monitoring.py watches them,
actions.py is the operator's, recovery.py reconciles after a crash).

The venue is never called inside a transaction or under a row lock: the
order is committed first (PENDING_SUBMIT, deterministic client id), the venue
is called, and its answer is recorded in a new short transaction. An answer
that never came makes the order UNKNOWN; it is then resolved by looking it up
(client id, then recent trades, then balances), never by placing it again.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from core import metrics
from core.apicache import invalidate
from core.clock import from_ms, to_ms
from core.errors import Conflict, DomainError, constraint_name, redact
from core.failpoints import failpoint
from core.statemachine import transition_locked
from exchanges.errors import (
    Banned,
    CircuitOpen,
    InsufficientFunds,
    InvalidOrder,
    RateLimited,
    VenueError,
)
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.types import VenueOrder, VenueTrade
from exchanges.venue import Venue

from .errors import AccountDisabled, OrderRejected, SellAlreadyWorking
from .locks import orders_for_update
from .models import RESTING_STATUSES, TERMINAL_STATUSES, Fill, Order, OrderPurpose, OrderRole, OrderStatus, OrderType
from .owners import order_ended
from .policy import MonitoringPolicy, client_order_id, monitoring_fields, monitoring_policy_of
from .pushed import poll_delay_ms
from .status_cache import status_cache_put

log = logging.getLogger(__name__)
S = OrderStatus
ZERO = Decimal(0)

# Refusals where the request never reached the venue, or the venue said no: the order is REJECTED.
NOT_PLACED = (RateLimited, Banned, CircuitOpen, InsufficientFunds, InvalidOrder)
RETRYABLE = (RateLimited, Banned, CircuitOpen)
# Statuses a monitor tick looks at with the venue (PENDING_SUBMIT only once stale).
CHECKED = (S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.UNKNOWN, S.PENDING_SUBMIT)
# Orders an open-orders answer can settle before they are due (not submissions still in flight).
SETTLED_BY_BATCH = RESTING_STATUSES


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
    venue = venue or get_venue(exchange)
    price = None if price is None or type == OrderType.MARKET else Decimal(price)
    refused = prepared = None
    try:  # a venue without client order ids signs it now: its id and signature go in with the row
        prepared = venue.prepare_order(
            symbol=market.symbol, side=side, type=type, amount=Decimal(amount), price=price,
            client_order_id=client_order_id(settings.ORDER_CLIENT_ID_PREFIX, intent, attempt),
        )  # fmt: skip
    except NOT_PLACED as exc:
        refused = exc
    order, created = _order_create_pending(
        exchange=exchange, market=market, side=side, type=type, amount=Decimal(amount), price=price, purpose=purpose,
        role=role, intent=intent, attempt=attempt, guard=guard,
        **monitoring_fields(monitoring or monitoring_policy_of(exchange)),
        **({"signed_order": prepared, "exchange_order_id": prepared["id"]} if prepared else {}), **owner,
    )  # fmt: skip
    if not created:
        return order
    if refused is not None:
        _not_placed(order, refused)
    return _order_submit(order, venue)


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
        live = Order.objects.filter(exchange=exchange, intent=intent, live=True).first()
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
            client_order_id=order.client_order_id, **({"prepared": order.signed_order} if order.signed_order else {}),
        )  # fmt: skip
        failpoint("order.after_submit")
    except NOT_PLACED as exc:
        _not_placed(order, exc)
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
        answer, trades = with_trades(venue, order, answer, [], fresh=True)
    except VenueError as exc:
        log.warning("order %s: placed, its trades not fetched yet: %s", order.client_order_id, exc)
        trades = []  # the order stays live until they are: monitoring fetches them
    order = order_record_answer(order_id=order.pk, answer=answer, trades=trades)
    if not order.is_terminal:
        orders_monitor_schedule(exchange_id=order.exchange_id, market_id=order.market_id, at=order.next_check_at)
    return order


def _not_placed(order: Order, exc: Exception) -> NoReturn:
    """The venue refused the order (or it could not be signed or sent): REJECTED, and OrderRejected raised."""
    order_transition(order_id=order.pk, to=S.REJECTED, last_error=redact(str(exc)))
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, Banned):
        retry_after = max(0.0, (exc.until - datetime.now(UTC)).total_seconds())
    raise OrderRejected(
        f"{order.client_order_id} was not placed: {exc}",
        order_id=order.pk, retryable=isinstance(exc, RETRYABLE), retry_after=retry_after,
    ) from exc  # fmt: skip


# --- recording what the venue says ------------------------------------------------------
def order_record_answer(
    *,
    order_id: int,
    answer: VenueOrder,
    trades: list[VenueTrade] | None = None,
    now: datetime | None = None,
    budget_left: float = 1.0,
    path: str = "poll",
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
            known = set(order.fills.values_list("trade_id", flat=True))
            for t in mine:
                if t.id not in known:  # how long after its execution we learned of it, by the path that told us
                    metrics.observe(metrics.fill_detection, time.time() - t.ts_ms / 1000,
                                    venue=order.exchange.name, path=path)  # fmt: skip
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
            order.next_check_at = now + timedelta(milliseconds=poll_delay_ms(order.exchange_id, delay, order.status))
        if order.last_error and "status" in changed_fields:
            order.last_error = ""
            changed_fields.append("last_error")
        update_fields = ["next_check_at", *changed_fields]
        if changed_fields:
            update_fields.append("updated_at")  # age for the backoff counts from the last real change
        order.save(update_fields=update_fields)
    return order


def order_record_pushed(
    *, exchange_id: int, answer: VenueOrder, trades: list[VenueTrade], now: datetime | None = None
) -> Order | None:
    """An update the venue pushed on its user-data stream, recorded like a polled answer (the same fills, keyed by
    trade id, so a trade seen by both paths is recorded once); None when the order is not one of ours.

    Pushes can come before the placement's own answer is recorded, or after the order ended (the stream's NEW
    after the REST answer's FILLED): an ended order only takes fills it lacks. When the venue reports more
    filled than the trades it pushed, the order is checked at once for the rest.
    """
    now = now or timezone.now()
    mine = Order.objects.filter(exchange_id=exchange_id)
    found = (mine.filter(client_order_id=answer.client_order_id) if answer.client_order_id else mine.none()).first()
    if found is None and answer.id:
        found = mine.filter(exchange_order_id=answer.id).first()
    if found is None:
        return None
    if found.is_terminal and not trades:
        return found
    order = order_record_answer(order_id=found.pk, answer=answer, trades=trades, now=now, path="push")
    if not order.is_terminal and answer.filled > order.filled:
        Order.objects.filter(pk=order.pk).update(next_check_at=now)
        orders_monitor_schedule(exchange_id=exchange_id, market_id=order.market_id, at=now)
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


def answer_differs(order: Order, answer: VenueOrder) -> bool:
    return (
        answer.filled != order.filled
        or not order.exchange_order_id
        or _target_status(order, answer, order.filled) != order.status
    )


def with_trades(
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
        answer = fetch_one(venue, order, calls)
        if answer.trades or answer.filled <= order.filled:
            return answer, list(answer.trades)
    return answer, recent_trades(venue, order, calls, venue_order_id=answer.id)


def recent_trades(venue: Venue, order: Order, calls: list[str], *, venue_order_id: str | None) -> list[VenueTrade]:
    """The account's trades of the order's market since just before it was submitted, that are the order's."""
    since = to_ms(order.submitted_at) - 60_000 if order.submitted_at else None
    calls.append("fetch_my_trades")
    return [
        t
        for t in venue.fetch_my_trades(symbol=order.market.symbol, since_ms=since)
        if t.client_order_id == order.client_order_id or (venue_order_id and t.order_id == venue_order_id)
    ]


def fetch_one(venue: Venue, order: Order, calls: list[str]) -> VenueOrder:
    """The order as the venue has it now (its answer is cached for the next readers)."""
    calls.append("fetch_order")
    answer = venue.fetch_order(
        symbol=order.market.symbol, order_id=order.exchange_order_id, client_order_id=order.client_order_id
    )
    status_cache_put(order.exchange_id, [answer], ttl_ms=monitoring_policy_of(order).cache_ttl_ms)
    return answer


def orders_monitor_schedule(*, exchange_id: int, market_id: int, at: datetime | None) -> None:
    """Ask for a monitor tick of one market at `at` (after the current transaction commits)."""
    if at is None:
        return
    from .tasks import monitor

    countdown = max(0.0, (at - timezone.now()).total_seconds())
    transaction.on_commit(lambda: monitor.apply_async((exchange_id, market_id), countdown=countdown))
