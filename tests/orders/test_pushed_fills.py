"""Fills pushed on the user-data stream (Binance's WebSocket API, `userDataStream.subscribe.signature`), against
the emulator on 127.0.0.1: a pushed fill completes an order with no fetch_order, the same trade seen again by
polling is recorded once, polling backs off while the stream is healthy and takes over when it drops."""

import asyncio
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bench.binance_emulator import BinanceEmulator
from bench.common import wait_until
from exchanges.models import Exchange, ExchangeKind
from exchanges.registry import get_venue
from exchanges.services import markets_sync
from orders.models import Fill, Order, OrderStatus
from orders.pushed import fills_pushed
from orders.services import order_place, order_record_answer, recent_trades
from orders.user_stream import UserStream

pytestmark = [pytest.mark.timeout(120), pytest.mark.django_db(transaction=True)]
KEY, SECRET = "k" * 64, "s" * 64


@pytest.fixture
def emulator(shared_data):
    binance = shared_data / "binance"
    emu = BinanceEmulator(sorted((binance / "depth").glob("*.gz")),
                          exchange_info=binance / "exchange_info_2023-09-08.json",
                          account={"api_key": KEY, "secret": SECRET,
                                   "balances": {"USDT": "100000", "BTC": "1"}})  # fmt: skip
    yield emu
    emu.close()


@pytest.fixture
def account(emulator):
    exchange = Exchange.objects.create(name="binance-emulated", kind=ExchangeKind.CCXT, ccxt_id="binance",
                                       rest_url=emulator.rest_url, ws_url=emulator.ws_url)  # fmt: skip
    exchange.api_key, exchange.api_secret = KEY, SECRET
    exchange.save()
    markets_sync(exchange=exchange, markets=get_venue(exchange).load_markets())
    return exchange


@pytest.fixture
def stream(account):
    """The account's user stream running in a thread of its own (its loop), stopped after the test."""
    stream, loop = UserStream(Exchange.objects.get(pk=account.pk)), asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(stream.run()), daemon=True)
    thread.start()
    assert wait_until(lambda: fills_pushed(account.pk), timeout=20), "the user stream never subscribed"
    yield stream
    loop.call_soon_threadsafe(stream.stop)
    thread.join(15)


def _limit_buy(account, intent: str) -> Order:
    btc = account.markets.get(symbol="BTCUSDT")
    return order_place(exchange=account, market=btc, side="buy", type="limit", amount=Decimal("0.01"),
                       price=Decimal("50000"), purpose="manual", intent=intent)  # fmt: skip


def test_a_pushed_fill_completes_an_order_without_fetch_order_and_polling_adds_nothing(emulator, account, stream):
    order = _limit_buy(account, "rest-1")
    assert order.status == OrderStatus.OPEN
    # The stream is healthy: the monitor's next look is the safety net's, not the policy's 100 ms.
    assert order.next_check_at >= timezone.now() + timedelta(seconds=20)
    venue_id = int(order.exchange_order_id)

    emulator.on_loop(emulator.account.take, venue_id, "0.004")  # a counterparty takes part of it
    assert wait_until(lambda: Fill.objects.filter(order=order).count() == 1, timeout=10)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_FILLED

    # Polling sees the same trade: nothing more is recorded.
    venue, calls = get_venue(account), []
    order = Order.objects.select_related("market").get(pk=order.pk)
    answer = venue.fetch_order(symbol="BTCUSDT", order_id=order.exchange_order_id)
    order_record_answer(order_id=order.pk, answer=answer, trades=recent_trades(venue, order, calls,
                                                                                venue_order_id=answer.id))  # fmt: skip
    assert Fill.objects.filter(order=order).count() == 1
    fetches_by_polling = emulator.account.calls["GET /api/v3/order"]

    emulator.on_loop(emulator.account.take, venue_id)  # the rest
    assert wait_until(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED, timeout=10)
    done = Order.objects.get(pk=order.pk)
    assert (done.filled, Fill.objects.filter(order=order).count()) == (Decimal("0.01"), 2)
    assert done.average == Decimal("50000")
    assert emulator.account.calls["GET /api/v3/order"] == fetches_by_polling  # the push alone ended it
    assert stream.stats.recorded >= 3  # NEW, then the two trades


