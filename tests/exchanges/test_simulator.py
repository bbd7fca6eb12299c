"""The simulator keeps cross rates coherent, except where it injects a mispricing."""

import json
from decimal import Decimal

import pytest

from exchanges.binance_format import parse_exchange_info, parse_tickers
from exchanges.simulator import MarketSimulator, SimulatorConfig, triangle_mid_rates
from exchanges.types import MarketInfo, Ticker

D = Decimal


def small_world():
    markets = [
        MarketInfo("BTCUSDT", "BTC", "USDT", D("0.01"), D("0.000001"), D("0.000001"), D("10")),
        MarketInfo("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("10")),
        MarketInfo("ETHBTC", "ETH", "BTC", D("0.000001"), D("0.001"), D("0.001"), D("0.0001")),
    ]
    tickers = [
        Ticker("BTCUSDT", D("10000.00"), D("2"), D("10000.01"), D("2"), 0),
        Ticker("ETHUSDT", D("350.00"), D("20"), D("350.01"), D("20"), 0),
        Ticker("ETHBTC", D("0.035000"), D("20"), D("0.035001"), D("20"), 0),
    ]
    return markets, tickers


def test_prices_move_but_the_triangle_stays_coherent():
    markets, tickers = small_world()
    sim = MarketSimulator.from_snapshot(markets, tickers, config=SimulatorConfig(mispricing_rate_per_min=0), seed=5)
    first = {t.symbol: t for t in sim.tickers(0, 0)}
    for i in range(200):
        sim.step(0.5, i * 0.5)
    later = {t.symbol: t for t in sim.tickers(100, 0)}
    assert later["BTCUSDT"].bid != first["BTCUSDT"].bid  # it moved
    mids = {s: float((t.bid + t.ask) / 2) for s, t in later.items()}
    ((_, rate, tolerance),) = triangle_mid_rates(sim, 100, mids=mids)
    assert abs(rate - 1) <= tolerance


def test_an_injected_mispricing_shows_in_its_triangles_and_decays():
    markets, tickers = small_world()
    sim = MarketSimulator.from_snapshot(markets, tickers, config=SimulatorConfig(mispricing_rate_per_min=0), seed=5)
    sim.open_mispricing(0.0, symbol="ETHBTC", bps=60)
    ((legs, rate, _),) = triangle_mid_rates(sim, 1.0)
    assert "ETHBTC" in legs
    assert abs(abs(rate - 1) - 0.0057) < 0.0003  # 60 bps, 1/20 of its lifetime gone
    sim.step(0.5, sim.config.mispricing_lifetime_s + 1)
    assert sim.mispricings == {}
    assert abs(triangle_mid_rates(sim, 25.0)[0][1] - 1) < 1e-12


def test_fills_consume_a_mispricing():
    markets, tickers = small_world()
    sim = MarketSimulator.from_snapshot(markets, tickers, config=SimulatorConfig(mispricing_rate_per_min=0), seed=5)
    sim.open_mispricing(0.0, symbol="ETHBTC", bps=50)
    sim.consume("ETHBTC", D("1000"))
    sim.step(0.1, 0.1)
    assert "ETHBTC" not in sim.mispricings


def test_every_triangle_of_the_real_snapshot_is_coherent_except_mispriced_ones(shared_data):
    binance = shared_data / "binance"
    markets = parse_exchange_info(json.loads((binance / "exchange_info_2020-10-09.json").read_text()))
    tickers = parse_tickers(json.loads((binance / "ticker_24hr_2020-10-09.json").read_text()))
    config = SimulatorConfig(mispricing_rate_per_min=600)  # many mispricings in 30 s
    sim = MarketSimulator.from_snapshot(markets, tickers, config=config, seed=11)
    for i in range(60):
        sim.step(0.5, i * 0.5)
    now = 30.0
    assert sim.mispricings, "the run opened mispricings"
    rates = triangle_mid_rates(sim, now)
    assert len(rates) > 1000
    band = 1e-9
    coherent = [(legs, r) for legs, r, _ in rates if not set(legs) & set(sim.mispricings)]
    mispriced = [(legs, r) for legs, r, _ in rates if set(legs) & set(sim.mispricings)]
    assert all(abs(r - 1) < band for _, r in coherent)
    assert mispriced
    for legs, r in mispriced:
        hit = [sim.mispricings[s].factor(now) for s in legs if s in sim.mispricings]
        if len(hit) == 1:  # the triangle is off by exactly its one mispriced leg
            assert min(abs(r - hit[0]), abs(r - 1 / hit[0])) < 1e-9
    # The published quotes, rounded to each market's tick, stay within that rounding of coherence.
    published = {t.symbol: float((t.bid + t.ask) / 2) for t in sim.tickers(now, 0)}
    quoted = triangle_mid_rates(sim, now, mids=published)
    for legs, rate, tolerance in quoted:
        if not set(legs) & set(sim.mispricings):
            assert abs(rate - 1) <= tolerance * 1.01 + 1e-9, (legs, rate, tolerance)


@pytest.mark.django_db
def test_run_simulator_publishes_every_market_to_the_snapshot(paper):
    from django.core.management import call_command

    from exchanges.marketdata import MarketDataSnapshot
    from exchanges.types import Ticker as T

    snapshot = MarketDataSnapshot(paper.exchange.name)
    snapshot.put_tickers([T("BTCUSDT", D("1"), D("1"), D("2"), D("1"), 0)])  # stale, to be overwritten
    call_command("run_simulator", exchange=paper.exchange.name, ticks=2, interval=0.05, seed=1,
                 tickers=str(_ticker_file(tmp_rows())))  # fmt: skip
    tickers = snapshot.tickers()
    assert set(tickers) == {"BTCUSDT", "ETHUSDT", "ETHBTC"}
    assert tickers["BTCUSDT"].ts_ms > 0


def tmp_rows():
    return [
        {"symbol": "BTCUSDT", "bidPrice": "60000.00", "bidQty": "1", "askPrice": "60000.01", "askQty": "1"},
        {"symbol": "ETHUSDT", "bidPrice": "3000.00", "bidQty": "10", "askPrice": "3000.10", "askQty": "10"},
        {"symbol": "ETHBTC", "bidPrice": "0.050000", "bidQty": "10", "askPrice": "0.050010", "askQty": "10"},
    ]


def _ticker_file(rows):
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
    json.dump(rows, handle)
    handle.close()
    return handle.name
