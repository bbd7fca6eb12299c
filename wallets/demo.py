"""The demo's copy-trading side: an outcome-token paper account and the sample wallets watched on it."""

import random
from decimal import Decimal

from django.db import transaction

from exchanges.marketdata import MarketDataSnapshot, now_ms
from exchanges.models import Exchange, ExchangeKind, Market, VenueFaults
from exchanges.paper import paper_deposit
from exchanges.services import markets_sync
from exchanges.types import Ticker

from .simulated import Outcome, SimulatedChain, outcome_book, outcome_markets


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


class OutcomeBooks:
    """Books (and their tickers) on an account's outcome markets, near the price each last traded at on the chain."""

    def __init__(self, account: str, chain: SimulatedChain, rng: random.Random) -> None:
        self.chain, self.rng = chain, rng
        self.snapshot = MarketDataSnapshot(account)
        markets = Market.objects.filter(exchange__name=account).exclude(external_id="")
        self.symbols = dict(markets.values_list("external_id", "symbol"))

    def publish(self) -> None:
        ts = now_ms()
        books, tickers = [], []
        for o in self.chain.outcomes:
            symbol = self.symbols.get(o.asset)
            if symbol is None:
                continue
            mid = self.chain.prices.get(o.asset, o.price) + self.rng.uniform(-0.002, 0.002)
            book = outcome_book(symbol, mid, self.rng, ts)
            books.append(book)
            tickers.append(Ticker(symbol, book.bids[0][0], book.bids[0][1], book.asks[0][0], book.asks[0][1], ts))
        if books:
            self.snapshot.publish(tickers, books)