def test_when_the_stream_drops_polling_takes_over_at_once_and_the_stream_comes_back(emulator, account, stream):
    order = _limit_buy(account, "rest-2")
    assert order.next_check_at >= timezone.now() + timedelta(seconds=20)

    calls = emulator.account.calls
    lookups = lambda: calls["GET /api/v3/order"] + calls["GET /api/v3/openOrders"]  # noqa: E731
    before = lookups()
    emulator.on_loop(emulator.account.drop_sessions)
    # The venue is asked at once (the suite runs the monitor's task eagerly), 30 s before the safety net's time.
    assert wait_until(lambda: lookups() > before, timeout=10)
    # It reconnects, subscribes again (signed anew), and fills are pushed again.
    assert wait_until(lambda: stream.stats.connected and stream.stats.reconnects >= 1, timeout=20)
    assert wait_until(lambda: len(emulator.account.sessions) == 1, timeout=10)
    emulator.on_loop(emulator.account.take, int(order.exchange_order_id))
    assert wait_until(lambda: Order.objects.get(pk=order.pk).status == OrderStatus.FILLED, timeout=10)
    assert emulator.account.signature_failures == 0


def test_a_wrongly_signed_subscription_is_refused_and_nothing_is_pushed(emulator, account):
    account.api_secret = "x" * 64
    account.save()
    stream, started = UserStream(Exchange.objects.get(pk=account.pk)), time.monotonic()
    asyncio.run(stream.run(seconds=3))
    assert emulator.account.signature_failures >= 1
    assert not stream.stats.connected
    assert not fills_pushed(account.pk)
    assert time.monotonic() - started < 15


def test_run_user_stream_streams_every_account_with_a_key_and_idles_without(emulator, account):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_user_stream", "--all", "--seconds", "3", stdout=out)
    assert f"{account.name}: user stream starting" in out.getvalue()
    assert "'connected': False" in out.getvalue()  # stopped: it said so, and polling took the account over
    assert (emulator.account.subscriptions, emulator.account.signature_failures) == (1, 0)

    Exchange.objects.filter(pk=account.pk).update(enabled=False)
    out = StringIO()
    call_command("run_user_stream", "--all", "--seconds", "1", stdout=out)
    assert "no enabled ccxt account with an API key" in out.getvalue()


def test_an_update_that_fails_to_record_is_left_to_polling_and_the_stream_goes_on(emulator, account, stream,
                                                                                    monkeypatch):  # fmt: skip
    """A bug recording the fill of a push (not an outage): the stream logs it, polls the account at once, so
    the fill is recorded by polling instead, and it goes on pushing."""
    import orders.user_stream as user_stream

    real, failures = user_stream.order_record_pushed, []

    def broken_on_the_first_fill(**kwargs):
        if kwargs["trades"] and not failures:
            failures.append(kwargs["answer"].client_order_id)
            raise RuntimeError("a bug in recording")
        return real(**kwargs)

    first, second = _limit_buy(account, "rest-3"), _limit_buy(account, "rest-4")
    monkeypatch.setattr(user_stream, "order_record_pushed", broken_on_the_first_fill)
    emulator.on_loop(emulator.account.take, int(first.exchange_order_id))
    # Polled at once (the suite runs the monitor eagerly): the fill the push could not record is recorded.
    assert wait_until(lambda: Order.objects.get(pk=first.pk).status == OrderStatus.FILLED, timeout=10)
    assert failures == [first.client_order_id]
    assert emulator.account.calls["GET /api/v3/order"] + emulator.account.calls["GET /api/v3/openOrders"] >= 1
    emulator.on_loop(emulator.account.take, int(second.exchange_order_id))  # the stream went on
    assert wait_until(lambda: Order.objects.get(pk=second.pk).status == OrderStatus.FILLED, timeout=10)
    assert stream.stats.connected
