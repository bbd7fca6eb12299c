"""Triangle detection: the table, numpy scoring, incremental re-scoring, the depth walk and scan_snapshot."""

import io
import json
import math
import random
from decimal import Decimal
from itertools import permutations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cycles.detection import TriangleScorer, triangle_table, walk_cycle
from exchanges.types import MarketInfo, Ticker
from tests.conftest import MARKETS, ladder

D = Decimal


def brute_force(info: dict, tickers: list[dict], fee: Decimal, start: str | None = None) -> dict:
    """Every directed triangle by trying every ordered triple of assets; rates in Decimal."""
    quotes = {
        t["symbol"]: (D(t["bidPrice"]), D(t["askPrice"]))
        for t in tickers
        if D(t["bidPrice"]) > 0 and D(t["askPrice"]) >= D(t["bidPrice"])
    }
    pair = {}
    for s in info["symbols"]:
        if s["status"] == "TRADING" and s["symbol"] in quotes:
            pair[(s["baseAsset"], s["quoteAsset"])] = (s["symbol"], "sell")
            pair[(s["quoteAsset"], s["baseAsset"])] = (s["symbol"], "buy")
    assets = sorted({a for a, _ in pair})
    neighbours = {a: {b for (x, b) in pair if x == a} for a in assets}
    found = {}
    for x in assets:
        if start is not None and x != start:
            continue
        for y in neighbours[x]:
            for z in neighbours[y]:
                if z in (x, y) or x not in neighbours[z]:
                    continue
                rate, symbols, sides = D(1), [], []
                for a, b in ((x, y), (y, z), (z, x)):
                    symbol, side = pair[(a, b)]
                    bid, ask = quotes[symbol]
                    rate *= (bid if side == "sell" else 1 / ask) * (1 - fee)
                    symbols.append(symbol)
                    sides.append(side)
                found[(x, y, z, x)] = (tuple(symbols), tuple(sides), rate)
    return found


def _scan(shared_data, *extra) -> dict:
    out = io.StringIO()
    call_command(
        "scan_snapshot", "--exchange-info", str(shared_data / "binance" / "exchange_info_2020-10-09.json"),
        "--tickers", str(shared_data / "binance" / "ticker_24hr_2020-10-09.json"), "--json", *extra, stdout=out,
    )  # fmt: skip
    return json.loads(out.getvalue())


@pytest.mark.parametrize(("start", "fee"), [("USDT", "0.001"), (None, "0.00075")])
def test_scan_snapshot_matches_brute_force_on_the_real_2020_snapshot(shared_data, start, fee):
    extra = ["--fee", fee] + (["--start", start] if start else [])
    result = _scan(shared_data, *extra)
    info = json.loads((shared_data / "binance" / "exchange_info_2020-10-09.json").read_text())
    tickers = json.loads((shared_data / "binance" / "ticker_24hr_2020-10-09.json").read_text())
    expected = brute_force(info, tickers, D(fee), start)

    got = {tuple(t["path"]): t for t in result["triangles"]}
    assert set(got) == set(expected)
    assert len(result["triangles"]) == len(expected)
    for path, (symbols, sides, rate) in expected.items():
        item = got[path]
        assert tuple(item["symbols"]) == symbols
        assert tuple(item["sides"]) == sides
        assert item["net_rate"] == pytest.approx(float(rate), rel=1e-9)
    rates = [t["net_rate"] for t in result["triangles"]]
    assert rates == sorted(rates, reverse=True)


def test_scan_snapshot_example_shape(shared_data):
    result = _scan(shared_data, "--start", "USDT")
    item = next(t for t in result["triangles"] if t["path"] == ["USDT", "BTC", "ETH", "USDT"])
    assert item["symbols"] == ["BTCUSDT", "ETHBTC", "ETHUSDT"]
    assert item["sides"] == ["buy", "buy", "sell"]
    assert 0.99 < item["net_rate"] < 1.0  # three taker fees at a coherent market lose about 30 bps


def test_scan_snapshot_refuses_bad_input(tmp_path, shared_data):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    tickers = str(shared_data / "binance" / "ticker_24hr_2020-10-09.json")
    with pytest.raises(CommandError, match="is not JSON"):
        call_command("scan_snapshot", "--exchange-info", str(bad), "--tickers", tickers)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("scan_snapshot", "--exchange-info", str(tmp_path / "nope.json"), "--tickers", tickers)
    info = str(shared_data / "binance" / "exchange_info_2020-10-09.json")
    with pytest.raises(CommandError, match="No triangle can start at XYZ"):
        call_command("scan_snapshot", "--exchange-info", info, "--tickers", tickers, "--start", "xyz")


def _random_markets(rng: random.Random, n_assets: int = 12, p: float = 0.5) -> list[MarketInfo]:
    assets = [f"A{i}" for i in range(n_assets)]
    return [
        MarketInfo(f"{a}{b}", a, b, D("0.0001"), D("0.001"), D("0.001"), D("1"), taker_fee=D("0.001"))
        for a, b in permutations(assets, 2)
        if a < b and rng.random() < p
    ]


