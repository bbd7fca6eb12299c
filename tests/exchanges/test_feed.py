"""The Binance feed against the emulator on 127.0.0.1 (the recorded books of ../shared/data/binance/depth)."""

import asyncio
import json
import threading
import time

import pytest

from bench.binance_emulator import BinanceEmulator, Recording, TruthBook
from exchanges.local_book import DiffEvent, LocalBook
from exchanges.marketdata import MarketDataSnapshot
from feeds.binance import BinanceFeed
from feeds.binance_streams import plan_connections

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
def recordings(shared_data):
    return sorted((shared_data / "binance" / "depth").glob("*.gz"))


@pytest.fixture
def snapshot():
    snap = MarketDataSnapshot("feed-test")
    snap.clear()
    yield snap
    snap.clear()


def _rest(url: str):
    """The feed's REST client of a Binance account pointed at the emulator."""
    from exchanges.models import Exchange
    from feeds.selection import rest_client

    return rest_client(Exchange(ccxt_id="binance", rest_url=url))


def _run(emulator, snapshot, *, until, timeout=30.0, **feed_options) -> BinanceFeed:
    """Run the feed against `emulator` until `until(feed)` holds (or the time runs out); the feed back."""

    async def main():
        rest = _rest(emulator.rest_url)
        feed = BinanceFeed(snapshot=snapshot, ws_base=emulator.ws_url, rest=rest, tickers=SYMBOLS,
                           books=SYMBOLS, **feed_options)  # fmt: skip
        run = asyncio.create_task(feed.run())
        deadline = time.monotonic() + timeout
        while not until(feed) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        feed.stop()
        await run
        await rest.close()
        return feed

    return asyncio.run(main())


def test_the_local_book_equals_an_independent_replay_after_every_update_of_both_recordings(recordings):
    compared = 0
    for path in recordings:
        recording = Recording.load(path)
        truth, book = TruthBook(recording.snapshot), LocalBook(recording.symbol)
        for _, stream, body in recording.messages:
            if "@depth" not in stream:
                continue
            data = json.loads(body)["data"]
            if book.on_event(DiffEvent(data["U"], data["u"], data["b"], data["a"])).needs_snapshot:
                book.on_snapshot(recording.snapshot["lastUpdateId"], recording.snapshot["bids"],
                                 recording.snapshot["asks"])  # fmt: skip
            if truth.apply(data):
                assert book.synced
                assert (book.bids, book.asks, book.update_id) == (truth.bids, truth.asks, truth.update_id)
                compared += 1
    assert compared > 6000  # every diff of both files after their snapshots


def test_a_gap_discards_the_book_until_a_newer_snapshot_and_an_old_snapshot_is_refused():
    book = LocalBook("BTCUSDT")
    assert book.on_event(DiffEvent(10, 12, [["1.0", "1"]], [])).needs_snapshot
    assert book.on_snapshot(9, [], []).needs_snapshot  # older than the first buffered event: fetch again
    assert book.top(5) is None
    assert book.on_snapshot(11, [["0.9", "2"]], [["1.1", "3"]]).synced  # 10-12 straddles 11: applied
    assert book.top(5) == ([("1.0", "1"), ("0.9", "2")], [("1.1", "3")])
    assert book.on_event(DiffEvent(12, 12, [["1.0", "5"]], [])).synced  # already in the book: ignored
    assert book.bids["1.0"] == "1"
    state = book.on_event(DiffEvent(14, 15, [], []))  # 13 never came
    assert (state.synced, state.needs_snapshot, book.resyncs) == (False, True, 1)
    assert book.top(5) is None


def test_connections_respect_binance_stream_limits():
    plan = plan_connections([f"S{i}USDT" for i in range(1500)], ["BTCUSDT"])
    assert [len(p) for p in plan] == [1024, 477]
    assert plan[0][0] == "btcusdt@depth@100ms"
    assert all(name.split("@")[0] == name.split("@")[0].lower() for p in plan for name in p)


def test_the_feed_keeps_the_venues_books_and_tickers_in_the_snapshot(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=30, keep_tops=20)
    try:
        emulator.play_in_background(seconds=3)
        feed = _run(emulator, snapshot, until=lambda feed: emulator.finished.is_set())
    finally:
        emulator.close()
    assert feed.stats.books_synced == 2
    assert feed.stats.resyncs == 0
    for symbol in SYMBOLS:
        stored = json.loads(snapshot.r.get(f"md:feed-test:book:{symbol}"))
        bids, asks = emulator.tops[symbol][stored["u"]]
        assert (stored["b"], stored["a"]) == (bids, asks)
        book = snapshot.book(symbol, max_age_ms=60_000)
        assert book.bids[0][0] < book.asks[0][0]
    assert set(snapshot.tickers(SYMBOLS)) == set(SYMBOLS)


