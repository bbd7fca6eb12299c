"""Order recovery: repair totals from fills, bring live orders to what the venue says, adopt strangers.

`manage.py recover_cycles` (cycles.recovery) runs it over the accounts in scope. It covers every order of
those accounts, whoever placed it (cycles, positions, copies, panic sells), so it lives with the orders:

- totals that disagree with their fills are repaired from them (fills are the truth);
- every live order is reconciled with the venue, by venue id, else client id; UNKNOWN orders are
  resolved by lookups (never by placing again), waiting up to `wait_s` for the grace window;
- open orders on the venue that we have no record of are adopted and flagged for an operator.

What it finds is handed to `add(finding, found)`, the caller's report.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.clock import from_ms
from core.isolation import Loop
from exchanges.errors import (
    VenueError,
)
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.venue import Venue

from .locks import orders_for_update
from .models import Order, OrderPurpose, OrderRole, OrderStatus, OrderType
from .monitoring import order_resolve_unknown, promote_stale_submissions
from .policy import monitoring_fields, monitoring_policy_of
from .services import S, fetch_one, order_record_answer, order_totals_from_fills, with_trades

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
UNRESOLVED = (OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT)


@dataclass
class Finding:
    ref: str  # "cycle 12", "order ts-c12-l1-a1", "reservations"
    action: str  # resumed, unwound, repaired, adopted, reconciled, waiting, operator
    reason: str
    strategy: str = ""


Add = Callable[..., None]  # add(finding, found=True)


def orders_repair_totals(*, orders: QuerySet[Order], dry_run: bool, add: Add) -> None:
    """Orders (of `orders`) whose filled amount is not what their fills add up to get the fills' totals."""
    fill_sum = Coalesce(Sum("fills__amount"), Decimal(0), output_field=DecimalField())
    disagreeing = (
        orders.annotate(fill_sum=fill_sum, fill_count=Count("fills"))
        .filter(fill_count__gt=0)
        .exclude(filled=F("fill_sum"))
        .values_list("pk", "client_order_id", "filled", "fill_sum")
    )
    for pk, client_id, filled, total in disagreeing:
        if dry_run:
            add(Finding(f"order {client_id}", "repaired", f"filled {filled} would become {total} (fills)"))
            continue
        with transaction.atomic():
            order = orders_for_update().get(pk=pk)
            changed = order_totals_from_fills(order)
            if changed:
                order.save(update_fields=[*changed, "updated_at"])
        add(Finding(f"order {client_id}", "repaired", f"filled was {filled}; its fills add up to {total}"))


@dataclass
class ReconcileCounts:
    reconciled: int = 0  # orders whose status the venue changed
    adopted: int = 0


def orders_recover(
    *, exchanges: list[Exchange], live: QuerySet[Order], dry_run: bool, wait_s: float, venue_for, add: Add,
    progress: Progress, label: Callable[[Order], str] = lambda order: "",
) -> ReconcileCounts:  # fmt: skip
    """Reconcile the `live` orders with their venues (waiting up to `wait_s` for UNKNOWN ones), then adopt
    what the `exchanges` hold open that we have no record of. `label(order)` names who an order serves in
    what is reported (a strategy's name)."""
    counts = ReconcileCounts()
    ids = list(live.filter(live=True).order_by("pk").values_list("pk", flat=True))
    deadline = time.monotonic() + wait_s
    loop = Loop("recovery: orders")
    while ids:
        progress("orders", 0, len(ids))
        unresolved = []
        for done, pk in enumerate(ids, 1):
            order = Order.objects.select_related("exchange").get(pk=pk)
            ref = f"order {order.client_order_id}"
            if dry_run:
                add(Finding(ref, "reconciled", f"{order.status}: would be checked with the venue"), found=False)
                continue
            before = order.status

            def failed(message: str, pk=pk, ref=ref) -> None:  # an operator is told; the other orders go on
                Order.objects.filter(pk=pk).update(last_error=f"recovery: {message}")
                add(Finding(ref, "operator", f"could not be reconciled: {message}"))

            with loop.item(ref, on_error=failed):
                try:
                    order = order_reconcile(order_id=pk, venue=venue_for(order.exchange))
                except VenueError as exc:
                    order.last_error = f"venue: {exc}"
            if order.status != before:
                counts.reconciled += 1
            if order.status in UNRESOLVED:
                unresolved.append(order.pk)
            progress("orders", done, len(ids))
        if dry_run or not unresolved or time.monotonic() >= deadline:
            ids = unresolved
            break
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        ids = unresolved
    if dry_run:
        return counts
    for order in Order.objects.filter(pk__in=ids, status__in=UNRESOLVED):
        add(Finding(f"order {order.client_order_id}", "waiting",
                    f"{order.status}: the venue has not confirmed it yet ({order.last_error or 'looking'})",
                    label(order)))  # fmt: skip
    for exchange in exchanges:
        try:
            adopted = orders_adopt_unknown(exchange=exchange, venue=venue_for(exchange))
        except VenueError as exc:
            add(Finding(f"account {exchange.name}", "waiting", f"open orders not listed: {exc}"))
            continue
        for order in adopted:
            counts.adopted += 1
            add(Finding(f"order {order.client_order_id}", "operator",
                        f"adopted: {order.side} {order.amount} {order.market.symbol} open on the venue, "
                        "not placed by us"))  # fmt: skip
    return counts


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
    return settle_with_venue(order, venue or get_venue(order.exchange), now)


def settle_with_venue(order: Order, venue: Venue, now: datetime) -> Order:
    """Ask the venue about one live order now and record its answer (a lost submission: by lookups)."""
    if order.status == S.PENDING_SUBMIT:
        order = promote_stale_submissions([order], now)[0]
    if order.status == S.UNKNOWN:
        return order_resolve_unknown(order=order, venue=venue, now=now)
    calls: list[str] = []
    answer = fetch_one(venue, order, calls)
    answer, trades = with_trades(venue, order, answer, calls, fresh=True)
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
