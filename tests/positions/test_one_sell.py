"""One sell at a time per position, accounting that never clamps, and operator changes the tick cannot undo."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from core.errors import IntegrityViolation
from orders.errors import SellAlreadyWorking
from orders.models import Order, OrderStatus
from positions import services
from positions.actions import position_add_take_profit, position_close_now, position_move_stop
from positions.models import Position, TakeProfitLevel
from positions.opening import position_open
from tests import factories as f
from tests.conftest import ladder

D = Decimal


@pytest.fixture
def opened(db, monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    return position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=venue,
                         take_profits=[(D("61000"), D("0.5"))], stop_loss=D("58000"))  # fmt: skip


def test_a_close_while_a_sell_works_is_refused_and_changes_nothing(opened, venue):
    working = f.OrderFactory(exchange=opened.exchange, market=opened.market, purpose="position", position=opened,
                             side="sell", intent=f"p{opened.pk}-sl", status=OrderStatus.OPEN)  # fmt: skip
    with pytest.raises(SellAlreadyWorking, match="A sell is already working on this position"):
        position_close_now(position_id=opened.pk, requested_by="test", venue=venue)
    opened.refresh_from_db()
    assert opened.stop_loss == D("58000")  # the ladder and stop did not stand down
    assert opened.take_profits.get().status == "PENDING"
    assert list(Order.objects.filter(position=opened, side="sell")) == [working]
    assert venue.calls["create_order"] == 1  # the entry only


def test_a_sale_beyond_what_is_held_is_an_integrity_error_not_a_clamp(opened):
    position = Position.objects.get(pk=opened.pk)
    order = f.OrderFactory(exchange=position.exchange, market=position.market, purpose="position", side="sell",
                           position=position, intent=f"p{position.pk}-close", status=OrderStatus.FILLED,
                           amount=position.remaining * 2, filled=position.remaining * 2, cost=D("1"))  # fmt: skip
    with pytest.raises(IntegrityViolation, match="more than the"):
        services._account_exit(position, [order], "operator_action")
    assert Position.objects.get(pk=position.pk).remaining == opened.remaining


def test_the_trailing_stop_never_overwrites_an_operators_move(opened, venue, monkeypatch):
    Position.objects.filter(pk=opened.pk).update(trailing_stop_bps=100)
    position = Position.objects.select_related("market", "exchange").get(pk=opened.pk)
    trail = services.trailed_stop

    def operator_moves_meanwhile(*args):  # the operator's move lands between the check's read and its write
        position_move_stop(position_id=opened.pk, stop_loss=D("59500.00"), requested_by="operator")
        return trail(*args)

    monkeypatch.setattr(services, "trailed_stop", operator_moves_meanwhile)
    outcome = services._exits(position, {}, D("60000.00"), venue, position.created_at)
    assert outcome == "stop changed meanwhile"
    assert Position.objects.get(pk=opened.pk).stop_loss == D("59500.00")


@pytest.mark.django_db(transaction=True)
def test_two_take_profits_added_at_once_never_exceed_the_whole_position():
    position = f.PositionFactory(entry_price=D("100"))
    barrier, results = threading.Barrier(2), []

    def add(price):
        try:
            barrier.wait()
            results.append(position_add_take_profit(position_id=position.pk, price=D(price), fraction=D("0.6"),
                                                    requested_by="race"))  # fmt: skip
        except ValidationError as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(p,)) for p in ("110", "120")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(type(r).__name__ for r in results) == ["TakeProfitLevel", "ValidationError"]
    assert sum(TakeProfitLevel.objects.filter(position=position).values_list("fraction", flat=True)) == D("0.6")
