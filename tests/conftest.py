"""Shared fixtures: real PostgreSQL (pytest-django), real Redis, and a paper venue on fixed books."""

import random
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from exchanges.models import Exchange, VenueFaults
from exchanges.paper import PaperVenue, paper_deposit
from exchanges.paper_data import StaticSource
from exchanges.services import markets_sync
from exchanges.types import MarketInfo, OrderBook
from exchanges.venue import Venue
from tests.factories import UserFactory

D = Decimal


@pytest.fixture
def operator(db):
    return UserFactory(username="operator-test", is_staff=True, is_superuser=True)


@pytest.fixture
def viewer(db):
    """Logged in with every model's view permission and nothing else: may read, may not write or act."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="viewer-test")
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return user


@pytest.fixture
def nobody(db):
    """Logged in, with no permission at all: may read nothing."""
    return UserFactory(username="nobody-test")


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture(autouse=True)
def _clean_test_redis(settings):
    """Each test starts with an empty test Redis database (never the platform's)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pass  # tests that need Redis fail on their own with a clear error
    finally:
        client.close()


MARKETS = [
    MarketInfo("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.000001"), D("0.000001"), D("10")),
    MarketInfo("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("10")),
    MarketInfo("ETHBTC", "ETH", "BTC", D("0.000001"), D("0.001"), D("0.001"), D("0.0001")),
]


def ladder(symbol: str, bid: str, ask: str, step: str, sizes=("1", "2", "3", "4", "5")) -> OrderBook:
    b, a, s = D(bid), D(ask), D(step)
    return OrderBook(
        symbol,
        bids=tuple((b - i * s, D(q)) for i, q in enumerate(sizes)),
        asks=tuple((a + i * s, D(q)) for i, q in enumerate(sizes)),
        ts_ms=0,
    )


@pytest.fixture
def books():
    source = StaticSource()
    source.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00"))
    source.set_book(ladder("ETHUSDT", "3000.00", "3000.10", "0.50", sizes=("10", "20", "30", "40", "50")))
    source.set_book(ladder("ETHBTC", "0.050000", "0.050010", "0.000010", sizes=("10", "20", "30", "40", "50")))
    return source


@pytest.fixture
def paper(db, books):
    exchange = Exchange.objects.create(name="paper-test")
    markets_sync(exchange=exchange, markets=MARKETS)
    paper_deposit(exchange=exchange, asset="USDT", amount=D("100000"))
    return PaperVenue(exchange, market_data=books, rng=random.Random(7))


@pytest.fixture
def faults(paper):
    return VenueFaults.objects.create(exchange=paper.exchange, enabled=True)


@pytest.fixture
def shared_data():
    path = settings.SHARED_DATA_DIR
    if not (path / "binance").exists():
        pytest.skip(f"reference data not found at {path} (../shared/data)")
    return path


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
def worker_env(transactional_db):
    """The environment that points a real worker process (bench.common.Service) at the test database."""
    from django.db import connections

    db = connections["default"].settings_dict
    return {
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings_test",
        "DATABASE_URL": f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DB_POOL_SIZE": "2",
    }
