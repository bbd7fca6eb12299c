"""One rule for every status field: only listed transitions, repeats are no-ops."""

from collections.abc import Iterable, Mapping

from django.db import models

from .errors import IllegalTransition

TransitionMap = Mapping[str, Iterable[str]]


def check_transition_map(choices: type[models.TextChoices], allowed: TransitionMap) -> None:
    """Fail at import time if a map names a state its choices do not have."""
    values = set(choices.values)
    for source, targets in allowed.items():
        unknown = ({source} | set(targets)) - values
        if unknown:
            raise ValueError(f"{choices.__name__}: unknown states in transition map: {sorted(unknown)}")


def apply_transition(instance: models.Model, *, field: str, to: str, allowed: TransitionMap) -> bool:
    """Move `instance.<field>` to `to` if the map allows it.

    Returns True when the value changed, False when it already was `to` (a
    redelivered task repeating a transition does nothing). Raises
    IllegalTransition otherwise. The caller holds the row lock and saves.
    """
    current = getattr(instance, field)
    if current == to:
        return False
    if to not in allowed.get(current, ()):
        label = type(instance).__name__
        raise IllegalTransition(
            f"{label} {instance.pk} cannot go from {current} to {to}.",
            current=current,
            requested=to,
        )
    setattr(instance, field, to)
    return True


def transition_locked(queryset: models.QuerySet, *, pk: int, to: str, **updates) -> tuple:
    """Lock one row, apply a transition, save it; all in one short transaction.

    `queryset` is the app's ordered lock queryset (see each app's locks.py);
    the model names its status field in STATUS_FIELD ("status" by default).
    `updates` are written only when the transition happens, so repeating a
    transition that already happened changes nothing. Returns (row, changed).
    """
    from django.db import transaction

    field = getattr(queryset.model, "STATUS_FIELD", "status")
    with transaction.atomic():
        instance = queryset.get(pk=pk)
        changed = apply_transition(instance, field=field, to=to, allowed=type(instance).ALLOWED_TRANSITIONS)
        if changed:
            for name, value in updates.items():
                setattr(instance, name, value)
            auto_now = [f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)]
            instance.save(update_fields=[field, *updates, *auto_now])
    return instance, changed


def state_shared(model: type[models.Model], pk: int) -> str | None:
    """The row's state (its STATUS_FIELD), share-locked until the transaction ends: nobody changes it meanwhile.

    What places an order for a cycle or a panic sell checks this in the transaction that
    creates the order row, so recovery (which takes the row FOR UPDATE to change the state)
    and an order placement for it can never both go ahead.
    """
    from django.db import connection

    field = getattr(model, "STATUS_FIELD", "status")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {field} FROM {model._meta.db_table} WHERE id = %s FOR SHARE", [pk])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def still_in_state(model: type[models.Model], pk: int, state: str):
    """An order_place guard: the row must still be in `state` when the order row is created."""
    from .errors import Conflict

    def guard() -> None:
        now = state_shared(model, pk)
        if now != state:
            raise Conflict(f"{model._meta.verbose_name} {pk} is {now}, no longer {state}: no new order for it.")

    return guard
