"""Candles: the aggregator against an independent pandas resample, the writer, retention and the API."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.candles import TIMEFRAMES, CandleAggregator
from analytics.models import Candle
from analytics.services import CandleWriter, candles_prune
from bench.bench_analytics import candle_mismatches, pandas_candles, recorded_trades
from core.clock import from_ms

D = Decimal
DAY_MS = 86_400_000


def generated_trades(seed: int, days: float = 2.5) -> list[tuple[str, Decimal, Decimal, int]]:
    """Two markets' trades over a few days, with quiet hours, bursts in one millisecond and repeated prices."""
    rng = random.Random(seed)
    start = 1_723_161_254_000  # not on a span's edge
    trades, prices = [], {"BTCUSDT": 61_837.63, "ETHUSDT": 2_612.4}
    t = start
    while t < start + days * DAY_MS:
        t += int(rng.expovariate(1 / 20_000)) if rng.random() > 0.02 else 3_600_000 * rng.randint(1, 5)
        for _ in range(rng.choice((1, 1, 1, 3))):  # several prints at one time
            symbol = rng.choice(list(prices))
            prices[symbol] *= 1 + rng.gauss(0, 0.0005)
            price = D(f"{prices[symbol]:.2f}")
            trades.append((symbol, price, D(f"{rng.uniform(0.0001, 2):.5f}"), t))
    return trades


def aggregate(trades) -> list:
    aggregator = CandleAggregator()
    for trade in trades:
        aggregator.add(*trade)
    aggregator.close_due(trades[-1][3] + 2 * DAY_MS)
    return aggregator.take_closed()


def test_candles_of_the_recorded_trades_equal_an_independent_pandas_resample(shared_data):
    trades = recorded_trades()
    assert len(trades) > 15_000
    mismatches, compared = candle_mismatches(aggregate(trades), pandas_candles(trades))
    assert compared >= 24  # both markets, six minutes, every timeframe
    assert mismatches == 0


@pytest.mark.parametrize("seed", [3, 11])
def test_candles_over_days_of_every_timeframe_equal_the_resample(seed):
    trades = generated_trades(seed)
    candles = aggregate(trades)
    mismatches, compared = candle_mismatches(candles, pandas_candles(trades))
    assert mismatches == 0
    by_tf = {tf: sum(c.timeframe == tf for c in candles) for tf in TIMEFRAMES}
    assert by_tf["1d"] >= 2
    assert by_tf["4h"] > by_tf["1d"]
    assert by_tf["1m"] > by_tf["5m"] > by_tf["15m"] > by_tf["1h"]
    assert compared == len(candles)


def test_a_trade_older_than_its_markets_open_minute_is_counted_late_and_changes_nothing():
    aggregator = CandleAggregator()
    aggregator.add("BTCUSDT", D("100"), D("1"), 60_000 * 10 + 5)
    aggregator.add("BTCUSDT", D("101"), D("1"), 60_000 * 11 + 5)  # the minute before closes
    aggregator.add("BTCUSDT", D("999"), D("1"), 60_000 * 10 + 30)  # late for that minute: left out
    [minute] = [c for c in aggregator.take_closed() if c.timeframe == "1m"]
    assert (minute.high, minute.trades, aggregator.late) == (D("100"), 1, 1)
    now = {(c.timeframe, c.open_ms): c for c in aggregator.open_candles()}
    assert now[("5m", 60_000 * 10)].high == D("101")  # the open 5m holds the closed minute and the open one
    assert now[("5m", 60_000 * 10)].trades == 2


def test_the_writer_stores_closed_candles_in_bulk_and_keeps_the_open_ones_in_redis(paper, api):
    writer = CandleWriter(paper.exchange, flush_s=0)
    base = 1_723_161_600_000  # a day's start: the minutes after it share one 5m span
    for i, price in enumerate(["100", "105", "99", "101"]):
        writer.add("BTCUSDT", D(price), D("0.5"), base + i * 10_000)
    writer.add("BTCUSDT", D("102"), D("1"), base + 60_000)  # the next minute: the first one closes
    writer.add("NOTAMARKET", D("1"), D("1"), base)  # not a market of the account: left out
    assert writer.flush(now_ms=base + 61_000) == 1
    stored = Candle.objects.get(timeframe="1m")
    assert (stored.open, stored.high, stored.low, stored.close, stored.trades) == (D(100), D(105), D(99), D(101), 4)
    assert stored.volume == D(2)
    assert stored.quote_volume == D("202.5")

    answer = api.get("/api/candles/", {"exchange": paper.exchange.name, "symbol": "btcusdt", "tf": "1m"}).json()
    assert answer["count"] == 1
    assert answer["results"][0]["close"] == "101.000000000000000000"
    assert answer["open"]["close"] == "102.000000000000000000"
    assert answer["open"]["closed"] is False
    five = api.get("/api/candles/", {"exchange": paper.exchange.name, "symbol": "BTCUSDT", "tf": "5m"}).json()
    assert five["count"] == 0
    assert five["open"]["trades"] == 5

    writer.flush(now_ms=base + 3 * 60_000)  # time passed with no trade: the quiet minute closes too
    assert Candle.objects.filter(timeframe="1m").count() == 2
    later = api.get("/api/candles/", {"exchange": paper.exchange.name, "symbol": "BTCUSDT", "tf": "1m",
                                      "since": from_ms(base + 60_000).isoformat()}).json()  # fmt: skip
    assert [c["trades"] for c in later["results"]] == [1]


