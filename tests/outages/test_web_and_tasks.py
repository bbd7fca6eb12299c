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


def test_a_worker_rides_out_broker_outages_and_consumes_after(paper, through_proxies, redis_proxy, not_eager):
    """The broker goes away under a worker (its connections cut while it waits on the queues) and comes back,
    twice: the same worker process reconnects each time and runs the next task."""
    from urllib.parse import urlsplit, urlunsplit

    from cycles.tasks import reservations_expire

    broker = urlsplit(not_eager.conf.broker_url)
    env = {**through_proxies, "LOG_LEVEL": "DEBUG",
           "TEST_CELERY_BROKER_URL": urlunsplit(broker._replace(netloc=f"127.0.0.1:{redis_proxy.port}"))}  # fmt: skip
    with celery_worker("broker-outage-worker", queues="maintenance", concurrency=1, env=env) as worker:
        log = lambda: worker.log.read_text(errors="replace")  # noqa: E731
        assert reservations_expire.apply_async(ignore_result=False).get(timeout=30) == 0
        for _ in range(2):  # the second outage meets the connection the first one left behind
            redis_proxy.cut()
            assert wait_until(lambda: "Connection to broker lost" in log(), timeout=30), log()[-3000:]
            time.sleep(2)  # the outage goes on: the worker retries, and does not give up
            redis_proxy.restore()
            result = reservations_expire.apply_async(ignore_result=False)
            assert result.get(timeout=60) == 0, log()[-3000:]
            assert worker.proc.poll() is None, log()[-3000:]  # the same process: it never exited
        assert "Unrecoverable error" not in log()


@pytest.mark.parametrize("transport", ["redis", "core.broker:Transport"])
def test_closing_a_channel_whose_transport_was_closed_under_it(transport, settings):
    """The state a worker is in after Celery collected a connection whose channel close was cut short by the
    lost broker (the channel open, its transport closed, a message unacknowledged): closing the connection then
    raised AttributeError from kombu's own transport and the worker stopped; ours closes, acknowledging through
    it is a connection error (which Celery logs and goes on), and the message stays in the broker's unacked
    hash for restore_visible to put back."""
    from kombu import Connection, Exchange, Queue

    queue = Queue(f"broker-test-{transport}", Exchange("broker-test"), f"broker-test-{transport}")
    connection = Connection(settings.CELERY_BROKER_URL, transport=transport)
    try:
        connection.Producer().publish({"n": 1}, exchange=queue.exchange, routing_key=queue.routing_key,
                                      declare=[queue])  # fmt: skip
        received = []
        connection.Consumer([queue], callbacks=[lambda body, message: received.append(message)]).consume()
        connection.drain_events(timeout=5)
        channel = connection.default_channel
        tag = received[0].delivery_tag
        connection._do_close_transport()  # what Connection.collect() does after the channel's close failed
        assert (channel.closed, channel.qos._delivered.keys()) == (False, {tag})
        if transport == "redis":
            with pytest.raises(AttributeError, match="hostname"):
                connection.close()
            return
        connection.close()
        assert channel.closed
        with pytest.raises(connection.connection_errors):  # a task that ends now: "Couldn't ack", not fatal
            received[0].ack()
        with Connection(settings.CELERY_BROKER_URL) as other:
            assert other.default_channel.client.hexists("unacked", tag)
    finally:
        with Connection(settings.CELERY_BROKER_URL) as other:
            client = other.default_channel.client
            client.delete(queue.name)
            for tag in [t for t in client.hkeys("unacked") if client.hget("unacked", t) and queue.name.encode()
                        in client.hget("unacked", t)]:  # fmt: skip
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
