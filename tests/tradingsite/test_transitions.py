"""Status changes: only listed transitions; repeats are no-ops; racing changers serialize."""

import threading
from decimal import Decimal

import pytest
from django.db import connections

from core.errors import IllegalTransition
from cycles.models import CycleState
from cycles.services import cycle_transition
from orders.models import Order, OrderStatus
from orders.services import order_transition
from positions.models import PositionPhase, TakeProfitStatus
from positions.services import position_transition, take_profit_transition
from tests import factories as f
from wallets.models import CopyTradeStatus
from wallets.services import copy_trade_transition

pytestmark = pytest.mark.django_db


def _order(status):
    order = f.OrderFactory(status=status)
    return lambda to: order_transition(order_id=order.pk, to=to)


def _cycle(state):
    cycle = f.CycleFactory(state=state)
    return lambda to: cycle_transition(cycle_id=cycle.pk, to=to)


def _position(phase):
    position = f.PositionFactory(phase=phase)
    return lambda to: position_transition(position_id=position.pk, to=to)


def _tp(status):
    level = f.TakeProfitLevelFactory(status=status)
    return lambda to: take_profit_transition(level_id=level.pk, to=to)


def _copy(status):
    copy = f.CopyTradeFactory(status=status, reason="sized")
    return lambda to: copy_trade_transition(copy_trade_id=copy.pk, to=to)


ILLEGAL = [
    (_order, OrderStatus.FILLED, OrderStatus.OPEN),
    (_order, OrderStatus.CANCELED, OrderStatus.FILLED),
    (_order, OrderStatus.NEW, OrderStatus.FILLED),
    (_order, OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT),
    (_cycle, CycleState.COMPLETED, CycleState.EXECUTING),
    (_cycle, CycleState.PENDING, CycleState.COMPLETED),
    (_position, PositionPhase.CLOSED, PositionPhase.MONITORING),
    (_position, PositionPhase.PROFIT_TAKING, PositionPhase.MONITORING),
    (_tp, TakeProfitStatus.FILLED, TakeProfitStatus.PENDING),
    (_copy, CopyTradeStatus.SKIPPED, CopyTradeStatus.SUBMITTED),
]


@pytest.mark.parametrize(("make", "start", "to"), ILLEGAL)
def test_illegal_transition_raises_and_changes_nothing(make, start, to):
    move = make(start)
    with pytest.raises(IllegalTransition, match=f"from {start} to {to}"):
        move(to)
    _row, changed = move(start)  # the current state, unchanged
    assert changed is False


LEGAL = [
    (_order, OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN),
    (_order, OrderStatus.OPEN, OrderStatus.FILLED),
    (_cycle, CycleState.PENDING, CycleState.EXECUTING),
    (_cycle, CycleState.EXECUTING, CycleState.LIQUIDATING),
    (_position, PositionPhase.MONITORING, PositionPhase.PROFIT_TAKING),
    (_tp, TakeProfitStatus.PENDING, TakeProfitStatus.TRIGGERED),
    (_copy, CopyTradeStatus.PENDING, CopyTradeStatus.SUBMITTED),
]


@pytest.mark.parametrize(("make", "start", "to"), LEGAL)
def test_repeating_a_legal_transition_is_a_no_op(make, start, to):
    move = make(start)
    first, changed = move(to)
    assert changed is True
    stamp = first.updated_at if hasattr(first, "updated_at") else None
    again, changed_again = move(to)
    assert changed_again is False
    again.refresh_from_db()
    if stamp is not None:
        assert again.updated_at == stamp  # nothing was written


def test_terminal_transitions_stamp_their_time():
    order = f.OrderFactory(status=OrderStatus.OPEN)
    order, _ = order_transition(order_id=order.pk, to=OrderStatus.FILLED, filled=Decimal("1"))
    assert order.closed_at is not None
    assert order.filled == Decimal("1")
    cycle = f.CycleFactory(state=CycleState.PENDING)
    cycle, _ = cycle_transition(cycle_id=cycle.pk, to=CycleState.EXECUTING)
    assert cycle.started_at is not None
    assert cycle.finished_at is None
    position = f.PositionFactory(phase=PositionPhase.MONITORING, next_check_at="2030-01-01T00:00:00Z")
    position, _ = position_transition(position_id=position.pk, to=PositionPhase.CLOSED)
    position.refresh_from_db()
    assert position.closed_at is not None
    assert position.next_check_at is None


@pytest.mark.django_db(transaction=True)
def test_racing_transitions_serialize_on_the_row_lock():
    """Eight threads try to fill or cancel one open order: exactly one outcome wins."""
    order = f.OrderFactory(status=OrderStatus.OPEN)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        to = OrderStatus.FILLED if i % 2 else OrderStatus.CANCELED
        barrier.wait()
        try:
            _, changed = order_transition(order_id=order.pk, to=to)
            result = f"changed:{to}" if changed else f"noop:{to}"
        except IllegalTransition:
            result = "refused"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    changed = [o for o in outcomes if o.startswith("changed")]
    assert len(changed) == 1, outcomes
    winner = changed[0].split(":", 1)[1]
    assert Order.objects.get(pk=order.pk).status == winner
    # The losers either repeated the winner's transition (no-op) or were refused.
    assert all(o == f"noop:{winner}" or o == "refused" for o in outcomes if o not in changed)