def test_a_flush_that_fails_keeps_its_candles_for_the_next(paper, monkeypatch):
    writer = CandleWriter(paper.exchange, flush_s=0)
    writer.add("BTCUSDT", D("100"), D("1"), 0)
    writer.add("BTCUSDT", D("101"), D("1"), 60_000)

    def down(**kwargs):
        raise ConnectionError("PostgreSQL is away")

    monkeypatch.setattr("analytics.services.candles_write", down)
    assert writer.flush(now_ms=61_000) == 0
    monkeypatch.undo()
    assert writer.flush(now_ms=62_000) == 1
    assert Candle.objects.count() == 1


def test_bad_candle_queries_are_refused_with_a_reason(paper, api):
    refused = api.get("/api/candles/", {"exchange": paper.exchange.name, "symbol": "BTCUSDT", "tf": "7m"})
    assert refused.status_code == 400
    assert "tf" in refused.json()
    unknown = api.get("/api/candles/", {"exchange": paper.exchange.name, "symbol": "DOGEUSDT"})
    assert unknown.status_code == 400
    assert "DOGEUSDT is not a market" in str(unknown.json())
    assert api.get("/api/candles/", {"symbol": "BTCUSDT"}).status_code == 400  # a symbol of which account?
    assert api.get("/api/candles/", {"exchange": paper.exchange.name}).status_code == 200  # every market of it


def test_candles_past_their_timeframes_retention_are_pruned(paper, settings):
    settings.ANALYTICS_CANDLE_RETENTION_DAYS = {"1m": 7, "5m": 30, "15m": 90, "1h": 365, "4h": 0, "1d": 0}
    market = paper.exchange.markets.get(symbol="BTCUSDT")
    now = timezone.now()
    for timeframe, age_days in (("1m", 8), ("1m", 6), ("5m", 31), ("1d", 4000)):
        Candle.objects.create(market=market, timeframe=timeframe, open_time=now - timedelta(days=age_days), open=1,
                              high=1, low=1, close=1, volume=1, quote_volume=1, trades=1)  # fmt: skip
    assert candles_prune(now=now) == {"1m": 1, "5m": 1, "15m": 0, "1h": 0}
    assert sorted(Candle.objects.values_list("timeframe", flat=True)) == ["1d", "1m"]  # 4h and 1d: kept for good


def test_the_simulators_trades_and_the_paper_fills_become_candles(paper, settings, monkeypatch):
    from django.core.management import call_command

    from analytics.selectors import open_candle
    from exchanges.paper import PaperVenue
    from tests.exchanges.test_simulator import _ticker_file, tmp_rows

    settings.ANALYTICS_CHART_SYMBOLS = ["BTCUSDT"]
    settings.ANALYTICS_CANDLE_FLUSH_S = 0.0
    fills = []
    match_resting = PaperVenue.match_resting

    def match_and_buy(venue):  # a fill on the simulated market, from inside the tick (the test's connection)
        if not fills:
            order = venue.create_order(symbol="BTCUSDT", side="buy", type="market", amount=D("0.01"),
                                       client_order_id="candle-fill")  # fmt: skip
            fills.extend(order.trades)
        return match_resting(venue)

    monkeypatch.setattr(PaperVenue, "match_resting", match_and_buy)
    ticks = 5
    call_command("run_simulator", exchange=paper.exchange.name, ticks=ticks, interval=0.02, seed=1,
                 tickers=str(_ticker_file(tmp_rows())))  # fmt: skip
    assert fills
    candles = list(Candle.objects.filter(market__symbol="BTCUSDT", timeframe="1m"))
    current = open_candle(exchange=paper.exchange, symbol="BTCUSDT", timeframe="1m")
    candles += [current] if current else []
    assert sum(c.trades for c in candles) == ticks + len(fills)  # one public trade a tick, and the fill
    assert sum(c.volume for c in candles) > sum(f.amount for f in fills)
    assert open_candle(exchange=paper.exchange, symbol="ETHBTC", timeframe="1m") is None  # not held, traded or charted
