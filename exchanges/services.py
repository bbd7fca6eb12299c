"""Writes for venue accounts."""

from django.core.exceptions import ValidationError
from django.db import transaction

from tradingsite.services import model_create, model_update

from .models import AccountRole, Exchange


def _check_mirror_target(*, role: str, mirror_of: Exchange | None) -> None:
    if role == AccountRole.MIRROR and mirror_of is not None and mirror_of.role != AccountRole.MAIN:
        raise ValidationError({"mirror_of": f"{mirror_of.name} is itself a mirror; mirror a main account."})


@transaction.atomic
def exchange_create(**fields) -> Exchange:
    _check_mirror_target(role=fields.get("role", AccountRole.MAIN), mirror_of=fields.get("mirror_of"))
    return model_create(Exchange, **fields)


@transaction.atomic
def exchange_update(exchange: Exchange, data: dict, /) -> Exchange:
    _check_mirror_target(role=data.get("role", exchange.role), mirror_of=data.get("mirror_of", exchange.mirror_of))
    exchange, _ = model_update(exchange, data)
    return exchange
