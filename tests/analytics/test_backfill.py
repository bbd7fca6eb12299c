"""Backfill: a venue's one-minute klines, fetched in pages and rolled up, equal the candles its trades make."""

import pytest
from django.core.management import CommandError, call_command

from analytics.models import Candle
from bench.bench_analytics import recorded_trades
from bench.binance_emulator import BinanceEmulator
from tests.analytics.test_candles import aggregate


@pytest.fixture
def emulated(shared_data, transactional_db):
    from exchanges.models import Exchange, Market

    emulator = BinanceEmulator(sorted((shared_data / "binance" / "depth").glob("*.gz")))
    account = Exchange.objects.create(name="binance-emu", kind="ccxt", ccxt_id="binance", ws_url=emulator.ws_url,
                                      rest_url=emulator.rest_url)  # fmt: skip
    for base in ("BTC", "ETH"):
        Market.objects.create(exchange=account, symbol=base + "USDT", base=base, quote="USDT", price_step="0.01",
                              amount_step="0.00001", min_amount="0.00001", min_notional="5")  # fmt: skip
    yield account
    emulator.close()


def test_backfilled_candles_equal_the_ones_the_trades_make(emulated):
    call_command("backfill_candles", "--exchange", emulated.name, "--symbol", "BTCUSDT", "--symbol", "ethusdt",
                 "--since", "2024-08-08T23:50:00")  # fmt: skip
    stored = {(c.market.symbol, c.timeframe, int(c.open_time.timestamp() * 1000)): c
              for c in Candle.objects.filter(market__exchange=emulated).select_related("market")}  # fmt: skip
    expected = {(c.symbol, c.timeframe, c.open_ms): c for c in aggregate(recorded_trades())}
    minutes = {k: c for k, c in expected.items() if k[1] == "1m"}
    assert len(minutes) >= 12  # both markets, six recorded minutes each
    for key, c in minutes.items():
        s = stored[key]
        assert (s.open, s.high, s.low, s.close, s.volume, s.quote_volume, s.trades) == (
            c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades)  # fmt: skip
    for key, s in stored.items():  # a higher span is written only when its minutes are all there
        if key[1] != "1m":
            assert s.trades == expected[key].trades


def test_a_venue_with_no_candle_history_is_refused_with_a_reason(paper):
    with pytest.raises(CommandError, match="keeps no candle history"):
        call_command("backfill_candles", "--exchange", paper.exchange.name, "--symbol", "BTCUSDT")
    with pytest.raises(CommandError, match="Not markets of paper-test: DOGEUSDT"):
        call_command("backfill_candles", "--exchange", paper.exchange.name, "--symbol", "DOGEUSDT")
