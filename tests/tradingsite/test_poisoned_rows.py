"""A bad row never stalls a loop: it is recorded on itself and backed off, the healthy rows beside it are
handled in the same pass, and the loop goes on."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

import orders.monitoring
import positions.monitor
from core.isolation import backoff_s
from cycles.models import CycleState
from cycles.recovery import recover_cycles
from exchanges.models import Market
from orders.models import Order, OrderStatus
from orders.monitoring import orders_monitor_tick
from orders.services import order_place
from positions.models import Position, PositionPhase
from positions.monitor import positions_monitor_tick
from positions.opening import position_open
from positions.services import position_check
from tests import factories as f
from tests.conftest import ladder
from tests.cycles.conftest import open_cycle

D = Decimal
pytestmark = pytest.mark.django_db


def poison(monkeypatch, module, name, bad_pk, *, key="position_id"):
    """Make `module.name` raise a plain bug for one row (by its id keyword), pass the others through."""
    real = getattr(module, name)

    def maybe_fail(*args, **kwargs):
        if kwargs.get(key) == bad_pk:
            raise ZeroDivisionError("a bug this row triggers")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, maybe_fail)


def test_positions_tick_records_a_failing_position_and_handles_the_rest(monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    opened = [position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"), venue=venue,
                            take_profits=[(D("61000"), D("1"))], stop_loss=D("59000")) for _ in range(3)]  # fmt: skip
    bad = opened[1]
    now = timezone.now() + timedelta(seconds=1)
    Position.objects.update(next_check_at=now)
    books.set_book(ladder("BTCUSDT", "61000.00", "61000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    poison(monkeypatch, positions.monitor, "position_check", bad.pk)
    result = positions_monitor_tick(now=now, venue_for=lambda exchange: venue)
    assert result.failed == 1
    for position in opened:
        position.refresh_from_db()
    assert [p.phase for p in opened] == [PositionPhase.CLOSED, PositionPhase.MONITORING, PositionPhase.CLOSED]
    assert "ZeroDivisionError: a bug this row triggers" in opened[1].last_error
    assert opened[1].errors_in_a_row == 1
    assert opened[1].next_check_at >= now + timedelta(seconds=backoff_s(1))
    monkeypatch.undo()  # fixed: the next check succeeds and clears the error
    position_check(position_id=bad.pk, price=D("61000.00"), venue=venue)
    bad.refresh_from_db()
    assert (bad.phase, bad.last_error, bad.errors_in_a_row) == (PositionPhase.CLOSED, "", 0)


def test_an_entry_of_one_lot_with_the_fee_in_the_coin_closes_as_dust(paper, venue):
    market = Market.objects.get(exchange=paper.exchange, symbol="ETHBTC")
    position = f.PositionFactory(exchange=paper.exchange, market=market, amount=D("0.001"), remaining=D(0))
    f.OrderFactory(exchange=paper.exchange, market=market, purpose="position", position=position, side="buy",
                   intent=f"p{position.pk}-entry", status=OrderStatus.FILLED, amount=D("0.001"), filled=D("0.001"),
                   average=D("0.05"), cost=D("0.00005"), fee=D("0.000001"), fee_asset="ETH")  # fmt: skip
    assert position_check(position_id=position.pk, price=D("0.05"), venue=venue) == "closed"
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    closed = position.events.get(kind="position_closed")
    assert closed.payload["reason"].startswith("dust: the entry bought 0.001")


def test_orders_monitor_records_a_failing_order_and_checks_the_rest(monkeypatch, venue, paper):
    btc = Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
    resting = [order_place(exchange=paper.exchange, market=btc, side="buy", type="limit", amount=D("0.01"),
                           price=D("59000") - i, purpose="manual", intent=f"r{i}", venue=venue)
               for i in range(3)]  # fmt: skip
    venue.inner.cancel_order(symbol="BTCUSDT", client_order_id=resting[0].client_order_id)
    venue.inner.cancel_order(symbol="BTCUSDT", client_order_id=resting[2].client_order_id)
    venue.inner.cancel_order(symbol="BTCUSDT", client_order_id=resting[1].client_order_id)
    now = timezone.now() + timedelta(seconds=1)
    Order.objects.update(next_check_at=now)
    poison(monkeypatch, orders.monitoring, "order_record_answer", resting[1].pk, key="order_id")
    result = orders_monitor_tick(exchange_id=paper.exchange.pk, market_id=btc.pk, now=now, venue=venue)
    assert result.failed == 1
    statuses = [Order.objects.get(pk=o.pk).status for o in resting]
    assert statuses == [OrderStatus.CANCELED, OrderStatus.OPEN, OrderStatus.CANCELED]
    bad = Order.objects.get(pk=resting[1].pk)
    assert "ZeroDivisionError" in bad.last_error
    assert bad.next_check_at >= now + timedelta(seconds=backoff_s(1))


def test_recovery_reports_a_failing_cycle_for_an_operator_and_recovers_the_rest(monkeypatch, paper, venue):
    from cycles import recovery

    strategy = f.StrategyFactory(exchange=paper.exchange, max_open_cycles=5)
    cycles = [open_cycle(strategy, amount="100") for _ in range(2)]
    real = recovery._recover_one

    def maybe_fail(cycle, venue):
        if cycle.pk == cycles[0].pk:
            raise KeyError("a missing key this cycle triggers")
        return real(cycle, venue)

    monkeypatch.setattr(recovery, "_recover_one", maybe_fail)
    report = recover_cycles(venue_for=lambda exchange: venue)
    by_ref = {finding.ref: finding for finding in report.findings}
    assert by_ref[f"cycle {cycles[0].pk}"].action == "operator"
    assert "KeyError" in by_ref[f"cycle {cycles[0].pk}"].reason
    cycles[1].refresh_from_db()
    assert cycles[1].state in (CycleState.COMPLETED, CycleState.CANCELED, CycleState.LIQUIDATED)