def test_table_holds_every_directed_cycle_from_every_start():
    table = triangle_table(MARKETS)
    assert len(table) == 6  # one triangle: two directions x three start assets
    described = [table.describe(r) for r in range(len(table))]
    assert {"path": ["USDT", "BTC", "ETH", "USDT"], "symbols": ["BTCUSDT", "ETHBTC", "ETHUSDT"],
            "sides": ["buy", "buy", "sell"]} in described  # fmt: skip
    assert {tuple(d["path"][:3]) for d in described} == {
        ("BTC", "ETH", "USDT"), ("ETH", "USDT", "BTC"), ("USDT", "BTC", "ETH"),
        ("BTC", "USDT", "ETH"), ("USDT", "ETH", "BTC"), ("ETH", "BTC", "USDT"),
    }  # fmt: skip


def test_incremental_rescoring_equals_a_full_rescore():
    rng = random.Random(7)
    markets = _random_markets(rng)
    table = triangle_table(markets)
    scorer = TriangleScorer(table)

    def quote(m: MarketInfo, ts: int) -> Ticker:
        mid = rng.uniform(0.5, 2.0)
        return Ticker(m.symbol, D(repr(mid * 0.999)), D(1), D(repr(mid * 1.001)), D(1), ts)

    scorer.load([quote(m, 0) for m in markets])
    for ts in range(1, 200):
        market = rng.choice(markets)
        touched = scorer.update([quote(market, ts)])
        m = table.market_index.get(market.symbol)
        uses = {r for r in range(len(table)) if m is not None and m in table.leg_market[r]}
        assert set(touched.tolist()) == uses
        incremental = scorer.scores.copy()
        assert incremental == pytest.approx(scorer.score_all(), rel=0, abs=1e-12)


def test_candidates_filter_by_threshold_start_and_age():
    table = triangle_table(MARKETS)
    scorer = TriangleScorer(table)
    # ETH cheap on ETHUSDT: USDT -> ETH -> BTC -> USDT pays about 1% before fees.
    scorer.load([
        Ticker("BTCUSDT", D("60000"), D(1), D("60000.01"), D(1), 1_000),
        Ticker("ETHBTC", D("0.05"), D(10), D("0.05001"), D(10), 1_000),
        Ticker("ETHUSDT", D("2960"), D(10), D("2970"), D(10), 1_000),
    ])  # fmt: skip
    best = scorer.candidates(min_profit_bps=10, start="USDT")
    assert len(best) == 1
    assert table.describe(best[0])["path"] == ["USDT", "ETH", "BTC", "USDT"]
    expected = (1 / 2970) * 0.05 * 60000 * 0.999**3
    assert scorer.net_rate(best[0]) == pytest.approx(expected, rel=1e-12)
    assert len(scorer.candidates(min_profit_bps=math.floor((expected - 1) * 10_000) + 1, start="USDT")) == 0
    assert len(scorer.candidates(min_profit_bps=10)) == 3  # the same cycle from each of its three assets
    assert len(scorer.candidates(min_profit_bps=10, start="DOGE")) == 0
    assert scorer.fresh(best[0], now_ms=2_000, max_age_ms=1_500)
    scorer.update([Ticker("BTCUSDT", D("60000"), D(1), D("60000.01"), D(1), 5_000)])
    assert not scorer.fresh(best[0], now_ms=5_000, max_age_ms=1_500)  # ETHBTC and ETHUSDT are 4 s old


def test_walk_cycle_floors_lots_and_takes_depth_and_fees():
    table = triangle_table(MARKETS)
    row = next(r for r in range(len(table)) if table.describe(r)["path"] == ["USDT", "BTC", "ETH", "USDT"])
    books = {
        "BTCUSDT": ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("0.001", "1")),
        "ETHBTC": ladder("ETHBTC", "0.050000", "0.050010", "0.000010"),
        "ETHUSDT": ladder("ETHUSDT", "3000.00", "3000.10", "0.50"),
    }
    walk = walk_cycle(table, row, D("100"), books)
    assert walk.ok
    leg1, leg2, leg3 = walk.legs
    # 100 USDT: 0.001 BTC at 60000.01, the rest at 60001.01, floored to the 0.000001 lot.
    assert leg1.base_amount == D("0.001666")
    assert leg1.amount_in == D("0.001") * D("60000.01") + D("0.000666") * D("60001.01")
    assert leg1.amount_out == D("0.001666") * D("0.999")
    # 0.001664334 BTC buys ETH at 0.05001, floored to the 0.001 lot: 0.033 ETH.
    assert leg2.base_amount == D("0.033")
    assert leg3.base_amount == D("0.03296")  # 0.032967 ETH floored to the 0.00001 lot
    assert walk.end_amount == D("0.03296") * D("3000.00") * D("0.999")
    assert walk.start_amount == leg1.amount_in


def test_walk_cycle_refuses_thin_books_and_minimum_notional():
    table = triangle_table(MARKETS)
    row = next(r for r in range(len(table)) if table.describe(r)["path"] == ["USDT", "BTC", "ETH", "USDT"])
    books = {
        "BTCUSDT": ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("0.0001",)),
        "ETHBTC": ladder("ETHBTC", "0.050000", "0.050010", "0.000010"),
        "ETHUSDT": ladder("ETHUSDT", "3000.00", "3000.10", "0.50"),
    }
    thin = walk_cycle(table, row, D("100"), books)
    assert not thin.ok
    assert "too thin" in thin.reason
    books["BTCUSDT"] = ladder("BTCUSDT", "60000.00", "60000.01", "1.00")
    small = walk_cycle(table, row, D("5"), books)
    assert not small.ok
    assert "minimum notional" in small.reason
    missing = walk_cycle(table, row, D("100"), {"BTCUSDT": books["BTCUSDT"]})
    assert missing.reason == "no book for ETHBTC"
