"""The owner registry: each purpose has one owner hook, run once the order's end is committed."""

from decimal import Decimal

import pytest

from orders import owners
from orders.models import OrderPurpose
from orders.services import order_place


def test_each_app_registered_the_owner_of_its_orders():
    registered = owners.owners()
    assert {OrderPurpose.CYCLE, OrderPurpose.POSITION, OrderPurpose.LIQUIDATION} <= set(registered)
    assert OrderPurpose.MANUAL not in registered  # an operator's own order wakes nobody


def test_a_purpose_has_one_owner():
    hook = owners.owners()[OrderPurpose.CYCLE]
    owners.register_owner(OrderPurpose.CYCLE, on_ended=hook)  # the same hook again (a second ready()): fine
    with pytest.raises(ValueError, match="registered already"):
        owners.register_owner(OrderPurpose.CYCLE, on_ended=lambda order: None)


def test_the_hook_runs_after_the_commit_that_ended_the_order(
    paper, venue, monkeypatch, django_capture_on_commit_callbacks
):
    ended = []
    monkeypatch.setitem(owners._on_ended, OrderPurpose.MANUAL, ended.append)
    btc = paper.exchange.markets.get(symbol="BTCUSDT")
    with django_capture_on_commit_callbacks(execute=True):
        order = order_place(exchange=paper.exchange, market=btc, side="buy", type="market", amount=Decimal("0.01"),
                            purpose="manual", intent="m1", venue=venue)  # fmt: skip
    assert order.is_terminal
    assert [o.pk for o in ended] == [order.pk]
