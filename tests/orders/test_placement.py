"""order_place on the paper venue: exactly once, whatever the venue does."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, DomainError
from exchanges.errors import VenueError
from exchanges.models import PaperOrder
from orders.errors import OrderRejected
from orders.models import LIVE_STATUSES, Order, OrderStatus
from orders.monitoring import orders_monitor_tick
from orders.services import order_place

D = Decimal
S = OrderStatus


def place(venue, market, intent="m1", attempt=1, **kwargs):
    params = {"side": "buy", "type": "market", "amount": D("0.01"), "purpose": "manual"}
    params.update(kwargs)
    return order_place(exchange=market.exchange, market=market, intent=intent, attempt=attempt, venue=venue, **params)


def settle(venue, order, *, start=None, step_s=5.0, max_ticks=20):
    """Run monitor ticks of the order's market, advancing the clock, until the order is no longer UNKNOWN."""
    now = start or timezone.now()
    for _ in range(max_ticks):
        order.refresh_from_db()
        if order.status not in (S.UNKNOWN, S.PENDING_SUBMIT):
            return order
        now += timedelta(seconds=step_s)
        Order.objects.filter(pk=order.pk).update(next_check_at=now)
        orders_monitor_tick(exchange_id=order.exchange_id, market_id=order.market_id, now=now, venue=venue)
    order.refresh_from_db()
    return order


def test_a_market_order_fills_and_its_totals_come_from_its_fills(venue, btc):
    order = place(venue, btc, amount=D("1.5"))
    assert order.status == S.FILLED
    assert order.client_order_id == "ts-m1-a1"
    fills = list(order.fills.all())
    # The ladder's asks: 1 BTC at 60000.01, then 0.5 at 60001.01.
    assert [(f.price, f.amount) for f in fills] == [(D("60000.01"), D("1")), (D("60001.01"), D("0.5"))]
    assert order.filled == D("1.5")
    assert order.cost == D("60000.01") + D("30000.505")
    assert order.average == order.cost / order.filled
    assert order.fee == D("0.0015")
    assert order.fee_asset == "BTC"
    assert order.exchange_order_id == str(PaperOrder.objects.get(client_order_id="ts-m1-a1").pk)
    assert order.next_check_at is None
    assert order.closed_at is not None


def test_placing_the_same_attempt_again_never_reaches_the_venue(venue, btc):
    first = place(venue, btc)
    again = place(venue, btc)
    assert again.pk == first.pk
    assert venue.calls["create_order"] == 1
    assert PaperOrder.objects.count() == 1


def test_a_new_attempt_waits_until_the_live_one_has_ended(venue, btc):
    resting = place(venue, btc, type="limit", price=D("59000"), amount=D("0.01"))
    assert resting.status == S.OPEN
    assert resting.next_check_at is not None
    with pytest.raises(Conflict, match="already has a live order ts-m1-a1"):
        place(venue, btc, attempt=2, type="limit", price=D("59000"), amount=D("0.01"))


def test_rule_violations_are_rejections_with_the_venues_reason(venue, btc):
    with pytest.raises(OrderRejected, match=r"min_notional|minimum notional") as info:
        place(venue, btc, amount=D("0.0001"))
    assert info.value.retryable is False
    order = Order.objects.get(pk=info.value.order_id)
    assert order.status == S.REJECTED
    assert "notional" in order.last_error


def test_a_429_on_create_is_a_rejection_the_caller_may_retry(venue, btc, faults):
    faults.rate_limit_p, faults.retry_after_s = 1.0, 3.0
    faults.save()
    with pytest.raises(OrderRejected) as info:
        place(venue, btc)
    assert info.value.retryable is True
    assert info.value.retry_after == 3.0
    faults.rate_limit_p = 0
    faults.save()
    retried = place(venue, btc, attempt=2)
    assert retried.status == S.FILLED
    assert retried.client_order_id == "ts-m1-a2"


