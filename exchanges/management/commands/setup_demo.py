"""manage.py setup_demo: the demo paper account, its markets and starting balances (idempotent)."""

import os
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from exchanges.models import Exchange, ExchangeKind, VenueFaults
from exchanges.paper import paper_deposit


class Command(BaseCommand):
    help = "Create the demo paper exchange with its markets synced and starting balances (once)."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", default="paper")

    def handle(self, *args, exchange: str, **options):
        account, created = Exchange.objects.get_or_create(name=exchange, defaults={"kind": ExchangeKind.PAPER})
        if account.kind != ExchangeKind.PAPER:
            raise CommandError(f"{exchange} exists and is not a paper exchange.")
        VenueFaults.objects.get_or_create(exchange=account)
        call_command("sync_markets", exchange, stdout=open(os.devnull, "w"))  # noqa: SIM115
        if created:
            for asset, amount in settings.PAPER_STARTING_BALANCES.items():
                try:
                    paper_deposit(exchange=account, asset=asset.upper(), amount=Decimal(amount))
                except InvalidOperation as exc:
                    raise CommandError(f"PAPER_STARTING_BALANCES: {amount!r} is not a number for {asset}.") from exc
            funded = ", ".join(f"{v} {k}" for k, v in settings.PAPER_STARTING_BALANCES.items())
            self.stdout.write(f"paper exchange {exchange} created with {funded}")
        else:
            self.stdout.write(
                f"paper exchange {exchange} ready ({account.markets.filter(active=True).count()} markets)"
            )
