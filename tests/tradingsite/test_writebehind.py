"""The write-behind buffer against real Redis and PostgreSQL, including Redis dying mid-run."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import writebehind
from core.redis_client import redis_client
from core.writebehind import Update, buffer_update, buffer_updates, writebehind_flush, writebehind_stats
from orders.models import Order, OrderStatus
from tests.factories import OrderFactory

S = OrderStatus


@pytest.fixture
def orders(db):
    return OrderFactory.create_batch(50, status=S.OPEN)


def test_ten_thousand_updates_are_one_statement_and_nothing_is_lost(orders):
    stamp = timezone.now()
    updates = [
        Update(o.pk, set={"last_checked_at": stamp + timedelta(microseconds=i)}, add={"check_count": 1})
        for i in range(200)
        for o in orders
    ]
    assert buffer_updates(Order, updates) == "buffered"
    with CaptureQueriesContext(connection) as queries:
        result = writebehind_flush()
    writes = [q for q in queries.captured_queries if "UPDATE" in q["sql"]]
    assert len(writes) == 1
    assert result.statements == 1
    assert result.rows == 50
    for order in Order.objects.all():
        assert order.check_count == 200  # counters add up
        assert order.last_checked_at == stamp + timedelta(microseconds=199)  # the last value wins
    stats = writebehind_stats()
    assert stats["updates_buffered"] == 10_000
    assert stats["statements_saved"] == 9_999
    assert stats["rows_per_flush"] == 50
    assert stats["pending_fields"] == 0


def test_flushes_never_overlap(orders):
    buffer_update(Order, orders[0].pk, add={"check_count": 1})
    redis_client().set(writebehind.LOCK_KEY, "someone-else", px=5000)
    assert writebehind_flush().skipped == "locked"
    assert Order.objects.get(pk=orders[0].pk).check_count == 0
    redis_client().delete(writebehind.LOCK_KEY)
    assert writebehind_flush().rows == 1


def test_a_flush_that_died_after_committing_is_not_applied_twice(orders, monkeypatch):
    buffer_update(Order, orders[0].pk, add={"check_count": 5})
    monkeypatch.setattr(writebehind.redis.Redis, "delete", lambda self, *keys: 0)  # dies before cleaning up
    writebehind_flush()
    monkeypatch.undo()
    buffer_update(Order, orders[0].pk, add={"check_count": 1})  # arrives meanwhile
    writebehind_flush()
    assert Order.objects.get(pk=orders[0].pk).check_count == 6


def test_a_flush_that_died_before_committing_is_applied_by_the_next(orders, monkeypatch):
    buffer_update(Order, orders[0].pk, add={"check_count": 2})

    def crash(*args, **kwargs):
        raise ConnectionError("worker killed")

    monkeypatch.setattr(writebehind, "_apply", crash)
    with pytest.raises(ConnectionError):
        writebehind_flush()
    monkeypatch.undo()
    redis_client().delete(writebehind.LOCK_KEY)  # as its expiry would
    buffer_update(Order, orders[0].pk, add={"check_count": 1})
    writebehind_flush()
    assert Order.objects.get(pk=orders[0].pk).check_count == 3


def test_only_registered_columns_may_be_buffered(orders):
    with pytest.raises(ValueError, match="status"):
        buffer_update(Order, orders[0].pk, set={"status": S.FILLED})


def test_cache_stats_serve_the_buffer_beside_the_other_caches(api, orders):
    buffer_update(Order, orders[0].pk, add={"check_count": 1})
    writebehind_flush()
    body = api.get("/api/cache-stats/").json()
    assert set(body) >= {"market_data", "order_status", "writebehind"}
    assert body["writebehind"]["flushes"] == 1
    assert body["writebehind"]["rows_per_flush"] == 1
