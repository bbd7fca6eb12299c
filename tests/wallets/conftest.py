"""A simulated chain served over HTTP on 127.0.0.1, and wallet sources pointed at it."""

import random

import pytest

from wallets.simulated import SimulatedChain, SimulatedSourceServer, sample_outcomes


@pytest.fixture
def chain(shared_data):
    return SimulatedChain(sample_outcomes(shared_data / "polymarket"), rng=random.Random(11))


@pytest.fixture
def sim(chain, settings):
    server = SimulatedSourceServer(chain).start()
    settings.POLYMARKET_DATA_API_URL = server.url
    settings.ETHERSCAN_API_URL = f"{server.url}/v2/api"
    settings.WALLET_SOURCE_RATE_PER_S = {"polymarket": 1000.0, "etherscan": 1000.0}
    yield server
    server.stop()


@pytest.fixture
def outcome_paper(db, chain):
    """A paper account trading the sample outcome tokens, 10,000 USDC, books at each outcome's price."""
    from decimal import Decimal

    from exchanges.paper import PaperVenue
    from exchanges.paper_data import StaticSource
    from wallets.demo import outcome_account
    from wallets.simulated import outcome_book, outcome_symbol

    exchange, _ = outcome_account("pm-test", chain.outcomes, usdc=Decimal("10000"))
    rng = random.Random(5)
    books = StaticSource()
    for o in chain.outcomes:
        books.set_book(outcome_book(outcome_symbol(o.asset), o.price, rng, 0))
    venue = PaperVenue(exchange, market_data=books, rng=random.Random(3))
    venue.books = books
    return venue


@pytest.fixture
def watched(db, outcome_paper):
    from wallets.services import wallet_create

    def make(address="0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee", source="polymarket", **fields):
        terms = {"copy_exchange": outcome_paper.exchange, "copy_enabled": True, "risk_pct": 1, "stop_loss_pct": 10,
                 "max_position_size": 200, "take_profit_ladder": [{"pct": 10, "fraction": 0.5}]}  # fmt: skip
        return wallet_create(address=address, source=source, **(terms | fields))

    return make
