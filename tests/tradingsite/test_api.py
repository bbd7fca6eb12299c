"""The API: login required everywhere, writes need permissions, bad input gets a clear 4xx."""

import pytest
from django.db import connection
from django.urls import reverse

from exchanges.models import Exchange
from tests import factories as f
from tradingsite.api_router import router

pytestmark = pytest.mark.django_db

LIST_ROUTES = [prefix for prefix, _viewset, _basename in router.registry]


def _list_url(prefix: str) -> str:
    return f"/api/{prefix}/"


@pytest.mark.parametrize("prefix", LIST_ROUTES)
def test_every_endpoint_refuses_anonymous_access(anon_api, prefix):
    for method in ("get", "post"):
        response = getattr(anon_api, method)(_list_url(prefix))
        assert response.status_code == 401, (prefix, method, response.status_code)
    detail = anon_api.get(f"{_list_url(prefix)}1/")
    assert detail.status_code == 401


@pytest.mark.parametrize("path", ["/api/", "/api/schema/", "/api/docs/"])
def test_api_root_schema_and_docs_need_login(anon_api, path):
    assert anon_api.get(path).status_code in (401, 403)


@pytest.mark.parametrize("prefix", LIST_ROUTES)
def test_every_list_endpoint_answers_a_logged_in_user(api, prefix):
    response = api.get(_list_url(prefix))
    assert response.status_code == 200, response.content
    assert {"count", "results"} <= set(response.json())


def test_token_authentication_works(anon_api, operator):
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=operator)
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon_api.get("/api/exchanges/").status_code == 200
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anon_api.get("/api/exchanges/").status_code == 401


def test_schema_is_served_to_logged_in_users(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/orders/" in response.json()["paths"]


def test_reads_allowed_but_writes_refused_without_permission(viewer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/exchanges/").status_code == 200
    response = client.post("/api/exchanges/", {"name": "x"})
    assert response.status_code == 403


def test_orders_cannot_be_created_through_the_api(api):
    response = api.post("/api/orders/", {"amount": "1"})
    assert response.status_code == 405


def test_unknown_id_is_404(api):
    assert api.get("/api/cycles/999999/").status_code == 404


def test_bad_filter_value_is_400_not_500(api):
    response = api.get("/api/orders/?status=NOT_A_STATUS")
    assert response.status_code == 400
    assert "status" in response.json()
    assert api.get("/api/orders/?created_after=yesterday").status_code == 400


def test_mirror_without_main_account_is_400_with_reason(api):
    response = api.post("/api/exchanges/", {"name": "mirror-1", "role": "mirror"})
    assert response.status_code == 400
    assert "mirror" in str(response.json()).lower()


def test_mirror_of_a_mirror_is_refused(api):
    main = f.ExchangeFactory()
    mirror = f.ExchangeFactory(role="mirror", mirror_of=main)
    response = api.post("/api/exchanges/", {"name": "m2", "role": "mirror", "mirror_of": mirror.pk})
    assert response.status_code == 400
    assert "itself a mirror" in response.json()["mirror_of"][0]


def test_ccxt_exchange_needs_its_id(api):
    response = api.post("/api/exchanges/", {"name": "binance-main", "kind": "ccxt"})
    assert response.status_code == 400
    assert "ccxt id" in str(response.json())


def test_credentials_are_write_only_and_encrypted_at_rest(api):
    response = api.post(
        "/api/exchanges/",
        {"name": "binance-main", "kind": "ccxt", "ccxt_id": "binance", "api_key": "KEY123", "api_secret": "SEC456"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_credentials"] is True
    assert "KEY123" not in response.content.decode()
    assert "SEC456" not in response.content.decode()
    listing = api.get("/api/exchanges/").content.decode()
    assert "KEY123" not in listing
    assert "SEC456" not in listing
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM exchanges_exchange WHERE id = %s", [body["id"]])
        raw_key, raw_secret = cursor.fetchone()
    assert "KEY123" not in raw_key
    assert "SEC456" not in raw_secret
    stored = Exchange.objects.get(pk=body["id"])
    assert (stored.api_key, stored.api_secret) == ("KEY123", "SEC456")


def test_strategy_validation_names_the_field(api):
    exchange = f.ExchangeFactory()
    response = api.post(
        "/api/strategies/",
        {"name": "s1", "exchange": exchange.pk, "trade_amount": "-5", "panic_base_currencies": ["USDT"]},
    )
    assert response.status_code == 400
    assert "trade_amount" in str(response.json()) or "trade amount" in str(response.json()).lower()
    response = api.post(
        "/api/strategies/",
        {"name": "s1", "exchange": exchange.pk, "trade_amount": "100", "panic_base_currencies": []},
    )
    assert response.status_code == 400
    assert "panic_base_currencies" in response.json()


def test_strategy_created_and_listed_with_slot_usage(api):
    exchange = f.ExchangeFactory()
    response = api.post(
        "/api/strategies/",
        {"name": "tri", "exchange": exchange.pk, "trade_amount": "100", "panic_base_currencies": ["usdt", "usdc"]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["panic_base_currencies"] == ["USDT", "USDC"]
    listed = api.get("/api/strategies/").json()["results"][0]
    assert listed["open_cycles"] == 0
    assert listed["live_reservations"] == 0


def test_wallet_address_is_checksum_normalized(api):
    response = api.post("/api/wallets/", {"address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "label": "a"})
    assert response.status_code == 201, response.content
    assert response.json()["address"] == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("0x123", "40 hex digits"),
        ("not an address", "40 hex digits"),
        ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "checksum"),
    ],
)
def test_bad_wallet_address_is_400_with_reason(api, address, message):
    response = api.post("/api/wallets/", {"address": address})
    assert response.status_code == 400
    assert message in response.json()["address"][0]


def test_same_wallet_in_another_case_is_a_duplicate(api):
    assert api.post("/api/wallets/", {"address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}).status_code == 201
    response = api.post("/api/wallets/", {"address": "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"})
    assert response.status_code == 400
    assert "already exists" in str(response.json())


def test_wallet_ladder_over_100_percent_refused(api):
    response = api.post(
        "/api/wallets/",
        {
            "address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "take_profit_ladder": [{"pct": 5, "fraction": 0.7}, {"pct": 10, "fraction": 0.6}],
        },
    )
    assert response.status_code == 400
    assert "at most 100%" in response.json()["take_profit_ladder"][0]


def test_malformed_json_is_400(api):
    response = api.generic("POST", "/api/wallets/", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_nested_cycle_shows_its_legs(api):
    leg = f.CycleLegFactory()
    body = api.get(reverse("api:cycle-detail", args=[leg.cycle_id])).json()
    assert body["legs"][0]["symbol"] == leg.market.symbol


def test_huge_limits_and_offsets_are_bounded_not_a_500(api):
    f.ExchangeFactory()
    assert api.get("/api/exchanges/?limit=3359825878101966979072").status_code == 200
    assert len(api.get("/api/exchanges/?limit=99999999").json()["results"]) >= 1
    response = api.get("/api/exchanges/?offset=3359825878101966979072")
    assert response.status_code == 400
    assert "offset" in response.json()
