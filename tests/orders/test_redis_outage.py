"""Killing Redis mid-run: monitoring goes on, every transition is recorded, progress is written directly."""

import shutil
import socket
import subprocess
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.utils import timezone

from core.writebehind import writebehind_flush, writebehind_stats
from orders.models import Order, OrderStatus
from orders.monitoring import orders_monitor_tick
from orders.services import order_place
from tests.conftest import ladder

S = OrderStatus


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(settings):
    """A Redis server of this test's own, so that it can be killed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    settings.REDIS_URL = url
    yield proc
    proc.kill()
    proc.wait()


def test_killing_redis_mid_run_loses_no_transition(own_redis, venue, btc, books):
    orders = [
        order_place(
            exchange=btc.exchange, market=btc, side="buy", type="limit", amount=Decimal("0.01"),
            price=Decimal("59990") - i, purpose="manual", intent=f"k{i}", venue=venue,
        )
        for i in range(6)
    ]  # fmt: skip
    now = timezone.now() + timedelta(seconds=1)
    Order.objects.update(next_check_at=now)
    orders_monitor_tick(exchange_id=btc.exchange_id, market_id=btc.pk, now=now, venue=venue)
    assert writebehind_stats()["pending_fields"] > 0  # progress sits in the buffer

    own_redis.kill()
    own_redis.wait()
    books.set_book(ladder("BTCUSDT", "59900.00", "59988.00", "1.00"))  # three orders fill while Redis is down
    now += timedelta(seconds=10)
    Order.objects.update(next_check_at=now)
    result = orders_monitor_tick(exchange_id=btc.exchange_id, market_id=btc.pk, now=now, venue=venue)
    assert result.changed == 3
    assert writebehind_flush().skipped == "redis unavailable"

    statuses = dict(Order.objects.values_list("intent", "status"))
    assert statuses == {"k0": S.FILLED, "k1": S.FILLED, "k2": S.FILLED, "k3": S.OPEN, "k4": S.OPEN, "k5": S.OPEN}
    for order in Order.objects.filter(status=S.FILLED):
        assert order.fills.count() == 1
        assert order.filled == order.amount
    # Progress of the unchanged orders was written directly once the buffer was gone.
    assert all(o.check_count == 1 for o in Order.objects.filter(status=S.OPEN))
    assert len(orders) == 6