def test_a_skipped_update_resyncs_and_no_wrong_book_is_ever_served(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=30, keep_tops=20)
    wrong, read, stop = [], [0], threading.Event()

    def reader():
        while not stop.is_set():
            for symbol in SYMBOLS:
                raw = snapshot.r.get(f"md:feed-test:book:{symbol}")
                if raw is not None:
                    body = json.loads(raw)
                    read[0] += 1
                    if [body["b"], body["a"]] != list(emulator.tops[symbol].get(body["u"], ())):
                        wrong.append(body["u"])
            time.sleep(0.002)

    threading.Thread(target=reader, daemon=True).start()
    try:
        emulator.play_in_background(seconds=4)

        def skip_once_synced(feed):
            if feed.stats.books_synced == 2 and not emulator.skipped and "BTCUSDT" not in emulator.skip:
                emulator.skip_next("BTCUSDT")
            return emulator.finished.is_set()

        feed = _run(emulator, snapshot, until=skip_once_synced)
    finally:
        stop.set()
        emulator.close()
    assert emulator.skipped == 1
    assert feed.stats.resyncs >= 1
    assert feed.stats.books_synced >= 3  # both at the start, BTCUSDT again after the gap
    assert read[0] > 100
    assert wrong == []


def test_a_dropped_connection_reconnects_resubscribes_and_its_books_are_not_served_meanwhile(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=30, keep_tops=20)
    seen_without_book = []
    try:
        emulator.play_in_background(seconds=5)
        dropped = []

        def drop_once(feed):
            if feed.stats.books_synced == 2 and not dropped:
                dropped.append(time.monotonic())
                emulator.drop_connections()
            if dropped and feed.stats.reconnects and snapshot.r.get("md:feed-test:book:BTCUSDT") is None:
                seen_without_book.append(True)
            return emulator.finished.is_set()

        feed = _run(emulator, snapshot, until=drop_once)
    finally:
        emulator.close()
    assert feed.stats.reconnects >= 1
    assert seen_without_book  # between the drop and the new snapshot nobody reads the old book
    assert feed.stats.books_synced >= 4  # both books rebuilt on the new connection
    assert snapshot.book("BTCUSDT", max_age_ms=60_000) is not None


def test_the_feed_answers_the_venues_pings(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=30, keep_tops=20, ping_s=0.5)  # no pong within 0.25 s: closed
    try:
        emulator.play_in_background(seconds=2)
        feed = _run(emulator, snapshot, until=lambda feed: emulator.finished.is_set())
    finally:
        emulator.close()
    assert feed.stats.books_synced == 2
    assert feed.stats.reconnects == 0  # some pings answered on the one connection


def test_while_the_stream_is_down_rest_keeps_the_tickers_fresh(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=10, keep_tops=20)
    fresh_while_down = []
    try:
        emulator.play_in_background(seconds=30)

        def down_for_a_while(feed):
            if feed.stats.books_synced == 2 and not emulator.refusing_until:
                emulator.refuse_connections(4.0)
                emulator.drop_connections()
            if emulator.refusing_until > time.monotonic() and feed.stats.rest_fallbacks:
                ticker = snapshot.ticker("BTCUSDT")
                fresh_while_down.append(time.time() * 1000 - ticker.ts_ms < 1500)
            back = emulator.refusing_until and time.monotonic() > emulator.refusing_until
            rebuilt = back and snapshot.r.get("md:feed-test:book:BTCUSDT") is not None
            return emulator.finished.is_set() or rebuilt

        feed = _run(emulator, snapshot, until=down_for_a_while)
    finally:
        emulator.close()
    assert feed.stats.rest_fallbacks >= 1
    assert fresh_while_down
    assert all(fresh_while_down)
    assert snapshot.r.get("md:feed-test:book:BTCUSDT") is not None  # rebuilt once the stream was back


def test_a_connection_is_replaced_before_its_age_limit_without_losing_the_sequence(recordings, snapshot):
    emulator = BinanceEmulator(recordings, speed=30, keep_tops=20)
    try:
        emulator.play_in_background(seconds=4)
        feed = _run(emulator, snapshot, until=lambda feed: emulator.finished.is_set(), max_connection_age_s=1.0)
    finally:
        emulator.close()
    assert feed.stats.planned_reconnects >= 2
    assert feed.stats.reconnects == 0
    assert feed.stats.resyncs == 0  # the replacement took over where the old connection stopped
    stored = json.loads(snapshot.r.get("md:feed-test:book:ETHUSDT"))
    assert [stored["b"], stored["a"]] == list(emulator.tops["ETHUSDT"][stored["u"]])


