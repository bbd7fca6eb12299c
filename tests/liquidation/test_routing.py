"""Liquidation routing equals an exhaustive search of every route within the hop bound."""

import json
import random
from decimal import Decimal
from itertools import pairwise, permutations

import pytest

from exchanges.types import MarketInfo, OrderBook
from liquidation.routing import Hop, Route, RoutePolicy, Router, better

D = Decimal


def _book(symbol: str, mid: float, rng: random.Random, levels: int = 20) -> OrderBook:
    spread = rng.uniform(0.0002, 0.004)
    size = rng.uniform(0.5, 20)
    bids = tuple((D(repr(round(mid * (1 - spread / 2) * (1 - 0.0007 * i), 8))), D(repr(round(size * (1 + i), 6))))
                 for i in range(levels))  # fmt: skip
    asks = tuple((D(repr(round(mid * (1 + spread / 2) * (1 + 0.0007 * i), 8))), D(repr(round(size * (1 + i), 6))))
                 for i in range(levels))  # fmt: skip
    return OrderBook(symbol, bids, asks, 0)


def generated_market(seed: int, n_assets: int = 9, p: float = 0.45):
    rng = random.Random(seed)
    assets = ["USDT", "USDC", "BTC", "ETH"] + [f"X{i}" for i in range(n_assets - 4)]
    value = {a: (1.0 if a in ("USDT", "USDC") else rng.uniform(0.05, 500)) for a in assets}
    markets, books = [], []
    for a, b in permutations(assets, 2):
        if a < b and (rng.random() < p or {a, b} <= {"USDT", "BTC", "ETH"}):
            m = MarketInfo(f"{a}{b}", a, b, D("1e-8"), D(str(rng.choice(["0.001", "0.01", "0.1"]))), D(0),
                           D(str(rng.choice([0, 1, 5]))))  # fmt: skip
            markets.append(m)
            books.append(_book(m.symbol, value[a] / value[b] * rng.uniform(0.99, 1.01), rng))
    return markets, books, value


def exhaustive_best(router: Router, asset: str, amount: float, policy: RoutePolicy) -> Route | None:
    result = router.route(asset, amount, policy, exhaustive=True)
    return result.route


@pytest.mark.parametrize("seed", range(12))
def test_routing_equals_exhaustive_search_on_generated_markets(seed):
    markets, books, value = generated_market(seed)
    router = Router(markets)
    router.set_books(books)
    rng = random.Random(seed)
    for _ in range(10):
        asset = rng.choice([a for a in value if a not in ("USDT", "USDC")])
        amount = rng.uniform(5, 3000) / value[asset]
        policy = RoutePolicy(
            base_currencies=["USDT", "USDC"], max_hops=rng.choice([1, 2, 3, 4]),
            preferred_intermediaries=["BTC", "ETH"], max_total_slippage_bps=rng.choice([50, 250, 1000]),
        )  # fmt: skip
        ours = router.route(asset, amount, policy).route
        best = exhaustive_best(router, asset, amount, policy)
        assert (ours is None) == (best is None)
        if best is not None:
            assert ours.path == best.path
            assert ours.value == pytest.approx(best.value, rel=1e-12)


def test_routing_equals_exhaustive_search_on_the_real_2020_graph(shared_data):
    from exchanges.binance_format import parse_exchange_info, parse_tickers
    from exchanges.depth_profile import load_profile, shape_book

    markets = parse_exchange_info(json.loads((shared_data / "binance" / "exchange_info_2020-10-09.json").read_text()))
    tickers = parse_tickers(json.loads((shared_data / "binance" / "ticker_24hr_2020-10-09.json").read_text()))
    by_symbol = {m.symbol: m for m in markets}
    profile = load_profile(str(shared_data / "binance" / "depth" / "btcusdt_20240808.gz"))
    router = Router(markets)
    router.set_books(shape_book(t, profile, price_step=by_symbol[t.symbol].price_step) for t in tickers
                     if t.symbol in by_symbol)  # fmt: skip
    usdt = {t.symbol: float(t.bid) for t in tickers}
    rng = random.Random(3)
    assets = sorted(a for a in router.assets if f"{a}USDT" in usdt and a not in ("USDT", "USDC"))
    found = 0
    for _ in range(25):
        asset = rng.choice(assets)
        amount = rng.uniform(20, 2000) / usdt[f"{asset}USDT"]
        policy = RoutePolicy(
            base_currencies=["USDT", "USDC"], max_hops=3, preferred_intermediaries=["BTC", "ETH", "BNB"]
        )
        ours = router.route(asset, amount, policy).route
        best = exhaustive_best(router, asset, amount, policy)
        assert (ours is None) == (best is None), asset
        if best is not None:
            found += 1
            assert ours.path == best.path
    assert found >= 20


def _route(path: list[str], value: float, preferred: int) -> Route:
    hops = tuple(Hop(f"{a}{b}", "sell", a, b, 1.0, 1.0, 1.0, 1.0) for a, b in pairwise(path))
    return Route(path[0], 1.0, path[-1], value, value, hops, 0.0, preferred)


def test_ties_go_to_preferred_intermediaries_then_fewer_hops():
    plain = _route(["SOL", "XRP", "USDT"], 100.0, preferred=0)
    via_btc = _route(["SOL", "BTC", "USDT"], 100.0 * (1 - 1e-12), preferred=1)
    assert better(via_btc, plain)  # equal within a part in a billion: preference decides
    richer = _route(["SOL", "XRP", "USDT"], 100.1, preferred=0)
    assert better(richer, via_btc)  # a better price always wins
    short = _route(["SOL", "USDT"], 100.0, preferred=0)
    assert better(short, plain)


def test_slippage_tolerance_refuses_and_widens_with_volatility():
    markets = [MarketInfo("ABCUSDT", "ABC", "USDT", D("0.0001"), D("1"), D(0), D(0))]
    router = Router(markets)
    rng = random.Random(1)
    router.set_book(_book("ABCUSDT", 2.0, rng, levels=3))
    policy = RoutePolicy(base_currencies=["USDT"], max_total_slippage_bps=5)
    deep = sum(q for _, q in router.books["ABCUSDT"].bids)  # the whole book: a costly sale
    refused = router.route("ABC", deep, policy)
    assert not refused.ok
    assert refused.best_refused is not None
    assert "over the 5 bps allowed" in refused.reason
    widened = router.route("ABC", deep, policy, volatility_bps=refused.best_refused.slippage_bps)
    assert widened.ok  # a volatile market widens the tolerance (2 bps per bp of spread by default)
    assert widened.allowed_slippage_bps > 5


def test_a_route_that_cannot_be_filled_is_not_offered():
    markets = [MarketInfo("ABCUSDT", "ABC", "USDT", D("0.0001"), D("1"), D(0), D("10"))]
    router = Router(markets)
    router.set_book(_book("ABCUSDT", 2.0, random.Random(2), levels=2))
    policy = RoutePolicy(base_currencies=["USDT"])
    assert "within 4 hops" in router.route("ABC", 1e9, policy).reason  # more than the book holds
    assert not router.route("ABC", 2, policy).ok  # 2 ABC is worth 4 USDT: under the 10 USDT minimum
    assert router.route("DOGE", 5, policy).reason == "no market trades DOGE"
    with pytest.raises(ValueError, match="must be positive"):
        router.route("ABC", 0, policy)
