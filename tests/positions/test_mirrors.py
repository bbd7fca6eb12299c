"""Mirror accounts copy the main account's positions at their ratio, with their own orders; a failure never blocks."""

import random
from decimal import Decimal

import pytest

from exchanges.models import AccountRole, Exchange
from exchanges.paper import PaperVenue, paper_deposit
from exchanges.services import markets_sync
from orders.models import Order
from positions.models import Position, PositionPhase
from positions.opening import position_open
from positions.services import position_check
from tests.conftest import MARKETS, ladder

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def mirror(paper, books):
    account = Exchange.objects.create(name="paper-mirror", role=AccountRole.MIRROR, mirror_of=paper.exchange,
                                      mirror_ratio=D("0.5"))  # fmt: skip
    markets_sync(exchange=account, markets=MARKETS)
    return account


def venues(paper, books):
    by_id = {paper.exchange.pk: paper}

    def venue_for(exchange):
        if exchange.pk not in by_id:
            by_id[exchange.pk] = PaperVenue(exchange, market_data=books, rng=random.Random(3))
        return by_id[exchange.pk]

    return venue_for


def test_a_mirror_copies_the_position_at_its_ratio_and_exits_with_its_own_orders(paper, books, mirror):
    paper_deposit(exchange=mirror, asset="USDT", amount=D("10000"))
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    venue_for = venues(paper, books)
    main = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"),
                         take_profits=[(D("61000"), D("1"))], stop_loss=D("59000"), venue_for=venue_for)  # fmt: skip
    copy = Position.objects.get(mirror_of=main)
    assert (copy.exchange, copy.phase, copy.amount) == (mirror, PositionPhase.MONITORING, D("0.00999"))
    assert list(copy.take_profits.values_list("price", "fraction")) == [(D("61000"), D("1"))]
    assert copy.stop_loss == D("59000")
    assert Order.objects.filter(exchange=mirror, position=copy).count() == 1  # its own entry
    books.set_book(ladder("BTCUSDT", "61000.00", "61000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for position in (main, copy):
        position_check(position_id=position.pk, price=D("61000.00"), venue=venue_for(position.exchange))
        position.refresh_from_db()
        assert position.phase == PositionPhase.CLOSED
    assert Order.objects.filter(exchange=mirror, side="sell").count() == 1


def test_a_failing_mirror_never_blocks_the_main(paper, books, mirror):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    main = position_open(
        exchange=paper.exchange,
        symbol="BTCUSDT",
        amount=D("0.02"),
        take_profits=[(D("61000"), D("1"))],
        venue_for=venues(paper, books),
    )  # the mirror has no USDT
    assert main.phase == PositionPhase.MONITORING
    copy = Position.objects.get(mirror_of=main)
    assert copy.phase == PositionPhase.CLOSED  # its entry was refused: nothing bought, nothing held
    from positions import events

    events.flush()
    note = main.events.get(kind="position_update", payload__mirror="paper-mirror")
    assert "not placed" in note.payload["error"] or "funds" in note.payload["error"].lower()