def test_bad_input_is_refused_before_anything_is_written(venue, btc):
    with pytest.raises(DomainError, match="above zero"):
        place(venue, btc, amount=D("0"))
    with pytest.raises(DomainError, match="needs a price"):
        place(venue, btc, type="limit")
    assert not Order.objects.exists()


def test_placement_refuses_to_run_inside_a_callers_transaction(venue, btc):
    with pytest.raises(RuntimeError), transaction.atomic():
        place(venue, btc)
    assert venue.calls["create_order"] == 0


def test_an_accepted_order_whose_answer_was_lost_is_found_not_placed_again(venue, btc, faults):
    faults.timeout_after_accept_p = 1.0
    faults.save()
    order = place(venue, btc)
    assert order.status == S.UNKNOWN
    assert "RequestTimeout" in order.last_error
    faults.timeout_after_accept_p = 0
    faults.save()
    order = settle(venue, order)
    assert order.status == S.FILLED
    assert order.fills.count() == 1
    assert venue.calls["create_order"] == 1
    assert PaperOrder.objects.count() == 1


def test_an_order_that_never_arrived_is_declared_not_placed_only_after_grace_and_misses(venue, btc, faults, settings):
    faults.server_error_p = 1.0
    faults.save()
    order = place(venue, btc)
    assert order.status == S.UNKNOWN
    faults.server_error_p = 0
    faults.save()
    now = timezone.now()
    # Misses inside the grace window never declare it.
    for i in range(5):
        now += timedelta(seconds=1)
        Order.objects.filter(pk=order.pk).update(next_check_at=now)
        orders_monitor_tick(exchange_id=order.exchange_id, market_id=order.market_id, now=now, venue=venue)
        order.refresh_from_db()
        assert order.status == S.UNKNOWN
        assert order.lookup_misses == i + 1
    order = settle(venue, order, start=now + timedelta(seconds=settings.ORDER_UNKNOWN_GRACE_S))
    assert order.status == S.REJECTED
    assert order.last_error.startswith("Not placed")
    assert not PaperOrder.objects.exists()
    assert place(venue, btc, attempt=2).status == S.FILLED


def test_a_resting_order_we_cannot_see_keeps_an_unknown_order_for_an_operator(venue, btc, faults, paper):
    paper.create_order(symbol="BTCUSDT", side="buy", type="limit", amount=D("0.01"), price=D("50000"),
                       client_order_id="placed-by-hand")  # fmt: skip
    faults.server_error_p = 1.0
    faults.save()
    order = place(venue, btc, type="limit", price=D("50000"))
    faults.server_error_p = 0
    faults.save()
    order = settle(venue, order, start=timezone.now() + timedelta(seconds=30))
    assert order.status == S.UNKNOWN
    assert "An operator must check" in order.last_error


def test_many_placements_under_lost_answers_never_leave_two_live_orders_for_one_intent(venue, btc, faults):
    faults.timeout_after_accept_p = 0.4
    faults.server_error_p = 0.15
    faults.save()
    now = timezone.now()
    for n in range(30):
        intent = f"trial{n}"
        for attempt in range(1, 10):
            try:
                order = place(venue, btc, intent=intent, attempt=attempt)
            except OrderRejected:
                continue
            except VenueError:
                continue
            now += timedelta(seconds=30)
            order = settle(venue, order, start=now)
            live = Order.objects.filter(intent=intent, status__in=LIVE_STATUSES).count()
            assert live <= 1
            if order.status == S.FILLED:
                break
        assert Order.objects.filter(intent=intent, status=S.FILLED).count() == 1
        # The venue holds exactly one executed order for the intent: nothing was placed twice.
        assert PaperOrder.objects.filter(client_order_id__startswith=f"ts-{intent}-", filled__gt=0).count() == 1
    assert Order.objects.filter(status__in=LIVE_STATUSES).count() == 0
    # Both kinds of lost answer happened: accepted ones found by lookup, and ones declared not placed.
    assert venue.calls["create_order"] > 30
    assert venue.calls["fetch_order"] > 0
    assert Order.objects.filter(status=S.REJECTED, last_error__startswith="Not placed").exists()
