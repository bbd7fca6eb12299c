"""The admin writes through the services: what the API refuses, the admin refuses on the form, saving nothing."""

import json

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse

from cycles.models import Strategy
from exchanges.models import Exchange, VenueFaults
from tests import factories as f
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _form_data(obj, **changes) -> dict:
    """What the change page would post for `obj` unchanged, with `changes` (fields of its admin form only)."""
    fields = [field.name for field in obj._meta.concrete_fields if field.editable and not field.primary_key]
    model_admin = admin.site._registry.get(type(obj))
    if model_admin is not None:
        request = RequestFactory().get("/")
        request.user = UserFactory(username="form-reader", is_staff=True, is_superuser=True)
        fields = [name for name in model_admin.get_form(request, obj).base_fields if name in fields]
    data = {}
    for name, value in {**model_to_dict(obj, fields=fields), **changes}.items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list):
            data[name] = json.dumps(value)
        else:
            data[name] = "" if value is None else str(value)
    return data


def _change(client, obj, data):
    meta = obj._meta
    return client.post(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]), data)


def test_a_strategy_saved_in_the_admin_is_normalized_like_the_api_does_it(client, operator):
    client.force_login(operator)
    strategy = f.StrategyFactory()
    response = _change(client, strategy, _form_data(strategy, start_asset=" usdt ", panic_base_currencies=["usdc"]))
    assert response.status_code == 302
    strategy.refresh_from_db()
    assert (strategy.start_asset, strategy.panic_base_currencies) == ("USDT", ["USDC"])


def test_a_strategy_with_a_bad_asset_list_is_refused_on_the_form(client, operator):
    client.force_login(operator)
    strategy = f.StrategyFactory(panic_base_currencies=["USDT"])
    response = _change(client, strategy, _form_data(strategy, panic_base_currencies='"USDT"'))
    assert response.status_code == 200
    assert "Give a list of asset codes, e.g. [USDT, USDC]." in response.content.decode()
    assert Strategy.objects.get(pk=strategy.pk).panic_base_currencies == ["USDT"]


def test_an_account_may_not_mirror_a_mirror_in_the_admin_either(client, operator):
    client.force_login(operator)
    main = f.ExchangeFactory(name="main-acct")
    mirror = f.ExchangeFactory(name="mirror-acct", role="mirror", mirror_of=main)
    other = f.ExchangeFactory(name="other-acct")
    response = _change(
        client, other, {**_form_data(other, role="mirror", mirror_of=mirror.pk), "paper_balances-TOTAL_FORMS": "0",
                        "paper_balances-INITIAL_FORMS": "0", "faults-TOTAL_FORMS": "0", "faults-INITIAL_FORMS": "0"}
    )  # fmt: skip
    assert response.status_code == 200
    assert "is itself a mirror; mirror a main account." in response.content.decode()
    assert Exchange.objects.get(pk=other.pk).role == "main"


def test_faults_are_edited_on_paper_accounts_only_and_saved_by_the_service(client, operator):
    client.force_login(operator)
    ccxt = Exchange.objects.create(name="real-acct", kind="ccxt", ccxt_id="binance")
    page = client.get(reverse("admin:exchanges_exchange_change", args=[ccxt.pk])).content.decode()
    assert "faults-TOTAL_FORMS" not in page
    paper = f.ExchangeFactory(name="paper-acct")
    faults = VenueFaults.objects.create(exchange=paper)
    page = client.get(reverse("admin:exchanges_exchange_change", args=[paper.pk])).content.decode()
    assert "faults-TOTAL_FORMS" in page
    data = {
        **_form_data(paper),
        "paper_balances-TOTAL_FORMS": "0", "paper_balances-INITIAL_FORMS": "0",
        "faults-TOTAL_FORMS": "1", "faults-INITIAL_FORMS": "1", "faults-0-id": str(faults.pk),
        "faults-0-exchange": str(paper.pk),
        **{f"faults-0-{k}": v for k, v in _form_data(faults, enabled=True, latency_ms=250).items() if k != "exchange"},
    }  # fmt: skip
    assert _change(client, paper, data).status_code == 302
    faults.refresh_from_db()
    assert (faults.enabled, faults.latency_ms) == (True, 250)
