"""Reads for venue accounts and markets."""

from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from .models import Exchange, ExchangeKind, Market
from .types import BalanceEntry
from .valuation import asset_prices
from .venue import Venue


def exchange_list() -> QuerySet[Exchange]:
    return Exchange.objects.select_related("mirror_of")


def market_list() -> QuerySet[Market]:
    return Market.objects.select_related("exchange")


def account_holdings(*, exchange: Exchange, venue: Venue, valuation: str) -> tuple[dict[str, BalanceEntry], dict]:
    """What the account holds (balances above zero) and each asset's price in `valuation` where it has a path to it
    (exchanges.valuation), from one balance call and one tickers call. Raises the venue's errors."""
    balances = {asset: entry for asset, entry in venue.fetch_balance().items() if entry.total > 0}
    markets = Market.objects.filter(exchange=exchange, active=True).values_list("symbol", "base", "quote")
    prices: dict[str, Decimal] = asset_prices(balances, valuation, venue.fetch_tickers(), markets)
    return balances, prices


def market_data_name(exchange: Exchange) -> str:
    """The account whose market-data snapshot this one reads: itself, or for a paper account that trades on
    another's simulated market (PAPER_MARKET_DATA_FROM), that account."""
    if exchange.kind != ExchangeKind.PAPER:
        return exchange.name
    return settings.PAPER_MARKET_DATA_FROM.get(exchange.name, exchange.name)


def market_data_account(exchange: Exchange) -> Exchange:
    """The account whose markets carry this one's market data (its candles): market_data_name's, when it exists."""
    source = market_data_name(exchange)
    return exchange if source == exchange.name else Exchange.objects.filter(name=source).first() or exchange
