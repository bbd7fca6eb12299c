"""manage.py backfill_candles: an account's candles from its venue's REST history (the markets it holds, trades or
charts, or those named)."""

from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from analytics.selectors import candle_symbols
from analytics.services import candles_backfill
from exchanges.errors import NotSupported, VenueError
from exchanges.models import Exchange


class Command(BaseCommand):
    help = "Fetch one-minute candles from the account's venue and roll them up into every timeframe."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", required=True, help="the account's name")
        parser.add_argument("--symbol", action="append", help="a market (repeat it; default: held, traded, charted)")
        parser.add_argument("--days", type=float, default=1.0, help="how far back (default one day)")
        parser.add_argument("--since", type=datetime.fromisoformat, help="from this time instead (ISO 8601, UTC)")

    def handle(self, *args, **opts):
        exchange = Exchange.objects.filter(name=opts["exchange"]).first()
        if exchange is None:
            raise CommandError(f"No account named {opts['exchange']!r}.")
        since = opts["since"] or timezone.now() - timedelta(days=opts["days"])
        if timezone.is_naive(since):
            since = since.replace(tzinfo=UTC)
        symbols = [s.upper() for s in opts["symbol"]] if opts["symbol"] else sorted(candle_symbols(exchange=exchange))
        unknown = set(symbols) - set(exchange.markets.filter(symbol__in=symbols).values_list("symbol", flat=True))
        if unknown:
            raise CommandError(f"Not markets of {exchange.name}: {', '.join(sorted(unknown))} (sync_markets first?).")
        self.stdout.write(f"{exchange.name}: {len(symbols)} markets from {since:%Y-%m-%d %H:%M} UTC")
        try:
            written = candles_backfill(exchange=exchange, symbols=symbols, since=since, say=self.stdout.write)
        except NotSupported as exc:
            raise CommandError(str(exc)) from None
        except VenueError as exc:
            raise CommandError(f"{exchange.name} did not answer: {exc} (what was written before stays)") from None
        self.stdout.write(f"{sum(written.values())} candles written")
