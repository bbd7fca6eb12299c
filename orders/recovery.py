"""Order recovery: repair totals from fills, bring live orders to what the venue says, adopt strangers.

`manage.py recover_cycles` (cycles.recovery) runs it over the accounts in scope. It covers every order of
those accounts, whoever placed it (cycles, positions, copies, panic sells), so it lives with the orders:

- totals that disagree with their fills are repaired from them (fills are the truth);
- every live order is reconciled with the venue, by venue id, else client id; UNKNOWN orders are
  resolved by lookups (never by placing again), waiting up to `wait_s` for the grace window;
- open orders on the venue that we have no record of are adopted and flagged for an operator.

What it finds is handed to `add(finding, found)`, the caller's report.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.db.models.functions import Coalesce

from exchanges.errors import VenueError
from exchanges.models import Exchange
from tradingsite.isolation import Loop

from .locks import orders_for_update
from .models import LIVE_STATUSES, Order, OrderStatus
from .services import order_reconcile, order_totals_from_fills, orders_adopt_unknown

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
    ids = list(live.filter(status__in=LIVE_STATUSES).order_by("pk").values_list("pk", flat=True))
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
