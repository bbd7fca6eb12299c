"""manage.py sync_markets EXCHANGE: load the venue's markets into Market rows."""

import json

from django.core.management.base import BaseCommand, CommandError

from exchanges.binance_format import parse_exchange_info
from exchanges.errors import VenueError
from exchanges.models import Exchange
from exchanges.registry import get_venue
from exchanges.services import markets_sync


class Command(BaseCommand):
    help = "Load EXCHANGE's trading markets into Market rows (idempotent); prints what changed."

    def add_arguments(self, parser):
        parser.add_argument("exchange", help="Exchange name")
        parser.add_argument("--exchange-info", help="a Binance exchangeInfo JSON file instead of asking the venue")

    def handle(self, *args, exchange: str, exchange_info: str | None, **options):
        account = Exchange.objects.filter(name=exchange).first()
        if account is None:
            names = ", ".join(Exchange.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No exchange named {exchange!r} (known: {names}).")
        try:
            if exchange_info:
                with open(exchange_info) as fh:
                    markets = parse_exchange_info(json.load(fh))
            else:
                markets = get_venue(account).load_markets()
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the markets: {exc}") from exc
        except VenueError as exc:
            raise CommandError(f"{account.name} refused: {exc}") from exc
        report = markets_sync(exchange=account, markets=markets)
        for key in ("created", "updated", "deactivated"):
            symbols = report[key]
            sample = ", ".join(symbols[:10]) + (" …" if len(symbols) > 10 else "")
            self.stdout.write(f"{key:12} {len(symbols):5}  {sample}")
        self.stdout.write(f"{'unchanged':12} {len(report['unchanged']):5}")
