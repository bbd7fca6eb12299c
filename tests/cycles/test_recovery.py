"""recover_cycles: a crash at any step is recovered, nothing is lost or placed twice, and a second run does nothing."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

import orders.services
from cycles.errors import StrategyOnHold
from cycles.models import Cycle, CycleState, Reservation, Strategy
from cycles.recovery import recover_cycles
from cycles.reservations import cycle_reserve
from cycles.services import cycle_advance
from exchanges.models import PaperOrder
from liquidation.models import PanicSellState
from orders.models import Fill, Order, OrderStatus
from tests.conftest import ladder
from tests.cycles.conftest import balances, open_cycle

D = Decimal


class Crash(BaseException):
    """The process dies here: nothing after it runs, no `except Exception` catches it."""


@pytest.fixture
def crash_at(monkeypatch):
    """Make the named failpoint kill the 'process' (raise Crash) the first time it is reached."""

    def arm(point: str) -> None:
        def failpoint(name: str) -> None:
            if name == point:
                monkeypatch.setattr(orders.services, "failpoint", lambda name: None)
                raise Crash(name)

        monkeypatch.setattr(orders.services, "failpoint", failpoint)

    return arm


@pytest.fixture(autouse=True)
def rich_eth(books):
    """ETH a little rich against USDT: USDT -> BTC -> ETH -> USDT pays, so finishing a cycle beats unwinding it."""
    books.set_book(ladder("ETHUSDT", "3040.00", "3040.10", "0.50", sizes=("10", "20", "30", "40", "50")))


@pytest.fixture
def quick_lookups(settings):
    """UNKNOWN orders declared not placed after two misses, without the production grace window."""
    settings.ORDER_SUBMIT_STALE_S = 0
    settings.ORDER_UNKNOWN_GRACE_S = 0
    settings.ORDER_UNKNOWN_MIN_MISSES = 2


def recover(venue, **kwargs):
    return recover_cycles(venue_for=lambda exchange: venue, **kwargs)


def crash_between_legs(cycle, venue) -> None:
    """Run the cycle until its worker dies right after leg 1 is recorded (before leg 2 is placed)."""

    def place(**kwargs):
        if kwargs["intent"].endswith("-l1"):
            raise Crash("between legs")
        return orders.services.order_place(**kwargs)

    with mock.patch("cycles.services.order_place", place), pytest.raises(Crash):
        cycle_advance(cycle_id=cycle.pk, venue=venue)
    assert Order.objects.get(cycle=cycle).status == OrderStatus.FILLED


def test_a_cycle_interrupted_between_legs_is_resumed_and_a_second_run_changes_nothing(paper, strategy, venue):
    cycle = open_cycle(strategy)
    crash_between_legs(cycle, venue)  # ETH still rich: finishing BTC -> ETH -> USDT beats selling the BTC back

    report = recover(venue)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.COMPLETED
    assert (report.found, report.resumed, report.recovered, report.needs_operator) == (1, 1, 1, 0)
    assert "finishing gives" in report.findings[0].reason
    assert Order.objects.filter(cycle=cycle).count() == 3
    assert PaperOrder.objects.filter(exchange=paper.exchange).count() == 3

    again = recover(venue)
    assert (again.found, again.recovered, again.orders_reconciled) == (0, 0, 0)
    assert again.clean


@pytest.mark.parametrize("point", ["order.before_submit", "order.after_submit"])
def test_a_crash_around_the_venue_call_is_settled_by_lookup_never_by_placing_again(
    paper, strategy, venue, crash_at, quick_lookups, point
):
    cycle = open_cycle(strategy)
    crash_at(point)
    with pytest.raises(Crash):
        cycle_advance(cycle_id=cycle.pk, venue=venue)
    order = Order.objects.get(cycle=cycle)
    assert order.status == OrderStatus.PENDING_SUBMIT  # committed before the call; the answer never recorded

    report = recover(venue, wait_s=5)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.COMPLETED, report.findings
    order.refresh_from_db()
    venue_orders = list(PaperOrder.objects.filter(exchange=paper.exchange).values_list("client_order_id", flat=True))
    assert len(venue_orders) == len(set(venue_orders)) == 3  # three legs, each placed once
    if point == "order.after_submit":  # the venue had it: found by its client id and kept
        assert order.status == OrderStatus.FILLED
        assert order.client_order_id in venue_orders
    else:  # never reached the venue: declared not placed, the leg placed again as attempt 2
        assert order.status == OrderStatus.REJECTED
        assert Order.objects.get(cycle=cycle, intent=order.intent, attempt=2).status == OrderStatus.FILLED
    assert recover(venue).found == 0


def test_finishing_worse_than_liquidating_unwinds_the_cycle(paper, strategy, books, venue):
    cycle = open_cycle(strategy)
    crash_between_legs(cycle, venue)
    # While it was down ETH fell: BTC -> ETH -> USDT now gives far less than selling the BTC back.
    books.set_book(ladder("ETHUSDT", "2500.00", "2500.10", "0.50", sizes=("10", "20", "30", "40", "50")))
    report = recover(venue)
    cycle.refresh_from_db()
    assert report.unwound == 1
    assert "liquidating gives" in report.findings[0].reason
    assert cycle.state == CycleState.LIQUIDATED
    panic = cycle.panic_sells.get()
    assert (panic.state, panic.asset, panic.held_asset) == (PanicSellState.COMPLETED, "BTC", "USDT")


def test_a_cycle_that_never_started_is_canceled_once_its_prices_are_stale(paper, strategy, venue, settings):
    cycle = open_cycle(strategy)  # its execute task was lost with the broker
    before = balances(paper.exchange)
    Cycle.objects.filter(pk=cycle.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    report = recover(venue)
    cycle.refresh_from_db()
    assert cycle.state == CycleState.CANCELED
    assert "stale" in cycle.error
    assert report.unwound == 1
    assert balances(paper.exchange) == before
    assert not Order.objects.filter(cycle=cycle).exists()


def test_an_unresolved_order_holds_the_strategy_until_a_clean_run(paper, strategy, venue, crash_at, settings):
    settings.ORDER_SUBMIT_STALE_S = 0
    settings.ORDER_UNKNOWN_GRACE_S = 3600  # the venue may still show it: not declared missing yet
    cycle = open_cycle(strategy)
    crash_at("order.before_submit")
    with pytest.raises(Crash):
        cycle_advance(cycle_id=cycle.pk, venue=venue)
    report = recover(venue)
    assert report.waiting == 1
    assert not report.clean
    strategy.refresh_from_db()
    assert "not confirmed" in strategy.recovery_hold
    with pytest.raises(StrategyOnHold, match="until recovery is clean"):
        cycle_reserve(strategy_id=strategy.pk)

    settings.ORDER_UNKNOWN_GRACE_S = 0
    settings.ORDER_UNKNOWN_MIN_MISSES = 1
    report = recover(venue)
    assert report.clean
    cycle.refresh_from_db()
    strategy.refresh_from_db()
    assert cycle.state == CycleState.COMPLETED
    assert strategy.recovery_hold == ""
    cycle_reserve(strategy_id=strategy.pk)  # open for business again


def test_an_open_venue_order_we_never_placed_is_adopted_and_flagged(paper, strategy, venue):
    venue.create_order(symbol="BTCUSDT", side="buy", type="limit", amount=D("0.01"), price=D("50000"),
                       client_order_id="by-hand-on-the-website")  # fmt: skip
    report = recover(venue)
    adopted = Order.objects.get(client_order_id="by-hand-on-the-website")
    assert (adopted.purpose, adopted.status, adopted.side, adopted.amount) == ("adopted", "OPEN", "buy", D("0.01"))
    assert "Adopted" in adopted.last_error
    assert report.orders_adopted == 1
    assert report.needs_operator == 1
    assert recover(venue).orders_adopted == 0  # adopted once


def test_integrity_repairs_what_is_safe(paper, strategy, venue):
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "completed"
    order = Order.objects.filter(cycle=cycle).first()
    true_filled = order.filled
    Order.objects.filter(pk=order.pk).update(filled=true_filled / 2)  # totals drifted from the fills
    stale = cycle_reserve(strategy_id=strategy.pk)
    Reservation.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(minutes=2), expires_at=timezone.now() - timedelta(minutes=1)
    )
    report = recover(venue)
    order.refresh_from_db()
    assert order.filled == true_filled == sum(f.amount for f in Fill.objects.filter(order=order))
    assert not Reservation.objects.filter(pk=stale.pk).exists()
    assert report.repaired == 2
    assert recover(venue).repaired == 0


def test_dry_run_changes_nothing_and_the_command_prints_json(paper, strategy, venue, monkeypatch):
    cycle = open_cycle(strategy)
    monkeypatch.setattr("cycles.recovery.get_venue", lambda exchange: venue)
    out = StringIO()
    call_command("recover_cycles", "--dry-run", "--json", stdout=out)
    body = json.loads(out.getvalue())
    assert body["dry_run"] is True
    assert body["found"] == 1
    assert "interrupted" in body["findings"][0]["reason"]
    cycle.refresh_from_db()
    assert cycle.state == CycleState.PENDING
    assert Strategy.objects.get(pk=strategy.pk).recovery_hold == ""

    out = StringIO()
    call_command("recover_cycles", "--strategy", strategy.name, stdout=out)
    text = out.getvalue()
    assert "resumed" in text
    assert text.strip().endswith("clean")
    cycle.refresh_from_db()
    assert cycle.state == CycleState.COMPLETED


def test_the_beat_sweep_leaves_moving_cycles_alone_and_recovers_stalled_ones(paper, strategy, venue, monkeypatch):
    from cycles.tasks import recover as sweep

    monkeypatch.setattr("cycles.recovery.get_venue", lambda exchange: venue)
    cycle = open_cycle(strategy)  # just opened: its task may be on its way
    assert sweep() == {"found": 0, "recovered": 0, "clean": True}
    assert Cycle.objects.get(pk=cycle.pk).state == CycleState.PENDING
    Cycle.objects.filter(pk=cycle.pk).update(updated_at=timezone.now() - timedelta(minutes=1))  # its task was lost
    assert sweep() == {"found": 1, "recovered": 1, "clean": True}
    assert Cycle.objects.get(pk=cycle.pk).state == CycleState.COMPLETED
