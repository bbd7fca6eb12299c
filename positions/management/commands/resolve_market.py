"""manage.py resolve_market EXCHANGE SYMBOL (--winner | --loser | --payout P): declare a paper outcome market
resolved and settle its positions now. A real venue's markets resolve on the venue; this reads and settles them."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from exchanges.errors import VenueError
from exchanges.models import ExchangeKind, Market
from exchanges.registry import get_venue
from positions.resolution import market_settle


class Command(BaseCommand):
    help = ("Declare a paper outcome market resolved (what one token pays) and close its positions at that payout; "
            "for a real venue's market, read its resolution from the venue and settle.")  # fmt: skip

    def add_arguments(self, parser):
        parser.add_argument("exchange", help="the account's name")
        parser.add_argument("symbol", help="the market's symbol (or its token id)")
        side = parser.add_mutually_exclusive_group()
        side.add_argument("--winner", action="store_true", help="its token won: it pays 1")
        side.add_argument("--loser", action="store_true", help="its token lost: it pays 0")
        side.add_argument("--payout", help="what one token pays, 0 to 1 (0.5 for a 50-50 resolution)")
        parser.add_argument("--outcome", default="", help="the winning outcome's label, for the positions' events")

    def handle(self, *args, exchange: str, symbol: str, winner: bool, loser: bool, payout: str | None,
               outcome: str, **options):  # fmt: skip
        market = (Market.objects.select_related("exchange").filter(exchange__name=exchange, symbol=symbol).first()
                  or Market.objects.select_related("exchange").filter(exchange__name=exchange, external_id=symbol)
                  .first())  # fmt: skip
        if market is None:
            raise CommandError(f"No market {symbol!r} on an account named {exchange!r}.")
        if not market.external_id:
            raise CommandError(f"{market} is a spot market: only outcome markets (with a token id) resolve.")
        declared = winner or loser or payout is not None
        if market.exchange.kind == ExchangeKind.PAPER:
            if not declared and market.resolved_at is None:
                raise CommandError("Say what one token pays: --winner, --loser or --payout P.")
            if declared and market.resolved_at is None:
                value = self._payout(winner, loser, payout)
                label = outcome or {Decimal(1): "this token", Decimal(0): "another token"}.get(value, "50-50")
                Market.objects.filter(pk=market.pk).update(resolved_at=timezone.now(), payout=value,
                                                           resolved_outcome=label[:100])  # fmt: skip
                market.refresh_from_db()
            elif declared:
                self.stdout.write(f"{market} resolved already ({market.resolved_outcome}, pays {market.payout}).")
        elif declared:
            raise CommandError(f"{market.exchange.name} is a real venue: its markets resolve there, not here. "
                               "Run without --winner/--loser/--payout to read and settle.")  # fmt: skip
        try:
            result = market_settle(market=market, venue=get_venue(market.exchange))
        except VenueError as exc:
            raise CommandError(f"{market.exchange.name} did not answer: {exc}") from exc
        market.refresh_from_db()
        self.stdout.write(f"{market}: {result}" + (f" (a token pays {market.payout})" if market.payout is not None
                                                   else ""))  # fmt: skip

    @staticmethod
    def _payout(winner: bool, loser: bool, payout: str | None) -> Decimal:
        if winner:
            return Decimal(1)
        if loser:
            return Decimal(0)
        try:
            value = Decimal(payout)
        except InvalidOperation:
            raise CommandError(f"--payout {payout!r} is not a number.") from None
        if not 0 <= value <= 1:
            raise CommandError(f"--payout {value} is outside 0 to 1.")
        return value
