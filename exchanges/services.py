"""Writes for venue accounts."""

from django.core.exceptions import ValidationError
from django.db import transaction

from core.apicache import invalidate
from core.services import model_create, model_update

from .models import AccountRole, Exchange

# An account's name keys what runs for it (its market-data snapshot, `run_simulator --exchange NAME`, feeds,
# the Procfile): renaming a live account would cut it off from them, so a name is fixed once created.
FIXED_AFTER_CREATE = ("name", "kind")


def exchange_check(exchange: Exchange | None, data: dict, /) -> dict:
    """Refuse what no write may do: change a fixed field, mirror a mirror. Returns `data`."""
    if exchange is not None:
        changed = [f for f in FIXED_AFTER_CREATE if f in data and data[f] != getattr(exchange, f)]
        if changed:
            raise ValidationError({f: f"An account's {f} is fixed once created (it keys its market data and "
                                      "processes); create a new account instead." for f in changed})  # fmt: skip
    role = data.get("role", exchange.role if exchange else AccountRole.MAIN)
    mirror_of = data.get("mirror_of", exchange.mirror_of if exchange else None)
    if role == AccountRole.MIRROR and mirror_of is not None and mirror_of.role != AccountRole.MAIN:
        raise ValidationError({"mirror_of": f"{mirror_of.name} is itself a mirror; mirror a main account."})
    return data


@transaction.atomic
def exchange_create(**fields) -> Exchange:
    return model_create(Exchange, **exchange_check(None, fields))


@transaction.atomic
def exchange_update(exchange: Exchange, data: dict, /) -> Exchange:
    exchange, _ = model_update(exchange, exchange_check(exchange, data))
    return exchange


def markets_sync(*, exchange: Exchange, markets: list) -> dict[str, list[str]]:
    """Make the Market rows of `exchange` match `markets` (MarketInfo, trading only; with its external id and
    neg-risk flag where the venue gives one).

    New symbols are created, changed ones updated, symbols no longer listed
    deactivated (never deleted: orders reference them). Idempotent. A change drops
    the API's cached market reads.
    """
    from .models import Market

    fields = ("base", "quote", "price_step", "amount_step", "min_amount", "min_notional", "taker_fee", "maker_fee")
    report: dict[str, list[str]] = {"created": [], "updated": [], "deactivated": [], "unchanged": []}
    with transaction.atomic():
        existing = {m.symbol: m for m in Market.objects.select_for_update().filter(exchange=exchange)}
        to_create, to_update = [], []
        for info in markets:
            row = existing.pop(info.symbol, None)
            values = {f: getattr(info, f) for f in fields}
            if info.external_id:  # a venue that names its markets by another id (Polymarket's token ids)
                values |= {"external_id": info.external_id, "neg_risk": info.neg_risk}
            if row is None:
                to_create.append(Market(exchange=exchange, symbol=info.symbol, active=True, **values))
                report["created"].append(info.symbol)
                continue
            changed = [f for f, v in values.items() if getattr(row, f) != v] + ([] if row.active else ["active"])
            if changed:
                for f, v in values.items():
                    setattr(row, f, v)
                row.active = True
                to_update.append(row)
                report["updated"].append(info.symbol)
            else:
                report["unchanged"].append(info.symbol)
        for row in existing.values():
            if row.active:
                row.active = False
                to_update.append(row)
                report["deactivated"].append(row.symbol)
        Market.objects.bulk_create(to_create, batch_size=500)
        Market.objects.bulk_update(to_update, [*fields, "external_id", "neg_risk", "active"], batch_size=500)
        if to_create or to_update:
            transaction.on_commit(lambda: invalidate("market_data"))
    return report


def venue_faults_check(exchange: Exchange, /) -> None:
    from .models import ExchangeKind

    if exchange.kind != ExchangeKind.PAPER:
        raise ValidationError({"exchange": f"{exchange.name} is a real venue; faults are injected on paper only."})


def venue_faults_update(exchange: Exchange, data: dict, /):
    """Switch a paper venue's injected faults; takes effect in every worker within a second."""
    from .models import VenueFaults

    venue_faults_check(exchange)
    with transaction.atomic():
        faults, _ = VenueFaults.objects.select_for_update().get_or_create(exchange=exchange)
        faults, _ = model_update(faults, data)
    return faults


# Who says which outcome tokens an account should list (wallets: the tokens its watched wallets trade). Apps above
# exchanges register here in their AppConfig.ready(); exchanges knows none of them.
TOKEN_SOURCES: list = []


def wanted_tokens(exchange: Exchange) -> set[str]:
    """The token ids the registered sources want listed on `exchange` (Polymarket's sync_markets)."""
    wanted: set[str] = set()
    for source in TOKEN_SOURCES:
        wanted |= set(source(exchange))
    return wanted
