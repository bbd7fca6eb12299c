"""One live sell per position: a stop, a close, close-all and a copy's reduce race on the same positions
from four processes against real PostgreSQL, and nothing is sold twice (the database enforces it)."""

import pytest
from django.db import IntegrityError, transaction

from bench.oversell import run_oversell
from orders.models import Order, OrderStatus
from positions.models import Position
from tests import factories as f


@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_four_processes_racing_every_exit_never_oversell(worker_env):
    result = run_oversell(30, env=worker_env, seed=3)
    assert result["oversold"] == 0, result
    assert result["misaccounted"] == 0, result
    assert result["ledger_agrees"], result
    assert result["oversell_trials"] == 30
    outcomes = result["race_outcomes"]
    errors = {role: {k: v for k, v in counts.items() if k.startswith("error")} for role, counts in outcomes.items()}
    assert not any(errors.values()), errors
    # The losers were told why, and each position sold at most what it held.
    assert sum(counts.get("SellAlreadyWorking", 0) + counts.get("Conflict", 0) for counts in outcomes.values()) > 0


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_sell_on_a_position():
    position = f.PositionFactory()
    live = {"exchange": position.exchange, "market": position.market, "purpose": "position", "position": position,
            "side": "sell", "status": OrderStatus.OPEN}  # fmt: skip
    f.OrderFactory(intent=f"p{position.pk}-sl", **live)
    with pytest.raises(IntegrityError, match="order_one_live_sell_per_position"), transaction.atomic():
        f.OrderFactory(intent=f"p{position.pk}-close", **live)
    assert Order.objects.filter(position=position).count() == 1
    assert Position.objects.get(pk=position.pk).remaining == position.remaining
