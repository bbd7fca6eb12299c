"""Monitoring: batched checks, backoff, rate awareness, the sweeper, the status cache."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.db import connection
from django.utils import timezone

from core.limiter import RateLimiter
from core.writebehind import writebehind_flush
from exchanges.breaker import CircuitBreaker
from exchanges.guarded import GuardedVenue
from orders.models import Order, OrderStatus
from orders.monitoring import _claim, orders_monitor_tick, orders_sweep_overdue
from orders.services import order_place
from orders.status_cache import status_cache_stats
from tests.conftest import ladder
from tests.factories import OrderFactory

D = Decimal
S = OrderStatus


def rest(venue, market, n, *, price="59990", first=0):
    return [
        order_place(
            exchange=market.exchange, market=market, side="buy", type="limit", amount=D("0.01"),
            price=D(price) - 10 * i, purpose="manual", intent=f"rest{first + i}", venue=venue,
        )
        for i in range(n)
    ]  # fmt: skip


def make_due(orders, now):
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(next_check_at=now)


def tick(venue, market, now):
    venue.calls.clear()
    return orders_monitor_tick(exchange_id=market.exchange_id, market_id=market.pk, now=now, venue=venue)


def test_orders_sharing_a_market_are_settled_by_one_open_orders_call(venue, btc):
    orders = rest(venue, btc, 4)
    now = timezone.now() + timedelta(seconds=1)
    make_due(orders[:1], now)  # one is due; the batch answer covers the other three as well
    result = tick(venue, btc, now)
    assert dict(venue.calls) == {"fetch_open_orders": 1}
    assert result.claimed == 4
    assert result.settled_by_batch == 4
    for order in Order.objects.filter(pk__in=[o.pk for o in orders]):
        assert order.status == S.OPEN
        assert order.next_check_at > now


def test_only_orders_missing_from_the_batch_are_fetched_one_by_one(venue, btc, books):
    orders = rest(venue, btc, 4)  # bids at 59990, 59980, 59970, 59960
    books.set_book(ladder("BTCUSDT", "59900.00", "59975.00", "1.00"))  # the top two now cross
    now = timezone.now() + timedelta(seconds=1)
    make_due(orders, now)
    result = tick(venue, btc, now)
    assert dict(venue.calls) == {"fetch_open_orders": 1, "fetch_order": 2}
    assert result.changed == 2
    filled = Order.objects.filter(status=S.FILLED).order_by("pk")
    assert [o.intent for o in filled] == ["rest0", "rest1"]
    for order in filled:
        fill = order.fills.get()
        assert fill.is_maker
        assert fill.price == order.price
        assert order.filled == order.amount
        assert order.next_check_at is None
    assert Order.objects.filter(status=S.OPEN).count() == 2


def test_a_lone_order_is_fetched_by_itself(venue, btc):
    [order] = rest(venue, btc, 1)
    now = timezone.now() + timedelta(seconds=1)
    make_due([order], now)
    tick(venue, btc, now)
    assert dict(venue.calls) == {"fetch_order": 1}


def test_a_redelivered_tick_is_a_no_op(venue, btc):
    orders = rest(venue, btc, 3)
    now = timezone.now() + timedelta(seconds=1)
    make_due(orders, now)
    tick(venue, btc, now)
    before = list(Order.objects.order_by("pk").values_list("next_check_at", "status", "updated_at"))
    again = tick(venue, btc, now)
    assert again.claimed == 0
    assert not venue.calls
    assert list(Order.objects.order_by("pk").values_list("next_check_at", "status", "updated_at")) == before


def test_quiet_orders_back_off_and_their_check_stamps_go_write_behind(venue, btc):
    [order] = rest(venue, btc, 1)
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    now = timezone.now() + timedelta(seconds=1)
    make_due([order], now)
    tick(venue, btc, now)
    order.refresh_from_db()
    assert timedelta(seconds=3.5) <= order.next_check_at - now <= timedelta(seconds=5)  # the cap, with jitter
    assert order.check_count == 0
    assert order.last_checked_at is None
    assert writebehind_flush().rows == 1
    order.refresh_from_db()
    assert order.check_count == 1
    assert order.last_checked_at == now


def test_delays_stretch_before_the_venue_answers_429(paper, btc, settings):
    r = redis.Redis.from_url(settings.REDIS_URL)
    limiter = RateLimiter(paper.name, capacity=100, refill_per_s=0.001, client=r)
    guarded = GuardedVenue(paper, limiter=limiter, breaker=CircuitBreaker(paper.name, client=r))
    exchange = paper.exchange
    exchange.monitor_jitter_factor = 0
    exchange.save()
    orders = rest(paper, btc, 2)
    old = timezone.now() - timedelta(minutes=5)
    Order.objects.update(updated_at=old)

    now = timezone.now() + timedelta(seconds=1)
    make_due(orders, now)
    orders_monitor_tick(exchange_id=exchange.pk, market_id=btc.pk, now=now, venue=guarded)
    relaxed = Order.objects.get(pk=orders[0].pk).next_check_at - now

    limiter.acquire(90)  # the shared budget is nearly spent (other workers)
    now += timedelta(seconds=10)
    make_due(orders, now)
    orders_monitor_tick(exchange_id=exchange.pk, market_id=btc.pk, now=now, venue=guarded)
    stretched = Order.objects.get(pk=orders[0].pk).next_check_at - now
    assert relaxed == timedelta(seconds=5)
    assert stretched >= timedelta(seconds=45)


def test_a_submission_whose_worker_died_is_resolved_not_replaced(venue, btc, paper):
    order = OrderFactory(
        exchange=btc.exchange, market=btc, intent="lost", client_order_id="ts-lost-a1", status=S.PENDING_SUBMIT,
        submitted_at=timezone.now() - timedelta(minutes=1), next_check_at=timezone.now() - timedelta(seconds=1),
        amount=D("0.01"),
    )  # fmt: skip
    paper.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"), client_order_id="ts-lost-a1")
    tick(venue, btc, timezone.now())
    order.refresh_from_db()
    assert order.status == S.FILLED
    assert order.fills.count() == 1
    assert venue.calls["create_order"] == 0


def test_a_cancel_that_did_not_take_returns_the_order_to_open(venue, btc):
    [order] = rest(venue, btc, 1)
    Order.objects.filter(pk=order.pk).update(status=S.PENDING_CANCEL)
    now = timezone.now() + timedelta(seconds=1)
    make_due([order], now)
    tick(venue, btc, now)
    order.refresh_from_db()
    assert order.status == S.OPEN


def test_repeated_reads_within_the_ttl_cost_one_venue_call(venue, btc):
    [order] = rest(venue, btc, 1)
    now = timezone.now() + timedelta(seconds=1)
    seen = []
    for _ in range(2):  # the order is due twice within the cache's 500 ms
        make_due([order], now)
        orders_monitor_tick(exchange_id=btc.exchange_id, market_id=btc.pk, now=now, venue=venue)
        seen.append(Order.objects.values_list("status", "filled", "exchange_order_id").get(pk=order.pk))
    assert seen[1] == seen[0]
    assert venue.calls["fetch_order"] == 1
    assert status_cache_stats()["hits"] == 1


def test_the_sweeper_redispatches_only_overdue_orders(venue, btc, settings):
    orders = rest(venue, btc, 2)
    now = timezone.now()
    Order.objects.filter(pk=orders[0].pk).update(
        next_check_at=now - timedelta(seconds=settings.ORDER_SWEEP_GRACE_S + 5)
    )
    Order.objects.filter(pk=orders[1].pk).update(next_check_at=now + timedelta(seconds=3))
    assert orders_sweep_overdue(now=now) == 1
    assert Order.objects.get(pk=orders[0].pk).next_check_at == now
    assert Order.objects.get(pk=orders[1].pk).next_check_at == now + timedelta(seconds=3)
    assert orders_sweep_overdue(now=now) == 0  # claimed: not overdue any more


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_never_claim_the_same_order(paper, btc):
    orders = [
        OrderFactory(exchange=btc.exchange, market=btc, status=S.OPEN, type="limit", price=D("50000"),
                     amount=D("0.01"), next_check_at=timezone.now() - timedelta(seconds=1))
        for _ in range(60)
    ]  # fmt: skip
    now = timezone.now()
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            claimed.append(_claim(exchange_id=btc.exchange_id, market_id=btc.pk, now=now, due_only=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [pk for batch in claimed for pk in batch]
    assert sorted(every) == sorted(o.pk for o in orders)  # each exactly once


def test_a_venue_whose_order_answers_carry_no_trades_is_asked_once_then_for_trades(paper, btc, books):
    """Like ccxt's Binance: fetch_order has no trades; the fill comes from the account's trades, no refetch."""
    from dataclasses import replace

    from tests.conftest import CountingVenue

    class NoTradesVenue(CountingVenue):
        def fetch_order(self, **kwargs):
            return replace(super().fetch_order(**kwargs), trades=())

    venue = NoTradesVenue(paper)
    [order] = rest(venue, btc, 1)
    books.set_book(ladder("BTCUSDT", "59900.00", "59980.00", "1.00"))
    now = timezone.now() + timedelta(seconds=1)
    make_due([order], now)
    tick(venue, btc, now)
    assert dict(venue.calls) == {"fetch_order": 1, "fetch_my_trades": 1}
    order.refresh_from_db()
    assert order.status == S.FILLED
    assert order.fills.count() == 1


def test_an_order_gone_from_the_batch_answer_is_fetched_not_read_from_the_cache(venue, btc, books):
    orders = rest(venue, btc, 2)
    now = timezone.now() + timedelta(seconds=1)
    make_due(orders, now)
    tick(venue, btc, now)  # both open: the answer is cached
    books.set_book(ladder("BTCUSDT", "59900.00", "59985.00", "1.00"))  # the first fills
    make_due(orders, now)
    tick(venue, btc, now)  # within the cache's TTL
    assert dict(venue.calls) == {"fetch_open_orders": 1, "fetch_order": 1}
    assert Order.objects.get(pk=orders[0].pk).status == S.FILLED


def test_while_fills_are_pushed_orders_wait_on_the_safety_net_and_a_dead_stream_is_noticed_by_the_sweeper(
    venue, btc, settings
):
    """A stream that says it is alive stretches the next look to USER_STREAM_SAFETY_POLL_MS (an UNKNOWN order
    keeps the policy's times); when its liveness key expires without a word (its process died), the sweeper
    brings the account's orders back to now."""
    from django_redis import get_redis_connection

    from orders import pushed

    account = btc.exchange
    pushed.stream_alive(account.pk)
    (order,) = rest(venue, btc, 1)
    now = timezone.now()
    assert order.next_check_at >= now + timedelta(milliseconds=settings.USER_STREAM_SAFETY_POLL_MS - 1000)
    assert pushed.poll_delay_ms(account.pk, 100, S.UNKNOWN) == 100

    get_redis_connection("default").delete(pushed.ALIVE.format(account.pk))  # the key expired
    pushed._cache.clear()
    orders_sweep_overdue(now=now)
    assert Order.objects.get(pk=order.pk).next_check_at <= now
    assert not pushed.fills_pushed(account.pk)
    assert pushed.deferred_accounts_down() == []  # noticed once, then forgotten
