"""Panic sell by hand: API and admin, behind their own permission, recorded with who asked."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from cycles.models import CycleState
from exchanges.paper import paper_deposit
from liquidation.models import PanicSell, PanicSellState
from liquidation.services import panic_sell_advance
from tests.cycles.conftest import balances
from tests.factories import CycleFactory

D = Decimal


def test_a_balance_panic_sell_needs_the_permission(paper, viewer):
    client = APIClient()
    client.force_authenticate(viewer)
    body = {"exchange": paper.exchange.pk, "asset": "ETH", "amount": "1"}
    assert client.post("/api/panic-sells/", body, format="json").status_code == 403
    assert not PanicSell.objects.exists()


def test_an_operator_sells_a_balance_to_usdt_through_the_best_route(paper, api, operator, venue):
    paper_deposit(exchange=paper.exchange, asset="ETH", amount=D("2"))
    before = balances(paper.exchange)
    body = {"exchange": paper.exchange.pk, "asset": "eth", "amount": "2", "base_currencies": ["USDT"]}
    response = api.post("/api/panic-sells/", body, format="json")
    assert response.status_code == 202, response.content
    panic = PanicSell.objects.get(pk=response.data["id"])
    assert panic.requested_by == f"api:{operator.username}"
    assert panic.asset == "ETH"
    assert panic_sell_advance(panic_sell_id=panic.pk, venue=venue) == "completed"
    panic.refresh_from_db()
    assert panic.state == PanicSellState.COMPLETED
    after = balances(paper.exchange)
    assert after["ETH"] == before["ETH"] - 2
    assert after["USDT"] - before["USDT"] == panic.held_amount  # proceeds, net of the fee
    assert panic.held_amount == D("2") * D("3000.00") * D("0.999")  # the ETHUSDT bid beats ETH -> BTC -> USDT


def test_bad_balance_requests_get_a_clear_400(paper, api):
    r = api.post("/api/panic-sells/", {"exchange": paper.exchange.pk, "asset": "DOGE", "amount": "1"}, format="json")
    assert r.status_code == 400
    assert "no market trading DOGE" in str(r.data)
    r = api.post("/api/panic-sells/", {"exchange": paper.exchange.pk, "asset": "ETH", "amount": "-1"}, format="json")
    assert r.status_code == 400
    assert "amount" in r.data


@pytest.mark.parametrize("state", [CycleState.FAILED, CycleState.COMPLETED])
def test_panic_selling_a_cycle_takes_failed_ones_only(paper, strategy, api, state):
    cycle = CycleFactory(strategy=strategy, state=state, held_asset="ETH", held_amount=D("0.5"))
    response = api.post(f"/api/cycles/{cycle.pk}/panic-sell/")
    if state == CycleState.FAILED:
        assert response.status_code == 202
        cycle.refresh_from_db()
        assert cycle.state == CycleState.LIQUIDATING
        assert PanicSell.objects.get(cycle=cycle).held_amount == D("0.5")
    else:
        assert response.status_code == 409
        assert not PanicSell.objects.exists()


def test_the_admin_action_starts_a_panic_sell_recorded_with_the_operator(paper, strategy, client, operator):
    cycle = CycleFactory(strategy=strategy, state=CycleState.FAILED, held_asset="BTC", held_amount=D("0.01"))
    client.force_login(operator)
    response = client.post(
        "/admin/cycles/cycle/", {"action": "panic_sell", "_selected_action": [cycle.pk]}, follow=True
    )
    assert response.status_code == 200
    panic = PanicSell.objects.get(cycle=cycle)
    assert panic.requested_by == f"admin:{operator.username}"
    assert "panic sell" in response.content.decode().lower()
