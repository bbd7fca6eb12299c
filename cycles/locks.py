"""Ordered lock querysets for strategies, reservations and cycles.

Lock order when several are needed: strategy, then reservation, then cycle, then panic sell.
"""

from django.db import connection
from django.db.models import QuerySet

from .models import Cycle, PanicSell, Reservation, Strategy


def strategies_for_update() -> QuerySet[Strategy]:
    return Strategy.objects.order_by("pk").select_for_update(of=("self",))


def reservations_for_update(*, skip_locked: bool = False) -> QuerySet[Reservation]:
    return Reservation.objects.order_by("pk").select_for_update(of=("self",), skip_locked=skip_locked)


def cycles_for_update() -> QuerySet[Cycle]:
    return Cycle.objects.order_by("pk").select_for_update(of=("self",), no_key=True)


def panic_sells_for_update() -> QuerySet[PanicSell]:
    return PanicSell.objects.order_by("pk").select_for_update(of=("self",))


def state_shared(model: type[Cycle] | type[PanicSell], pk: int) -> str | None:
    """The row's state, share-locked until the transaction ends: nobody changes it meanwhile.

    What places an order for a cycle or a panic sell checks this in the transaction that
    creates the order row, so recovery (which takes the row FOR UPDATE to change the state)
    and an order placement for it can never both go ahead.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT state FROM {model._meta.db_table} WHERE id = %s FOR SHARE", [pk])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None
