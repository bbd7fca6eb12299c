"""While PostgreSQL is away the web answers 503 with a short JSON message (never a 500) and recovers by
itself; a Celery task that meets the outage retries with backoff and completes once it is back."""

import sys
import time
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from bench.common import Service, celery_worker, wait_until
from bench.private import free_port
from exchanges.models import Market
from orders.models import Order
from orders.services import order_place

pytestmark = [pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]


def test_the_api_and_healthz_answer_503_during_a_database_outage_and_recover(operator, through_proxies, pg_proxy):
    from knox.models import AuthToken

    token = AuthToken.objects.create(user=operator)[1]
    port = free_port()
    command = [str(__import__("pathlib").Path(sys.executable).parent / "gunicorn"), "tradingsite.wsgi", "--bind",
               f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"]  # fmt: skip
    with Service("outage-web", command, ready="Booting worker", env=through_proxies):
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Token {token}"}

        def status(path: str) -> int:
            try:
                return requests.get(base + path, headers=auth, timeout=10).status_code
            except requests.RequestException:
                return 0

        assert wait_until(lambda: status("/api/positions/") == 200, timeout=30)
        pg_proxy.cut()
        try:
            response = requests.get(base + "/api/positions/", headers=auth, timeout=15)
            assert response.status_code == 503
            assert response.json() == {"error": "service_unavailable",
                                       "detail": "PostgreSQL is unavailable; try again shortly."}  # fmt: skip
            assert response.headers["Retry-After"] == "5"
            health = requests.get(base + "/healthz", timeout=15)
            assert (health.status_code, health.json()) == (503, {"status": "fail"})
        finally:
            pg_proxy.restore()
        assert wait_until(lambda: status("/api/positions/") == 200, timeout=30)
        assert wait_until(lambda: status("/healthz") == 200, timeout=30)


@pytest.fixture
def not_eager():
    """Tasks go over the broker to the real worker (the suite runs them eagerly otherwise); restored after."""
    from tradingsite.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = before


def test_a_task_that_meets_a_database_outage_retries_and_completes(paper, through_proxies, pg_proxy, not_eager):
    from orders.tasks import monitor

    btc = Market.objects.get(exchange=paper.exchange, symbol="BTCUSDT")
    order = order_place(exchange=paper.exchange, market=btc, side="buy", type="limit", amount=Decimal("0.01"),
                        price=Decimal("50000"), purpose="manual", intent="rest-1", venue=paper)  # fmt: skip
    Order.objects.filter(pk=order.pk).update(next_check_at=timezone.now(), check_count=0)
    # At DEBUG the worker logs each monitor tick's success too (at INFO those are quiet): the test reads them.
    env = {**through_proxies, "LOG_LEVEL": "DEBUG"}
    with celery_worker("outage-worker", queues="monitoring", concurrency=1, env=env) as worker:
        pg_proxy.cut()
        try:
            monitor.delay(paper.exchange.pk, btc.pk)
            assert wait_until(lambda: "Retry in" in worker.log.read_text(errors="replace"), timeout=30)
            time.sleep(2)  # the outage goes on a little: more retries, still nothing lost
        finally:
            pg_proxy.restore()
        restored_at = timezone.now()

        def completed_after_retrying() -> bool:
            text = worker.log.read_text(errors="replace")
            retried = text.find("Retry in")
            return retried >= 0 and "orders.monitor" in text[retried:] and "succeeded" in text[retried:]

        assert wait_until(completed_after_retrying, timeout=60), worker.log.read_text(errors="replace")[-3000:]
        assert Order.objects.get(pk=order.pk).next_check_at > restored_at  # the tick ran on the database again
        assert "OperationalError" in worker.log.read_text(errors="replace")  # what it retried on
        assert worker.proc.poll() is None
