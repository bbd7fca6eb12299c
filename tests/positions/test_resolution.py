"""Resolved prediction markets: each position closes at the payout, its working orders canceled first, the tokens
redeemed where the account can, with the events on the position; a second pass changes nothing."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from exchanges.models import Market, PaperBalance
from exchanges.services import markets_sync
from exchanges.types import MarketInfo
from orders.errors import OrderRejected
from orders.models import Order, OrderPurpose, OrderStatus
from orders.services import order_place
from positions.models import Position, PositionPhase, TakeProfitStatus
from positions.opening import position_open
from positions.resolution import positions_settle_resolved
from positions.services import position_check
from tests.conftest import MARKETS, ladder

D = Decimal
pytestmark = pytest.mark.django_db
YES = "YES7132PUSD"
LADDER = ((D("0.80"), D("1")),)


@pytest.fixture
def outcome(paper, books):
    """An outcome market (a token id) on the paper account, 1,000 pUSD to trade it, a book around 0.40."""
    info = MarketInfo(YES, "YES7132", "PUSD", D("0.01"), D("0.01"), D("5"), D("1"), D(0), D(0), external_id="7132")
    markets_sync(exchange=paper.exchange, markets=[*MARKETS, info])
    PaperBalance.objects.create(exchange=paper.exchange, asset="PUSD", free=D("1000"))
    books.set_book(ladder(YES, "0.40", "0.41", "0.01", sizes=("100", "100", "100", "100", "100")))
    return paper


def opened(paper, *, take_profits=LADDER, stop="0.20") -> Position:
    position = position_open(exchange=paper.exchange, symbol=YES, amount=D("50"), venue=paper,
                             take_profits=list(take_profits), stop_loss=D(stop))  # fmt: skip
    position_check(position_id=position.pk, venue=paper)  # the entry filled: monitoring
    position.refresh_from_db()
    assert position.phase == PositionPhase.MONITORING
    return position


def kinds(position) -> list[str]:
    return list(position.events.order_by("id").values_list("kind", flat=True))


def resolve(paper, *flags) -> str:
    out = io.StringIO()
    call_command("resolve_market", paper.exchange.name, YES, *flags, stdout=out)
    return out.getvalue()


def test_a_winning_market_closes_the_position_at_1_and_redeems_the_tokens(outcome, monkeypatch):
    monkeypatch.setattr("positions.resolution.get_venue", lambda exchange: outcome)
    position = opened(outcome)
    cost = position.cost_basis * position.remaining
    assert "settled" in resolve(outcome, "--winner", "--outcome", "Yes")
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    assert position.remaining == 0
    assert position.realized_pnl == D("50") - cost
    assert position.take_profits.get().status == TakeProfitStatus.CANCELED
    assert kinds(position)[-2:] == ["market_resolved", "position_closed"]
    event = position.events.get(kind="market_resolved").payload
    assert (event["outcome"], event["payout"], event["held"], event["redeemed"], event["paid"]) == (
        "Yes", "1", "50", True, "50"
    )  # fmt: skip
    balances = {b.asset: b.free for b in PaperBalance.objects.filter(exchange=outcome.exchange)}
    assert balances["YES7132"] == 0
    assert balances["PUSD"] == D("1000") - cost + D("50")
    market = Market.objects.get(exchange=outcome.exchange, symbol=YES)
    assert (market.active, market.payout) == (False, D(1))
    # Nothing trades there any more, and a second pass changes nothing.
    with pytest.raises(OrderRejected, match="resolved"):
        order_place(exchange=outcome.exchange, market=market, side="buy", type="market", amount=D("10"),
                    purpose=OrderPurpose.MANUAL, intent="after", attempt=1, venue=outcome)  # fmt: skip
    assert positions_settle_resolved(venue_for=lambda exchange: outcome) == {}
    assert kinds(position).count("market_resolved") == 1


def test_a_losing_market_cancels_the_working_sell_and_books_the_whole_cost_as_lost(outcome, monkeypatch):
    monkeypatch.setattr("positions.resolution.get_venue", lambda exchange: outcome)
    position = opened(outcome, take_profits=(), stop="0.05")
    resting = order_place(exchange=outcome.exchange, market=position.market, side="sell", type="limit",
                          amount=D("50"), price=D("0.90"), purpose=OrderPurpose.POSITION, role="reduce",
                          intent=f"p{position.pk}-reduce-1", attempt=1, position=position, venue=outcome)  # fmt: skip
    assert resting.status == OrderStatus.OPEN
    cost = position.cost_basis * position.remaining
    resolve(outcome, "--loser")
    resting.refresh_from_db()
    position.refresh_from_db()
    assert resting.status == OrderStatus.CANCELED
    assert position.phase == PositionPhase.CLOSED
    assert position.realized_pnl == -cost
    event = position.events.get(kind="market_resolved").payload
    assert (event["payout"], event["proceeds"], event["paid"]) == ("0", "0", "0")
    assert not Order.objects.filter(position=position, live=True).exists()


def test_the_monitor_sells_nothing_in_a_resolved_market(outcome):
    position = opened(outcome)
    Market.objects.filter(pk=position.market_id).update(resolved_at=position.created_at, payout=D(0))
    position_check(position_id=position.pk, price=D("0.10"), venue=outcome)  # under the stop
    assert not Order.objects.filter(position=position, side="sell").exists()
    assert Position.objects.get(pk=position.pk).phase == PositionPhase.MONITORING


def test_an_open_market_is_left_alone_and_bad_declarations_are_refused(outcome):
    position = opened(outcome)
    assert positions_settle_resolved(venue_for=lambda exchange: outcome) == {"open": 1}
    with pytest.raises(CommandError, match="Say what one token pays"):
        resolve(outcome)
    with pytest.raises(CommandError, match="outside 0 to 1"):
        resolve(outcome, "--payout", "1.5")
    with pytest.raises(CommandError, match="spot market"):
        call_command("resolve_market", outcome.exchange.name, "BTCUSDT", "--winner", stdout=io.StringIO())
    assert Position.objects.get(pk=position.pk).phase == PositionPhase.MONITORING
