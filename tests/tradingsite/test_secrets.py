"""Credentials are write-only everywhere; keys rotate; API tokens are hashed and expire."""

import io
import logging
import os
import subprocess
import sys
from datetime import timedelta

import ccxt
import pytest
from cryptography.fernet import Fernet
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.errors import redact
from exchanges.ccxt_venue import CcxtVenue
from exchanges.errors import VenueError
from exchanges.models import Exchange
from exchanges.parsing import parse_retry_after
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
KEY, SECRET = "K-PLAIN-api-key-1234", "S-PLAIN-api-secret-5678"


@pytest.fixture
def account():
    return Exchange.objects.create(name="cx", kind="ccxt", ccxt_id="binance", api_key=KEY, api_secret=SECRET)


def _staff(*codenames):
    user = UserFactory(username=f"staff-{'-'.join(codenames) or 'none'}", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_view_only_staff_sees_set_or_not_set_never_the_values(client, account):
    client.force_login(_staff("view_exchange"))
    page = client.get(reverse("admin:exchanges_exchange_change", args=[account.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert KEY not in html
    assert SECRET not in html
    assert "key set, secret set, password not set" in html
    assert 'name="api_key"' not in html  # no input to replace them without the change permission


def test_change_permission_gets_blank_inputs_to_replace_them(client, account):
    client.force_login(_staff("view_exchange", "change_exchange"))
    html = client.get(reverse("admin:exchanges_exchange_change", args=[account.pk])).content.decode()
    assert KEY not in html
    assert SECRET not in html
    assert 'name="api_key"' in html
    assert 'type="password"' in html


def test_api_and_schema_never_carry_credentials(api, account):
    body = api.get(f"/api/exchanges/{account.pk}/").content.decode()
    assert KEY not in body
    assert SECRET not in body
    assert api.get("/api/exchanges/").content.decode().count(KEY) == 0
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    exchange = schema["components"]["schemas"]["Exchange"]["properties"]
    assert "api_secret" not in exchange  # write-only: only in the request schema
    assert schema["components"]["schemas"]["ExchangeRequest"]["properties"]["api_secret"]["writeOnly"] is True


def test_ccxt_errors_lose_signed_urls_and_keys(account):
    signed = (
        f"binance GET https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature=abcdef0123 "
        f'{{"code":-1022,"msg":"Signature for this request is not valid. key {KEY}"}}'
    )

    class Client:
        markets = {"BTC/USDT": {"id": "BTCUSDT", "symbol": "BTC/USDT"}}
        markets_by_id = {"BTCUSDT": [{"symbol": "BTC/USDT"}]}

        def fetch_balance(self):
            raise ccxt.AuthenticationError(signed)

    venue = CcxtVenue(account, client=Client())
    with pytest.raises(VenueError) as caught:
        venue.fetch_balance()
    message = str(caught.value)
    assert "signature=" not in message
    assert "abcdef0123" not in message
    assert KEY not in message
    assert "https://api.binance.com/api/v3/order?" in message  # where it went stays readable
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_ccxt_logger_stays_above_debug(settings):
    from django.utils.log import configure_logging

    try:
        settings.LOGGING["root"]["level"] = "DEBUG"
        configure_logging(settings.LOGGING_CONFIG or "logging.config.dictConfig", settings.LOGGING)
        assert logging.getLogger("ccxt").getEffectiveLevel() >= logging.INFO
    finally:
        logging.getLogger("ccxt").setLevel(logging.NOTSET)


def test_redact_and_retry_after():
    assert redact("x https://h/p?a=1&signature=2 y", "tok") == "x https://h/p?… y"
    assert parse_retry_after("12", default=1, cap=60) == 12
    assert parse_retry_after("9999", default=1, cap=60) == 60
    assert parse_retry_after("nan", default=1, cap=60) == 1
    assert parse_retry_after("soon", default=1, cap=60) == 1
    now = timezone.now()
    http_date = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 28 <= parse_retry_after(http_date, default=1, cap=60, now=now) <= 31


def _stored(account) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_secret FROM exchanges_exchange WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


def test_rotation_reencrypts_every_row_with_the_newest_key(settings, account):
    old, new = settings.CREDENTIALS_KEYS or [], Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new, *old] if old else [new, _dev_key()]
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "exchanges.Exchange: 1 row(s)" in out.getvalue()
    assert Fernet(new).decrypt(_stored(account).encode()).decode() == SECRET
    settings.CREDENTIALS_KEYS = [new]  # the old key dropped: still readable
    assert Exchange.objects.get(pk=account.pk).api_secret == SECRET


def test_changing_secret_key_keeps_accounts_readable(settings, account):
    settings.SECRET_KEY = "a-completely-different-secret-key-" + "x" * 30
    assert Exchange.objects.get(pk=account.pk).api_key == KEY


def test_rows_from_before_credentials_key_are_read_and_rotated(settings, account):
    import base64
    import hashlib

    legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"the-old-secret-key").digest()))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE exchanges_exchange SET api_key = %s WHERE id = %s",
                       [legacy.encrypt(b"legacy-key").decode(), account.pk])  # fmt: skip
    settings.CREDENTIALS_LEGACY_SECRET_KEY = "the-old-secret-key"
    assert Exchange.objects.get(pk=account.pk).api_key == "legacy-key"
    call_command("rotate_credentials", stdout=io.StringIO())
    settings.CREDENTIALS_LEGACY_SECRET_KEY = ""
    assert Exchange.objects.get(pk=account.pk).api_key == "legacy-key"


