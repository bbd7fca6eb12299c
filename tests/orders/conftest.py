import pytest

from exchanges.models import Market


@pytest.fixture
def btc(paper):
    return Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
