"""manage.py run_feed: a real venue's market data (websockets, or REST where a venue has none) into the snapshot."""

import logging

from exchanges.commands import CcxtAccountsCommand
from exchanges.marketdata import MarketDataSnapshot
from exchanges.models import Exchange
from exchanges.trades import TradeReaders, TradeThread
from feeds.health import feed_publish
from feeds.selection import feed_books, feed_tickers, rest_client

log = logging.getLogger(__name__)


class Command(CcxtAccountsCommand):
    help = "Stream a ccxt account's tickers and wanted books into the Redis snapshot (Binance spot first class)."
    what = "feed"
    none_named = "No enabled ccxt account named {name!r} (the paper venue's feed is run_simulator)."
    nothing = "no enabled ccxt account: nothing to feed (the paper venue's feed is run_simulator)"

    def describe(self, feed) -> str:
        return f"{len(feed.ticker_symbols)} tickers, {len(feed.books)} books, {feed.ws_base}"

    async def finish(self, feed, account: Exchange) -> None:
        await feed.rest.close()
        feed_publish(account.name, {**feed.stats.as_dict(), "connected": 0, "stopped": True})

    def build(self, account: Exchange):
        from feeds.binance import BINANCE_WS, BinanceFeed
        from feeds.ccxt_pro import CcxtFeed

        snapshot = MarketDataSnapshot(account.name)
        tickers, books = feed_tickers(account), lambda: feed_books(account, snapshot)
        publish = lambda stats: feed_publish(account.name, stats.as_dict())  # noqa: E731
        if account.ccxt_id == "binance":
            return BinanceFeed(snapshot=snapshot, ws_base=account.ws_url or BINANCE_WS, rest=rest_client(account),
                               tickers=tickers, books=books, on_stats=publish,
                               trades=TradeThread(TradeReaders(account)))  # <symbol>@trade: candles  # fmt: skip
        return CcxtFeed(account, snapshot=snapshot, tickers=tickers, books=books, on_stats=publish,
                        trades=TradeThread(TradeReaders(account)))  # fmt: skip
