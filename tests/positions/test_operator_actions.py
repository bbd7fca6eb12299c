"""Operator actions on positions: permissioned, recorded with who asked, through the state machine."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from positions.models import Position, PositionPhase, TakeProfitStatus
from positions.opening import position_open
from tests.conftest import ladder

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def opened(monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    return position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=venue,
                         take_profits=[(D("61000"), D("0.5"))], stop_loss=D("58000"))  # fmt: skip


def actions(position) -> list[dict]:
    return list(position.events.filter(kind="operator_action").order_by("id").values_list("payload", flat=True))


def test_close_now_sells_everything_and_cancels_the_ladder(api, opened):
    response = api.post(f"/api/positions/{opened.pk}/close/")
    assert response.status_code == 200, response.json()
    opened.refresh_from_db()
    assert opened.phase == PositionPhase.CLOSED
    assert opened.remaining == 0
    assert opened.take_profits.get().status == TakeProfitStatus.CANCELED
    assert [a["action"] for a in actions(opened)] == ["close now", "closed now"]
    assert actions(opened)[0]["requested_by"] == "api:operator-test"
    assert api.post(f"/api/positions/{opened.pk}/close/").status_code == 409  # closed already


def test_move_the_stop_and_add_a_take_profit(api, opened):
    assert api.post(f"/api/positions/{opened.pk}/move-stop/", {"stop_loss": "59000.00"}).status_code == 200
    assert api.post(f"/api/positions/{opened.pk}/move-stop/", {"stop_loss": "59000.005"}).status_code == 400
    response = api.post(f"/api/positions/{opened.pk}/add-take-profit/", {"price": "62000", "fraction": "0.5"})
    assert response.status_code == 201, response.json()
    over = api.post(f"/api/positions/{opened.pk}/add-take-profit/", {"price": "63000", "fraction": "0.1"})
    assert over.status_code == 400
    assert "over 100%" in over.json()["fraction"][0]
    opened.refresh_from_db()
    assert opened.stop_loss == D("59000.00")
    assert list(opened.take_profits.values_list("index", "price")) == [(1, D("61000")), (2, D("62000"))]
    assert [a["action"] for a in actions(opened)] == ["move stop", "add take-profit"]


def test_the_kill_switch_stops_new_entries_only(api, opened, paper):
    response = api.post("/api/positions/stop-entries/", {"exchange": paper.exchange.pk, "halted": True})
    assert response.json()["entries_halted_by"] == "api:operator-test"
    refused = api.post("/api/positions/", {"exchange": paper.exchange.pk, "symbol": "BTCUSDT", "amount": "0.01",
                                           "stop_loss": "59000"}, format="json")  # fmt: skip
    assert refused.status_code == 409
    assert "stopped" in refused.json()["detail"]
    assert api.post(f"/api/positions/{opened.pk}/close/").status_code == 200  # open positions are still managed
    api.post("/api/positions/stop-entries/", {"exchange": paper.exchange.pk, "halted": False})
    again = api.post("/api/positions/", {"exchange": paper.exchange.pk, "symbol": "BTCUSDT", "amount": "0.01",
                                         "stop_loss": "59000"}, format="json")  # fmt: skip
    assert again.status_code == 201


def test_close_all_and_the_permissions(api, viewer, opened, paper):
    client = APIClient()
    client.force_authenticate(viewer)
    for url in (f"/api/positions/{opened.pk}/close/", "/api/positions/close-all/"):
        assert client.post(url).status_code == 403
    assert (
        client.post("/api/positions/stop-entries/", {"exchange": paper.exchange.pk, "halted": True}).status_code == 403
    )
    response = api.post("/api/positions/close-all/", {"exchange": paper.exchange.pk})
    assert response.json() == {str(opened.pk): "CLOSED"}
    assert not Position.objects.exclude(phase=PositionPhase.CLOSED).exists()


def test_a_close_to_stable_routes_the_proceeds_of_a_btc_quoted_position_to_usdt(api, monkeypatch, paper, venue):
    from exchanges.paper import paper_deposit
    from liquidation.models import PanicSell, PanicSellState
    from liquidation.services import panic_sell_advance

    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    monkeypatch.setattr("liquidation.services.panic_sell_schedule", lambda **kwargs: None)  # advanced by hand below
    paper_deposit(exchange=paper.exchange, asset="BTC", amount=D("1"))
    position = position_open(exchange=paper.exchange, symbol="ETHBTC", amount=D("2"), venue=venue,
                             stop_loss=D("0.04"))  # fmt: skip
    response = api.post(f"/api/positions/{position.pk}/close/", {"to_stable": True}, format="json")
    assert response.status_code == 200, response.json()
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    assert position.close_to_stable
    close = position.orders.get(intent=f"p{position.pk}-close")
    proceeds = close.cost - close.fee  # BTC, the quote
    panic = PanicSell.objects.get()
    assert (panic.asset, panic.amount, panic.base_currencies) == ("BTC", proceeds, ["USDT", "USDC"])
    closed = actions(position)[-1]
    assert closed["action"] == "closed now"
    assert closed["to_stable"] == f"panic sell {panic.pk} of {proceeds} BTC"
    panic_sell_advance(panic_sell_id=panic.pk, venue=venue)
    panic.refresh_from_db()
    assert panic.state == PanicSellState.COMPLETED
    assert panic.held_asset == "USDT"
    assert panic.held_amount > 0


def test_a_close_to_stable_of_a_usdt_position_needs_no_conversion(api, opened):
    from liquidation.models import PanicSell

    assert api.post(f"/api/positions/{opened.pk}/close/", {"to_stable": True}, format="json").status_code == 200
    assert actions(opened)[-1]["to_stable"] == "proceeds already in USDT"
    assert not PanicSell.objects.exists()
