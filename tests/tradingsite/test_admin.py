"""The admin: every model's list and detail pages render; credentials never shown."""

import pytest
from django.contrib import admin
from django.urls import reverse

from exchanges.models import Exchange
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows():
    leg = f.CycleLegFactory()
    order = f.OrderFactory(exchange=leg.cycle.strategy.exchange, market=leg.market, purpose="cycle", cycle=leg.cycle)
    f.FillFactory(order=order)
    f.ReservationFactory(strategy=leg.cycle.strategy)
    f.TakeProfitLevelFactory()
    f.PositionEventFactory()
    f.CopyTradeFactory()


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_admin_list_and_change_pages_render(client, operator, rows, model):
    client.force_login(operator)
    meta = model._meta
    changelist = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    assert changelist.status_code == 200
    obj = model.objects.first()
    if obj is not None:
        change = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200


def test_admin_never_renders_credentials_and_blank_keeps_them(client, operator):
    client.force_login(operator)
    exchange = Exchange.objects.create(
        name="cx", kind="ccxt", ccxt_id="binance", api_key="K-SECRET", api_secret="S-SECRET"
    )
    url = reverse("admin:exchanges_exchange_change", args=[exchange.pk])
    page = client.get(url).content.decode()
    assert "K-SECRET" not in page
    assert "S-SECRET" not in page
    response = client.post(
        url,
        {"name": "cx", "kind": "ccxt", "ccxt_id": "binance", "role": "main", "mirror_ratio": "1", "enabled": "on",
         "api_key": "", "api_secret": "", "api_password": "",
         # the inline formsets (faults, paper balances), unchanged
         "faults-TOTAL_FORMS": "0", "faults-INITIAL_FORMS": "0",
         "paper_balances-TOTAL_FORMS": "0", "paper_balances-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302
    exchange.refresh_from_db()
    assert (exchange.api_key, exchange.api_secret) == ("K-SECRET", "S-SECRET")


def test_orders_cannot_be_edited_in_admin(client, operator):
    client.force_login(operator)
    order = f.OrderFactory()
    response = client.post(reverse("admin:orders_order_change", args=[order.pk]), {"status": "FILLED"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "NEW"


def test_admin_is_branded_and_links_docs_and_health(client, operator):
    client.force_login(operator)
    page = client.get(reverse("admin:index")).content.decode()
    assert "tradingsite operations" in page
    assert 'href="/api/docs/"' in page
    assert 'href="/healthz"' in page
