"""Operator actions on orders: cancel and re-check, from the API and the admin, permissioned."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from exchanges.models import PaperBalance
from orders import actions
from orders.models import Order, OrderStatus
from orders.services import order_place
from tests.conftest import ladder
from tests.factories import UserFactory

D = Decimal
S = OrderStatus


@pytest.fixture(autouse=True)
def _venue_is_the_test_paper(monkeypatch, paper):
    monkeypatch.setattr(actions, "get_venue", lambda exchange: paper)


@pytest.fixture
def resting(paper, btc):
    return order_place(
        exchange=paper.exchange, market=btc, side="buy", type="limit", amount=D("0.5"), price=D("59000"),
        purpose="manual", intent="op1", venue=paper,
    )  # fmt: skip


def usdt(paper):
    return PaperBalance.objects.get(exchange=paper.exchange, asset="USDT")


def test_cancel_from_the_api_releases_the_funds(api, resting, paper):
    assert usdt(paper).locked == D("29500")
    response = api.post(f"/api/orders/{resting.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == S.CANCELED
    assert usdt(paper).locked == 0
    assert usdt(paper).free == D("100000")


def test_cancelling_an_order_that_filled_first_records_the_fill(api, resting, books):
    books.set_book(ladder("BTCUSDT", "58000.00", "58990.00", "1.00"))
    response = api.post(f"/api/orders/{resting.pk}/cancel/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == S.FILLED
    assert D(body["filled"]) == D("0.5")


def test_cancelling_an_ended_order_is_a_conflict(api, resting):
    api.post(f"/api/orders/{resting.pk}/cancel/")
    response = api.post(f"/api/orders/{resting.pk}/cancel/")
    assert response.status_code == 409
    assert "already CANCELED" in response.json()["detail"]


def test_actions_need_their_permission(viewer, resting):
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.post(f"/api/orders/{resting.pk}/cancel/").status_code == 403
    assert client.post(f"/api/orders/{resting.pk}/recheck/").status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="recheck_order"))
    viewer = type(viewer).objects.get(pk=viewer.pk)  # drop the permission cache
    client.force_authenticate(viewer)
    assert client.post(f"/api/orders/{resting.pk}/recheck/").status_code == 200
    assert client.post(f"/api/orders/{resting.pk}/cancel/").status_code == 403
    assert Order.objects.get(pk=resting.pk).status == S.OPEN


def test_recheck_from_the_api_sees_a_fill_at_once(api, resting, books):
    books.set_book(ladder("BTCUSDT", "58000.00", "58990.00", "1.00"))
    response = api.post(f"/api/orders/{resting.pk}/recheck/")
    assert response.status_code == 200
    assert response.json()["status"] == S.FILLED
    assert Order.objects.get(pk=resting.pk).fills.count() == 1


def test_admin_actions_cancel_and_report_each_order(client, operator, resting, paper, btc):
    filled = order_place(
        exchange=paper.exchange, market=btc, side="buy", type="market", amount=D("0.01"), purpose="manual",
        intent="op2", venue=paper,
    )  # fmt: skip
    client.force_login(operator)
    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "cancel_orders", "_selected_action": [resting.pk, filled.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert "1 order(s) cancelled or settled." in text
    assert f"Order {filled.client_order_id} is already FILLED" in text
    assert Order.objects.get(pk=resting.pk).status == S.CANCELED


def test_admin_hides_actions_from_users_without_the_permission(client, db, resting):
    staff = UserFactory(username="staff-no-perms", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(staff)
    page = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert "cancel_orders" not in page
    response = client.post(
        reverse("admin:orders_order_changelist"), {"action": "cancel_orders", "_selected_action": [resting.pk]}
    )
    assert Order.objects.get(pk=resting.pk).status == S.OPEN
    assert response.status_code in (200, 302)