def _dev_key() -> str:
    from core.fields import DEV_CREDENTIALS_KEY

    return DEV_CREDENTIALS_KEY.decode()


@pytest.mark.parametrize(
    ("credentials_key", "expected"),
    [("", "CREDENTIALS_KEY must be set"), ("not-a-fernet-key", "not a Fernet key"), (None, "OK")],
)
def test_production_settings_need_a_real_credentials_key(credentials_key, expected):
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_KEY"}
    env |= {"DEBUG": "False", "SECRET_KEY": "s" * 60, "DJANGO_SETTINGS_MODULE": "tradingsite.settings"}
    env["CREDENTIALS_KEY"] = Fernet.generate_key().decode() if credentials_key is None else credentials_key
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('OK')"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert expected in result.stdout + result.stderr


def test_ensure_operator_issues_a_hashed_expiring_token_and_revokes_the_old_one():
    out = io.StringIO()
    call_command("ensure_operator", "--username", "op-t", stdout=out)
    first = out.getvalue().split("API token (expires ")[1].split(": ", 1)[1].split()[0]
    row = AuthToken.objects.get(user__username="op-t")
    assert row.digest != first
    assert first not in row.digest
    assert row.expiry is not None
    assert row.expiry > timezone.now()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.get("/api/exchanges/").status_code == 200
    call_command("ensure_operator", "--username", "op-t", stdout=io.StringIO())
    assert client.get("/api/exchanges/").status_code == 401  # the reset revoked it
    second_row = AuthToken.objects.get(user__username="op-t")
    AuthToken.objects.filter(pk=second_row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert not AuthToken.objects.filter(expiry__gt=timezone.now(), user__username="op-t").exists()


def test_plain_key_token_admin_is_gone():
    from django.contrib import admin

    labels = {model._meta.label for model in admin.site._registry}
    assert "authtoken.Token" not in labels
    assert "authtoken.TokenProxy" not in labels


def test_an_orders_last_error_never_holds_a_signed_url(paper, venue, monkeypatch):
    from exchanges.models import Market
    from orders.models import OrderStatus
    from orders.services import order_place

    def lost(**kwargs):
        raise ConnectionResetError(
            "POST https://api.binance.com/api/v3/order?symbol=BTCUSDT&signature=deadbeef01 reset"
        )

    monkeypatch.setattr(venue.inner, "create_order", lost)
    market = Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
    order = order_place(
        exchange=paper.exchange,
        market=market,
        side="buy",
        type="market",
        amount=__import__("decimal").Decimal("0.01"),
        purpose="manual",
        intent="m-lost",
        venue=venue,
    )
    assert order.status == OrderStatus.UNKNOWN
    assert "deadbeef01" not in order.last_error
    assert "signature" not in order.last_error
    assert "https://api.binance.com/api/v3/order?" in order.last_error


def test_a_polymarket_signing_key_is_write_only_in_the_api_and_the_admin(api, client, operator):
    private_key = "0x" + "5e" * 32
    response = api.post("/api/exchanges/", {"name": "pm-secret", "kind": "polymarket", "private_key": private_key,
                                            "signature_type": 0}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert private_key not in response.content.decode()
    account = Exchange.objects.get(name="pm-secret")
    assert account.private_key == private_key
    assert account.has_credentials
    assert private_key[2:] not in api.get(f"/api/exchanges/{account.pk}/").content.decode()
    client.force_login(operator)
    page = client.get(reverse("admin:exchanges_exchange_change", args=[account.pk])).content.decode()
    assert private_key[2:] not in page
    assert "private key set" in page
    refused = api.post("/api/exchanges/", {"name": "pm-proxy", "kind": "polymarket", "private_key": private_key,
                                           "signature_type": 1}, format="json")  # fmt: skip
    assert refused.status_code == 400
    assert "funder" in refused.content.decode()
