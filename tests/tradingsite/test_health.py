"""/healthz names each component with its latency (to staff) and answers 503 when one is down."""

import pytest

from tradingsite.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def client(client, operator):
    """Logged in as staff: the components and their errors are for staff only."""
    client.force_login(operator)
    return client


def test_healthy_platform_answers_200_with_latencies(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    for name in ("postgres", "redis", "broker"):
        assert body["components"][name]["ok"] is True
        assert body["components"][name]["latency_ms"] >= 0


def test_redis_unreachable_answers_503_naming_redis(client, settings):
    settings.REDIS_URL = UNREACHABLE
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert "Connection" in body["components"]["redis"]["error"]
    assert body["components"]["postgres"]["ok"] is True


def test_broker_unreachable_answers_503_naming_the_broker(client, monkeypatch):
    # The check connects for writing; Celery derives that URL from broker_url when unset.
    monkeypatch.setattr(celery_app.conf, "broker_write_url", UNREACHABLE)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "broker" in response.json()["failing"]


def test_checks_run_concurrently(client, settings, monkeypatch):
    """Three slow checks finish in about the time of one."""
    import time

    from dashboard import health

    def slow(timeout):
        time.sleep(0.4)

    monkeypatch.setattr(health, "CHECKS", {"a": slow, "b": slow, "c": slow})
    started = time.perf_counter()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert time.perf_counter() - started < 1.0


def test_a_banned_venue_is_named_with_the_end_of_its_ban(client):
    from datetime import UTC, datetime, timedelta

    from exchanges.registry import venue_limiter
    from tests.factories import ExchangeFactory

    exchange = ExchangeFactory(name="banned-venue")
    venue_limiter(exchange).ban(datetime.now(UTC) + timedelta(minutes=5))
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["venue:banned-venue"], body
    assert "banned by the venue until" in body["components"]["venue:banned-venue"]["error"]
