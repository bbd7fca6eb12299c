"""manage.py run_feed: a real venue's market data (websockets, or REST where a venue has none) into the snapshot."""

import asyncio
import contextlib
import logging
import signal
import time

from django.core.management.base import BaseCommand, CommandError

from core.resilience import Outages
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import Exchange, ExchangeKind
from feeds.health import feed_publish
from feeds.selection import feed_books, feed_tickers, rest_client

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Stream a ccxt account's tickers and wanted books into the Redis snapshot (Binance spot first class)."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", help="the account's name")
        parser.add_argument("--all", action="store_true", help="every enabled ccxt account (the Procfile's feeds)")
        parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: never)")

    def handle(self, *args, **opts):
        if bool(opts["exchange"]) == bool(opts["all"]):
            raise CommandError("Give --exchange NAME or --all.")
        outages = Outages("feed")
        accounts = outages.guard(lambda: list(Exchange.objects.filter(enabled=True, kind=ExchangeKind.CCXT)))
        if opts["exchange"]:
            accounts = [a for a in accounts if a.name == opts["exchange"]]
            if not accounts:
                raise CommandError(f"No enabled ccxt account named {opts['exchange']!r} (the paper venue's feed is "
                                   "run_simulator).")  # fmt: skip
        if not accounts:
            self.stdout.write("no enabled ccxt account: nothing to feed (the paper venue's feed is run_simulator); "
                              "looking again every 30 s")  # fmt: skip
            if opts["seconds"] is not None:
                return
            with contextlib.suppress(KeyboardInterrupt):
                while not accounts:  # a supervised process stays up, and starts feeding an account once added
                    time.sleep(30)
                    accounts = outages.guard(lambda: list(Exchange.objects.filter(enabled=True,
                                                                                  kind=ExchangeKind.CCXT)))  # fmt: skip
            if not accounts:
                return
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._run(accounts, opts["seconds"]))

    async def _run(self, accounts: list[Exchange], seconds: float | None) -> None:
        feeds = [await asyncio.to_thread(self._feed, account) for account in accounts]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: [feed.stop() for feed, _ in feeds])
        for feed, account in feeds:
            self.stdout.write(f"{account.name}: {len(feed.ticker_symbols)} tickers, {len(feed.books)} books, "
                              f"{feed.ws_base}")  # fmt: skip
        await asyncio.gather(*(feed.run(seconds=seconds) for feed, _ in feeds))
        for feed, account in feeds:
            await feed.rest.close()
            feed_publish(account.name, {**feed.stats.as_dict(), "connected": 0, "stopped": True})
            self.stdout.write(f"{account.name}: {feed.stats.as_dict()}")

    def _feed(self, account: Exchange):
        from feeds.binance import BINANCE_WS, BinanceFeed
        from feeds.ccxt_pro import CcxtFeed

        snapshot = MarketDataSnapshot(account.name)
        tickers, books = feed_tickers(account), lambda: feed_books(account, snapshot)
        publish = lambda stats: feed_publish(account.name, stats.as_dict())  # noqa: E731
        if account.ccxt_id == "binance":
            return BinanceFeed(snapshot=snapshot, ws_base=account.ws_url or BINANCE_WS, rest=rest_client(account),
                               tickers=tickers, books=books, on_stats=publish), account  # fmt: skip
        return CcxtFeed(account, snapshot=snapshot, tickers=tickers, books=books, on_stats=publish), account
