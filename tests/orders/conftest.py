from collections import Counter

import pytest

from exchanges.models import Market
from exchanges.venue import Venue


class CountingVenue(Venue):
    """Passes every call to the venue and counts it by method."""

    def __init__(self, inner: Venue) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def _call(self, name, *args, **kwargs):
        self.calls[name] += 1
        return getattr(self.inner, name)(*args, **kwargs)

    def load_markets(self):
        return self._call("load_markets")

    def fetch_tickers(self):
        return self._call("fetch_tickers")

    def fetch_order_book(self, symbol, depth=20):
        return self._call("fetch_order_book", symbol, depth)

    def create_order(self, **kwargs):
        return self._call("create_order", **kwargs)

    def fetch_order(self, **kwargs):
        return self._call("fetch_order", **kwargs)

    def fetch_open_orders(self, symbol=None):
        return self._call("fetch_open_orders", symbol)

    def cancel_order(self, **kwargs):
        return self._call("cancel_order", **kwargs)

    def fetch_balance(self):
        return self._call("fetch_balance")

    def fetch_my_trades(self, **kwargs):
        return self._call("fetch_my_trades", **kwargs)


@pytest.fixture
def venue(paper):
    return CountingVenue(paper)


@pytest.fixture
def btc(paper):
    return Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
