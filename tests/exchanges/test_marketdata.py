"""The Redis market-data snapshot: tickers, books, the age gate, and its statistics."""

import threading
import time
from decimal import Decimal

import pytest

from exchanges.marketdata import MarketDataSnapshot, now_ms, snapshot_stats
from exchanges.types import OrderBook, Ticker

D = Decimal


@pytest.fixture
def snap():
    return MarketDataSnapshot("snap-test")


def test_tickers_round_trip_exactly(snap):
    t = Ticker("ETHBTC", D("0.032176"), D("14.263"), D("0.032177"), D("32.641"), now_ms())
    snap.put_tickers([t])
    assert snap.tickers()["ETHBTC"] == t
    assert snap.tickers(["ETHBTC", "NOPE"]) == {"ETHBTC": t}


def test_age_gate_refuses_stale_books(snap):
    old = OrderBook("BTCUSDT", ((D("1"), D("1")),), ((D("2"), D("1")),), now_ms() - 10_000)
    snap.put_books([old])
    assert snap.book("BTCUSDT") == old
    assert snap.book("BTCUSDT", max_age_ms=1000) is None
    snap.put_tickers([Ticker("BTCUSDT", D("1"), D("1"), D("2"), D("1"), now_ms() - 10_000)])
    assert snap.is_fresh("BTCUSDT", 60_000) is True
    assert snap.is_fresh("BTCUSDT", 1000) is False
    assert snap.is_fresh("MISSING", 1000) is False


def test_statistics_count_hits_misses_and_stale(snap, api):
    snap.put_tickers([Ticker("A", D("1"), D("1"), D("2"), D("1"), now_ms())])
    snap.tickers(["A", "B"])
    snap.book("NOBOOK")
    snap.put_books([OrderBook("OLD", ((D("1"), D("1")),), ((D("2"), D("1")),), now_ms() - 5000)])
    snap.book("OLD", max_age_ms=100)
    stats = snapshot_stats()
    assert stats["hits"] == 1
    assert stats["misses"] == 2
    assert stats["stale_refused"] == 1
    body = api.get("/api/cache-stats/").json()
    assert body["market_data"]["hits"] == 1


def test_cache_stats_need_login(anon_api):
    assert anon_api.get("/api/cache-stats/").status_code == 401


def test_a_ticker_write_wakes_a_waiting_reader_at_once(snap):
    waiter = snap.waiter()
    try:
        started = time.monotonic()
        assert waiter.wait(0.05) is False  # nothing written: the timeout
        assert time.monotonic() - started >= 0.05
        writer = threading.Timer(0.05, snap.put_tickers, [[Ticker("A", D("1"), D("1"), D("2"), D("1"), now_ms())]])
        started = time.monotonic()
        writer.start()
        assert waiter.wait(5.0) is True
        assert time.monotonic() - started < 1.0  # woken by the write, not the 5 s timeout
        for _ in range(3):  # a burst wakes the reader once
            snap.put_tickers([Ticker("A", D("1"), D("1"), D("2"), D("1"), now_ms())])
        time.sleep(0.05)  # every notice delivered
        assert waiter.wait(1.0) is True
        assert waiter.wait(0.05) is False
        MarketDataSnapshot("another-venue").put_tickers([Ticker("A", D("1"), D("1"), D("2"), D("1"), now_ms())])
        assert waiter.wait(0.05) is False  # another venue's writes do not wake this reader
    finally:
        waiter.close()
