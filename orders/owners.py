"""Who orders serve: each app registers, from its AppConfig.ready(), what to do when one of its orders ends.

An order names its owner by `purpose` (and the foreign key that purpose requires); this app calls the
owner's hook once the transaction that ended the order commits, and knows nothing else of it.
"""

import functools
from collections.abc import Callable

from django.db import transaction

from core import metrics

_on_ended: dict[str, Callable] = {}


def register_owner(purpose: str, *, on_ended: Callable) -> None:
    """`on_ended(order)` runs after the commit that made an order of `purpose` terminal (filled, canceled…)."""
    if purpose in _on_ended and _on_ended[purpose] is not on_ended:
        raise ValueError(f"an owner of {purpose!r} orders is registered already")
    _on_ended[purpose] = on_ended


def owners() -> dict[str, Callable]:
    return dict(_on_ended)


def order_ended(order) -> None:
    """Wake what the order serves, once the current transaction commits (nothing for an owner-less order); the
    ended orders' counter moves then too."""
    venue, status = _account_name(order.exchange_id), order.status
    transaction.on_commit(lambda: metrics.count(metrics.orders_ended, venue=venue, status=status))
    hook = _on_ended.get(order.purpose)
    if hook is not None:
        transaction.on_commit(lambda: hook(order))


@functools.lru_cache(maxsize=512)
def _account_name(exchange_id: int) -> str:
    """An account's name for metric labels, read once per process (no query on every order that ends)."""
    from exchanges.models import Exchange

    return Exchange.objects.filter(pk=exchange_id).values_list("name", flat=True).first() or str(exchange_id)
