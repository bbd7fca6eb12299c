"""Switches mean what they say: a disabled account places nothing; the kill switch stops every new entry
(cycles, positions, copies) while exits keep running."""

from decimal import Decimal

import pytest

from cycles.reservations import cycle_reserve
from exchanges.errors import EntriesHalted
from exchanges.models import Exchange, Market
from orders.errors import AccountDisabled
from orders.models import Order
from orders.services import order_place
from positions.actions import entries_halt
from positions.models import PositionPhase
from positions.opening import position_open
from positions.services import position_check
from tests import factories as f
from tests.conftest import ladder

D = Decimal
pytestmark = pytest.mark.django_db


def test_a_disabled_account_refuses_every_new_order(paper, venue):
    market = Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
    Exchange.objects.filter(pk=paper.exchange.pk).update(enabled=False)
    with pytest.raises(AccountDisabled, match="is disabled: it takes no new orders"):
        order_place(exchange=paper.exchange, market=market, side="buy", type="market", amount=D("0.01"),
                    purpose="manual", intent="m1", venue=venue)  # fmt: skip
    assert not Order.objects.exists()
    assert venue.calls["create_order"] == 0


def test_the_kill_switch_stops_new_cycles(paper):
    strategy = f.StrategyFactory(exchange=paper.exchange, max_open_cycles=3)
    entries_halt(exchange=paper.exchange, halted=True, requested_by="operator")
    with pytest.raises(EntriesHalted, match="new entries are stopped on its account \\(by operator\\)"):
        cycle_reserve(strategy_id=strategy.pk)
    entries_halt(exchange=paper.exchange, halted=False, requested_by="operator")
    assert cycle_reserve(strategy_id=strategy.pk).pk


def test_the_kill_switch_stops_new_positions_but_not_their_stops(monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    position = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=venue,
                             stop_loss=D("58000"))  # fmt: skip
    stale = Exchange.objects.get(pk=paper.exchange.pk)
    entries_halt(exchange=paper.exchange, halted=True, requested_by="operator")
    with pytest.raises(EntriesHalted):
        position_open(exchange=stale, symbol="BTCUSDT", amount=D("0.02"), venue=venue, stop_loss=D("58000"))
    books.set_book(ladder("BTCUSDT", "57000.00", "57000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    assert position_check(position_id=position.pk, price=D("57000.00"), venue=venue).startswith("stop")
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED  # the exit ran
