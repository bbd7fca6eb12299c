"""Every endpoint and action, checked anonymously (401/403), logged in without the permission (403) and with it;
/healthz tells strangers only ok or fail; admin logins are throttled."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
REPORTS = ["/api/accounts/", "/api/stats/", "/api/cache-stats/"]


def _operations(api) -> list[tuple[str, str]]:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return [(method.upper(), re.sub(r"\{[^}]+\}", "1", path))
            for path, item in schema["paths"].items() for method in item if method in ("get", "post", "put",
                                                                                    "patch", "delete")]  # fmt: skip


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def _call(client, method, path):
    return getattr(client, method.lower())(path, {}, format="json")


def test_every_operation_refuses_strangers_and_users_without_the_permission(api, viewer, nobody):
    operations = _operations(api)
    assert len(operations) > 30
    for method, path in operations:
        assert _call(_client(), method, path).status_code in (401, 403), (method, path)
        assert _call(_client(nobody), method, path).status_code == 403, (method, path)
        response = _call(_client(viewer), method, path)
        if path == "/api/cache-stats/":
            assert response.status_code == 403  # staff only: test_reports_need_their_permissions
        elif method == "GET":
            assert response.status_code in (200, 404), (method, path, response.status_code)
        else:  # view permissions read; they never write or act
            assert response.status_code in (403, 405), (method, path, response.status_code)


def test_the_operator_passes_every_permission_check(api):
    for method, path in _operations(api):
        assert _call(api, method, path).status_code not in (401, 403), (method, path)


@pytest.mark.parametrize("path", REPORTS)
def test_reports_need_their_permissions(path, viewer, nobody):
    assert _client().get(path).status_code in (401, 403)
    assert _client(nobody).get(path).status_code == 403
    if path == "/api/cache-stats/":
        assert _client(viewer).get(path).status_code == 403  # staff only
        viewer.is_staff = True
        viewer.save(update_fields=["is_staff"])
    assert _client(viewer).get(path).status_code == 200


def test_an_action_with_no_permission_named_is_refused(api, monkeypatch):
    from positions.api import PositionViewSet

    monkeypatch.setattr(PositionViewSet, "action_permissions", {})
    response = api.post("/api/positions/close-all/", {}, format="json")
    assert response.status_code == 403
    assert "names no permission" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_healthz_tells_strangers_only_ok_or_fail(client, operator):
    body = client.get("/healthz").json()
    assert body == {"status": "ok"}
    clerk = UserFactory(username="clerk")  # logged in, not staff: the same
    client.force_login(clerk)
    assert client.get("/healthz").json() == {"status": "ok"}
    client.force_login(operator)
    assert set(client.get("/healthz").json()) == {"status", "failing", "components"}


@pytest.mark.django_db(transaction=True)
def test_healthz_is_throttled_per_address(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "health": "3/min"}}  # fmt: skip
    codes = [client.get("/healthz").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.django_db(transaction=True)
def test_the_health_checks_statement_timeout_applies():
    from django.db import OperationalError

    from dashboard.health import check_postgres

    with pytest.raises(OperationalError, match="statement timeout"):
        check_postgres(0.2, probe="SELECT pg_sleep(2)")


def test_admin_logins_are_throttled(client, settings):
    UserFactory(username="admin-user", is_staff=True, password="right-password-123")
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "admin-user", "password": "wrong"})
    locked = client.post(url, {"username": "admin-user", "password": "right-password-123"})
    assert locked.status_code == 429  # the right password no longer helps
    assert not client.session.get("_auth_user_id")


def test_the_api_cache_keeps_a_bounded_number_of_answers(api, settings):
    from core.redis_client import redis_client

    settings.API_CACHE_MAX_KEYS = 5
    for n in range(20):
        assert api.get(f"/api/positions/?limit={n + 1}&junk={'x' * 500}").status_code == 200
    keys = list(redis_client().scan_iter("apicache:positions:*"))
    assert len(keys) == 5
    assert max(len(k) for k in keys) < 80  # a digest, not the query string


@pytest.mark.parametrize(("behind_proxy", "expected"), [("", "None"), ("true", "('HTTP_X_FORWARDED_PROTO', 'https')")])
def test_the_proxy_header_is_trusted_only_when_configured(behind_proxy, expected):
    import os
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k != "BEHIND_TLS_PROXY"}
    env |= {"DEBUG": "False", "SECRET_KEY": "s" * 60, "CREDENTIALS_KEY": Fernet.generate_key().decode(),
            "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "BEHIND_TLS_PROXY": behind_proxy}  # fmt: skip
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            check=True)  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == expected