def test_the_emulator_closes_a_connection_that_sends_more_than_five_messages_a_second(recordings):
    emulator = BinanceEmulator(recordings[:1])

    async def flood():
        import aiohttp

        url = f"{emulator.ws_url}/stream?streams=btcusdt@bookTicker"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            for n in range(7):
                await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": n}))
            while (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                pass
            return ws.close_code

    try:
        assert asyncio.run(flood()) == 1008
    finally:
        emulator.close()
    assert emulator.closed_for_rate == 1


@pytest.mark.django_db(transaction=True)
def test_run_feed_streams_a_ccxt_accounts_market_into_the_snapshot_and_reports_its_health(recordings, client, operator):
    from django.core.management import call_command

    from exchanges.models import Exchange, Market

    emulator = BinanceEmulator(recordings, speed=20, keep_tops=20)
    account = Exchange.objects.create(name="binance-emu", kind="ccxt", ccxt_id="binance", ws_url=emulator.ws_url,
                                      rest_url=emulator.rest_url)  # fmt: skip
    for base, quote in (("BTC", "USDT"), ("ETH", "USDT"), ("ETH", "BTC")):  # one triangle: its tickers are streamed
        Market.objects.create(exchange=account, symbol=base + quote, base=base, quote=quote, price_step="0.01",
                              amount_step="0.0001", min_amount="0.0001", min_notional="5")  # fmt: skip
    snapshot = MarketDataSnapshot("binance-emu")
    snapshot.clear()
    snapshot.want_books(["BTCUSDT"])
    try:
        emulator.play_in_background(seconds=6)
        call_command("run_feed", "--exchange", "binance-emu", "--seconds", "4")
        client.force_login(operator)
        stats = client.get("/api/cache-stats/").json()["feeds"]["binance-emu"]
        health = client.get("/healthz").json()["components"]["venue:binance-emu"]
    finally:
        emulator.close()
    assert set(snapshot.tickers(SYMBOLS)) == set(SYMBOLS)
    stored = json.loads(snapshot.r.get("md:binance-emu:book:BTCUSDT"))
    assert [stored["b"], stored["a"]] == list(emulator.tops["BTCUSDT"][stored["u"]])
    assert snapshot.r.get("md:binance-emu:book:ETHUSDT") is None  # nobody wanted it
    # BTCUSDT's depth, the triangle's three bookTickers, the trades of the markets charted (ANALYTICS_CHART_SYMBOLS)
    assert stats["streams"] == 6
    assert stats["ticker_updates"] > 100
    assert stats["trades"] > 10
    from analytics.models import Candle
    from analytics.selectors import open_candle

    closed = sum(Candle.objects.filter(market__exchange=account, timeframe="1m").values_list("trades", flat=True))
    still_open = [open_candle(exchange=account, symbol=s, timeframe="1m") for s in ("BTCUSDT", "ETHUSDT")]
    assert closed > 0  # closed by the replay's own clock, not this host's
    assert closed + sum(c.trades for c in still_open if c) == stats["trades"]  # every trade, once
    assert health["feed"]["books_synced"] == 1
    snapshot.clear()


class _ProLike:
    """The part of a ccxt.pro exchange CcxtFeed uses: its stream fails once, REST answers meanwhile."""

    has = {"watchBidsAsks": True, "fetchBidsAsks": True, "watchOrderBook": True, "watchTrades": True}

    def __init__(self):
        self.markets = {"BTC/USDT": {"id": "BTCUSDT", "spot": True}}
        self.watched = 0
        self.fetched = 0

    async def load_markets(self):
        return self.markets

    async def watch_bids_asks(self, symbols):
        self.watched += 1
        await asyncio.sleep(0.01)
        if self.watched == 3:
            raise ConnectionError("stream dropped")
        if self.watched > 3 and self.fetched == 0:
            await asyncio.sleep(0.2)
        return {"BTC/USDT": {"bid": 60000.0, "bidVolume": 1.5, "ask": 60000.01, "askVolume": 2.0}}

    async def fetch_bids_asks(self, symbols):
        self.fetched += 1
        return {"BTC/USDT": {"bid": 59999.0, "bidVolume": 1.0, "ask": 60001.0, "askVolume": 1.0}}

    async def watch_order_book(self, symbol, limit):
        await asyncio.sleep(0.01)
        return {"bids": [[60000.0, 1.5]], "asks": [[60000.01, 2.0]], "nonce": 7}

    async def watch_trades(self, symbol):
        await asyncio.sleep(0.05)
        self.traded = getattr(self, "traded", 0) + 1
        return [{"price": 60000.5, "amount": 0.25, "timestamp": 1_723_161_600_000 + self.traded}]


class _Candles:
    """A trade reader as TradeThread gives a feed: what it was handed, and the markets it wants."""

    def __init__(self):
        self.got = []

    def start(self):
        return self

    def symbols(self):
        return {"BTCUSDT"}

    def put(self, *trade):
        self.got.append(trade)

    def stop(self):
        pass


def test_another_ccxt_exchange_streams_through_ccxt_pro_and_falls_back_to_rest(snapshot):
    from exchanges.models import Exchange
    from feeds.ccxt_pro import CcxtFeed

    account = Exchange(name="feed-test", kind="ccxt", ccxt_id="kraken")
    pro = _ProLike()
    candles = _Candles()
    feed = CcxtFeed(account, snapshot=snapshot, tickers=["BTCUSDT"], books=lambda: {"BTCUSDT"}, client=pro,
                    poll_s=0.05, trades=candles)  # fmt: skip
    stats = asyncio.run(feed.run(seconds=1.5))
    assert stats.trades == len(candles.got) > 5  # the market's trades, watched, handed on for its candles
    assert candles.got[0] == ("BTCUSDT", "60000.5", "0.25", 1_723_161_600_001)
    assert stats.reconnects == 1
    assert pro.fetched >= 1  # while the stream was down
    assert stats.rest_fallbacks >= 1
    ticker = snapshot.ticker("BTCUSDT")
    assert (str(ticker.bid), str(ticker.ask)) == ("60000.0", "60000.01")  # the stream's again once it is back
    book = snapshot.book("BTCUSDT", max_age_ms=60_000)
    assert (str(book.bids[0][0]), str(book.asks[0][1])) == ("60000.0", "2.0")


def test_a_wanted_book_is_forgotten_ten_minutes_after_the_last_ask(snapshot, monkeypatch):
    import exchanges.marketdata as marketdata

    snapshot.want_books(["BTCUSDT", "ETHUSDT"])
    now = time.time()
    monkeypatch.setattr(marketdata.time, "time", lambda: now + 300)
    snapshot.want_books(["ETHUSDT"])  # asked again
    monkeypatch.setattr(marketdata.time, "time", lambda: now + marketdata.WANTED_FOR_S + 1)
    assert snapshot.wanted_books() == {"ETHUSDT"}


def test_the_feed_rides_out_a_redis_outage_and_writes_the_latest_values_after(recordings, caplog):
    import logging
    from urllib.parse import urlsplit

    import redis
    from django.conf import settings

    from tests.outages.proxy import TcpProxy

    url = urlsplit(settings.REDIS_URL)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 6379).start()
    through = redis.Redis(host="127.0.0.1", port=proxy.port, db=int(url.path.strip("/") or 0), socket_timeout=1,
                          socket_connect_timeout=1)  # fmt: skip
    snapshot = MarketDataSnapshot("feed-outage", client=through)
    direct = MarketDataSnapshot("feed-outage")
    direct.clear()
    emulator = BinanceEmulator(recordings, speed=10, keep_tops=20)
    cut, at_cut = [], []

    def outage(feed):
        if feed.stats.books_synced == 2 and not cut:
            cut.append(time.monotonic())
            at_cut.append(feed.books["BTCUSDT"].update_id)
            proxy.cut()
        if cut and len(cut) == 1 and time.monotonic() - cut[0] > 1.5:
            cut.append(time.monotonic())
            proxy.restore()
        return emulator.finished.is_set()

    try:
        emulator.play_in_background(seconds=6)
        with caplog.at_level(logging.WARNING, logger="feeds.binance"):
            feed = _run(emulator, snapshot, until=outage)
    finally:
        emulator.close()
        proxy.stop()
    assert feed.stats.reconnects == 0  # the venue side never noticed
    lines = [r.getMessage() for r in caplog.records]
    assert sum("redis unavailable" in line for line in lines) == 1
    assert sum("redis back after" in line for line in lines) == 1
    stored = json.loads(direct.r.get("md:feed-outage:book:BTCUSDT"))
    assert [stored["b"], stored["a"]] == list(emulator.tops["BTCUSDT"][stored["u"]])
    assert stored["u"] > at_cut[0]  # written again after Redis came back
    assert set(direct.tickers(SYMBOLS)) == set(SYMBOLS)
    direct.clear()
