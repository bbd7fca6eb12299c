"""The demo's copy-trading side: an outcome-token paper account and the sample wallets watched on it."""

from decimal import Decimal

from django.db import transaction

from exchanges.models import Exchange, ExchangeKind, Market, VenueFaults
from exchanges.paper import paper_deposit
from exchanges.services import markets_sync

from .simulated import Outcome, outcome_markets


@transaction.atomic
def outcome_account(name: str, outcomes: list[Outcome], *, usdc: Decimal) -> tuple[Exchange, bool]:
    """A paper account trading the outcome tokens (created once, funded once; markets kept in step)."""
    exchange, created = Exchange.objects.get_or_create(name=name, defaults={"kind": ExchangeKind.PAPER})
    VenueFaults.objects.get_or_create(exchange=exchange)
    markets = outcome_markets(outcomes)
    markets_sync(exchange=exchange, markets=[info for info, _ in markets])
    for info, asset in markets:
        Market.objects.filter(exchange=exchange, symbol=info.symbol).exclude(external_id=asset).update(
            external_id=asset
        )
    if created:
        paper_deposit(exchange=exchange, asset="USDC", amount=usdc)
    return exchange, created
