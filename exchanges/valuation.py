"""What assets are worth in one valuation asset, from a venue's tickers (pure, no Django).

An asset is priced at what it would sell for: the bid of ASSET/VAL, or 1/ask of
VAL/ASSET, or, with no direct market, through one intermediate asset (the
route with the best price). Assets with no such path are left unvalued and
reported as such, never counted as zero-worth silently.
"""

from collections.abc import Iterable
from decimal import Decimal

from .types import Ticker


def sell_prices(tickers: dict[str, Ticker], markets: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], Decimal]:
    """(from, to) -> how much `to` one `from` sells for, for every market with a two-sided ticker."""
    rates: dict[tuple[str, str], Decimal] = {}
    for symbol, base, quote in markets:
        ticker = tickers.get(symbol)
        if ticker is None or ticker.bid <= 0 or ticker.ask <= 0:
            continue
        rates[(base, quote)] = ticker.bid
        rates[(quote, base)] = 1 / ticker.ask
    return rates


def asset_prices(
    assets: Iterable[str], valuation_asset: str, tickers: dict[str, Ticker], markets: Iterable[tuple[str, str, str]]
) -> dict[str, Decimal]:
    """Price in `valuation_asset` of each asset that has a direct or one-hop path to it."""
    rates = sell_prices(tickers, markets)
    via: dict[str, list[tuple[str, Decimal]]] = {}
    for (src, dst), rate in rates.items():
        via.setdefault(src, []).append((dst, rate))
    prices = {}
    for asset in assets:
        if asset == valuation_asset:
            prices[asset] = Decimal(1)
            continue
        direct = rates.get((asset, valuation_asset))
        if direct is not None:
            prices[asset] = direct
            continue
        onward = [(rate, rates.get((mid, valuation_asset))) for mid, rate in via.get(asset, ())]
        hops = [rate * last for rate, last in onward if last is not None]
        if hops:
            prices[asset] = max(hops)
    return prices
