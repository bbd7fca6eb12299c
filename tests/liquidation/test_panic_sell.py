"""Panic sells hop by hop: bad requests refused, a refused hop retried, a stale one dropped, a hopeless one failed."""

from decimal import Decimal

import pytest

from core.errors import Conflict, DomainError
from cycles.liquidating import cycle_panic_sell
from cycles.models import CycleState
from exchanges.paper import paper_deposit
from liquidation import services
from liquidation.models import PanicSell, PanicSellState
from liquidation.services import panic_sell_advance, panic_sell_start
from orders.models import Order, OrderPurpose, OrderRole, OrderStatus
from tests.cycles.conftest import strategy  # noqa: F401 - the fixture
from tests.factories import CycleFactory

D = Decimal


@pytest.mark.parametrize(
    ("asset", "amount", "message"),
    [("ETH", D(0), "must be above zero"), ("ETH", D("-1"), "must be above zero"), ("DOGE", D(1), "no market")],
)
def test_a_panic_sell_that_cannot_be_done_is_refused_before_anything_is_recorded(paper, asset, amount, message):
    with pytest.raises(DomainError, match=message):
        panic_sell_start(exchange=paper.exchange, asset=asset, amount=amount, requested_by="test")
    assert not PanicSell.objects.exists()


def test_a_cycle_already_being_liquidated_is_not_liquidated_twice(paper, strategy):  # noqa: F811
    cycle = CycleFactory(strategy=strategy, state=CycleState.FAILED, held_asset="ETH", held_amount=D("0.5"))
    first = cycle_panic_sell(cycle=cycle, requested_by="test")
    with pytest.raises(Conflict, match="already being liquidated"):
        cycle_panic_sell(cycle=cycle, requested_by="test")
    assert list(PanicSell.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_hop_the_venue_refuses_is_retried_and_the_sale_completes(paper, venue):
    panic = panic_sell_start(exchange=paper.exchange, asset="ETH", amount=D("1"), requested_by="test",
                             base_currencies=["USDT"])  # fmt: skip
    assert panic_sell_advance(panic_sell_id=panic.pk, venue=venue) == "retrying"  # the ETH is not there yet
    refused = Order.objects.get(panic_sell=panic)
    assert (refused.status, refused.purpose, refused.role) == (OrderStatus.REJECTED, OrderPurpose.LIQUIDATION,
                                                               OrderRole.HOP)  # fmt: skip
    paper_deposit(exchange=paper.exchange, asset="ETH", amount=D("1"))
    assert panic_sell_advance(panic_sell_id=panic.pk, venue=venue) == "completed"
    panic.refresh_from_db()
    assert (panic.state, panic.held_asset, panic.hops_done) == (PanicSellState.COMPLETED, "USDT", 2)
    assert panic.held_amount == D("3000.00") * D("0.999")


def test_a_hop_for_a_panic_sell_that_ended_meanwhile_is_not_placed(paper, venue, monkeypatch):
    paper_deposit(exchange=paper.exchange, asset="ETH", amount=D("1"))
    panic = panic_sell_start(exchange=paper.exchange, asset="ETH", amount=D("1"), requested_by="test")
    route = services.venue_router

    def router_then_failed_elsewhere(exchange, venue):  # another worker fails it while this one routes
        PanicSell.objects.filter(pk=panic.pk).update(state=PanicSellState.FAILED)
        return route(exchange, venue)

    monkeypatch.setattr(services, "venue_router", router_then_failed_elsewhere)
    assert panic_sell_advance(panic_sell_id=panic.pk, venue=venue) == "superseded"
    assert not Order.objects.filter(panic_sell=panic).exists()


def test_a_cycle_s_panic_sell_that_keeps_failing_gives_up_and_fails_the_cycle(paper, venue, strategy, settings):  # noqa: F811
    settings.PANIC_MAX_FAILED_HOPS = 2
    # The cycle says it holds 1 ETH; the account has none, so every hop is refused.
    cycle = CycleFactory(strategy=strategy, state=CycleState.FAILED, held_asset="ETH", held_amount=D("1"))
    panic = cycle_panic_sell(cycle=cycle, requested_by="test")
    assert [panic_sell_advance(panic_sell_id=panic.pk, venue=venue) for _ in range(3)] == [
        "retrying", "retrying", "failed",
    ]  # fmt: skip
    panic.refresh_from_db()
    cycle.refresh_from_db()
    assert panic.state == PanicSellState.FAILED
    assert "still holding 1.000000000000000000 ETH after 2 hops" in panic.error
    assert (cycle.state, cycle.error) == (CycleState.FAILED, panic.error)


def test_a_hop_that_buys_spends_a_little_less_than_is_held(paper, venue, settings):
    panic = panic_sell_start(exchange=paper.exchange, asset="USDT", amount=D("6000"), requested_by="test",
                             base_currencies=["BTC"])  # fmt: skip
    assert panic_sell_advance(panic_sell_id=panic.pk, venue=venue) == "completed"
    hop = Order.objects.get(panic_sell=panic)
    assert (hop.side, hop.market.symbol) == ("buy", "BTCUSDT")
    assert hop.cost <= D("6000") * (1 - D(settings.CYCLE_BUY_BUFFER_BPS) / 10_000)
    panic.refresh_from_db()
    assert (panic.state, panic.held_asset, panic.held_amount) == (PanicSellState.COMPLETED, "BTC", hop.received)
    assert D(panic.residuals["USDT"]) == D("6000") - hop.cost
