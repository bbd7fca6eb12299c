"""The market simulator: coherent prices for every market, moved by one value per asset.

Each asset's value (in the numeraire, USDT) follows a random walk; each
market's mid is value(base) / value(quote), so cross rates stay coherent and
a triangle's mid rate is 1 up to tick rounding. Spreads and touch sizes come
from the real snapshot. Now and then a mispricing is opened on one market: its
mid is shifted by some basis points for a lifetime, decaying, or until fills
consume its size. Pure: no Django, no Redis.
"""

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from .rules import ceil_to_step, floor_to_step
from .types import MarketInfo, Ticker

STABLECOINS = frozenset({"USDT", "USDC", "BUSD", "TUSD", "PAX", "USDP", "DAI", "FDUSD"})


@dataclass
class Mispricing:
    symbol: str
    bps: float  # + raises the mid (the market's bids become rich), - lowers it
    opened_at: float
    lifetime_s: float
    size_left: Decimal  # base units the opportunity holds before fills use it up

    def factor(self, now: float) -> float:
        left = 1 - (now - self.opened_at) / self.lifetime_s
        return 1 + self.bps / 10_000 * max(0.0, left)

    def alive(self, now: float) -> bool:
        return now - self.opened_at < self.lifetime_s and self.size_left > 0


@dataclass
class SimulatorConfig:
    numeraire: str = "USDT"
    volatility_per_sqrt_s: float = 0.0004  # 4 bps per sqrt(second) for volatile assets
    stable_volatility_per_sqrt_s: float = 0.00002
    mispricing_rate_per_min: float = 2.0
    # Beyond a triangle's costs (three taker fees and three spreads) by this much: a mispricing a desk could trade.
    mispricing_bps: tuple[float, float] = (15.0, 60.0)
    mispricing_lifetime_s: float = 20.0
    mispricing_size_touches: float = 1.0  # size as a multiple of the touch size
    size_noise: float = 0.15
    taker_fee_bps: float = 10.0
    first_mispricing_s: float | None = 5.0  # the first one opens this soon (a demo shows a cycle at once)


@dataclass
class MarketSimulator:
    markets: dict[str, MarketInfo]
    values: dict[str, float]
    half_spreads: dict[str, float]
    touch_sizes: dict[str, tuple[Decimal, Decimal]]
    config: SimulatorConfig = field(default_factory=SimulatorConfig)
    rng: random.Random = field(default_factory=random.Random)
    mispricings: dict[str, Mispricing] = field(default_factory=dict)
    history: deque = field(default_factory=lambda: deque(maxlen=1000))

    @classmethod
    def from_snapshot(
        cls, markets: list[MarketInfo], tickers: list[Ticker], *, config: SimulatorConfig | None = None, seed=None
    ) -> "MarketSimulator":
        config = config or SimulatorConfig()
        by_symbol = {m.symbol: m for m in markets}
        quotes = {t.symbol: t for t in tickers if t.symbol in by_symbol}
        values = _asset_values(by_symbol, quotes, config.numeraire)
        usable = {s: m for s, m in by_symbol.items() if s in quotes and m.base in values and m.quote in values}
        half_spreads, sizes = {}, {}
        for symbol, market in usable.items():
            t = quotes[symbol]
            mid = (t.bid + t.ask) / 2
            tick_half = float(market.price_step / mid) / 2
            half_spreads[symbol] = max(float((t.ask - t.bid) / mid) / 2, tick_half)
            sizes[symbol] = (t.bid_size if t.bid_size > 0 else Decimal(1), t.ask_size if t.ask_size > 0 else Decimal(1))
        return cls(usable, values, half_spreads, sizes, config, random.Random(seed))

    def mid(self, symbol: str, now: float) -> float:
        market = self.markets[symbol]
        mid = self.values[market.base] / self.values[market.quote]
        mispricing = self.mispricings.get(symbol)
        if mispricing is not None and mispricing.alive(now):
            mid *= mispricing.factor(now)
        return mid

    def step(self, dt: float, now: float) -> None:
        """Advance every asset's value by dt seconds; open or retire mispricings."""
        cfg = self.config
        for asset in self.values:
            if asset == cfg.numeraire:
                continue
            vol = cfg.stable_volatility_per_sqrt_s if asset in STABLECOINS else cfg.volatility_per_sqrt_s
            self.values[asset] *= math.exp(vol * math.sqrt(dt) * self.rng.gauss(0, 1) - 0.5 * vol * vol * dt)
        for symbol in [s for s, m in self.mispricings.items() if not m.alive(now)]:
            del self.mispricings[symbol]
        first_due = cfg.first_mispricing_s is not None and not self.history and now >= cfg.first_mispricing_s
        if first_due or self.rng.random() < 1 - math.exp(-cfg.mispricing_rate_per_min / 60 * dt):
            self.open_mispricing(now)

    def open_mispricing(self, now: float, symbol: str | None = None, bps: float | None = None) -> Mispricing:
        """A mispricing on `symbol` (else one of a triangle through the numeraire), `bps` off its value (else
        past that triangle's round-trip cost by a draw of `mispricing_bps`, up or down)."""
        cfg = self.config
        if symbol is None:
            symbol, cost_bps = self.rng.choice(self.tradable)
            bps = (
                bps
                if bps is not None
                else (cost_bps + self.rng.uniform(*cfg.mispricing_bps)) * self.rng.choice((-1, 1))
            )
        elif bps is None:
            bps = self.rng.uniform(*cfg.mispricing_bps) * self.rng.choice((-1, 1))
        size = max(self.touch_sizes[symbol]) * Decimal(str(cfg.mispricing_size_touches))
        mispricing = Mispricing(symbol, bps, now, cfg.mispricing_lifetime_s, size)
        self.mispricings[symbol] = mispricing
        self.history.append(mispricing)
        return mispricing

    @cached_property
    def tradable(self) -> list[tuple[str, float]]:
        """(symbol, round-trip cost in bps) of each market X/Y whose triangle numeraire -> X -> Y -> numeraire
        exists, cheapest first (at most 60): three taker fees and the three spreads crossed."""
        numeraire = self.config.numeraire
        direct = {frozenset((m.base, m.quote)): s for s, m in self.markets.items()}
        found = []
        for symbol, market in self.markets.items():
            legs = (direct.get(frozenset((numeraire, market.base))), direct.get(frozenset((numeraire, market.quote))))
            if numeraire in (market.base, market.quote) or None in legs:
                continue
            spreads = sum(2 * self.half_spreads[s] for s in (symbol, *legs)) * 10_000
            found.append((symbol, 3 * self.config.taker_fee_bps + spreads))
        found.sort(key=lambda pair: pair[1])
        return found[:60] or [(s, 3 * self.config.taker_fee_bps) for s in sorted(self.markets)]

    def consume(self, symbol: str, amount: Decimal) -> None:
        """Fills on a mispriced market use up its size."""
        mispricing = self.mispricings.get(symbol)
        if mispricing is not None:
            mispricing.size_left -= amount

    def tickers(self, now: float, ts_ms: int | None = None) -> list[Ticker]:
        """Every market's ticker at `now`, stamped `ts_ms`, or with the wall clock once they are all computed (as a
        feed stamps a message when it arrives: the tick exists from then on)."""
        quotes = []
        noise = self.config.size_noise
        for symbol, market in self.markets.items():
            mid = Decimal(repr(self.mid(symbol, now)))
            half = Decimal(repr(self.half_spreads[symbol]))
            bid = floor_to_step(mid * (1 - half), market.price_step)
            ask = ceil_to_step(mid * (1 + half), market.price_step)
            if ask <= bid:
                ask = bid + market.price_step
            if bid <= 0:
                continue
            bid_size, ask_size = self.touch_sizes[symbol]
            jitter = Decimal(repr(1 + self.rng.uniform(-noise, noise)))
            quotes.append((
                symbol, bid, floor_to_step(bid_size * jitter, market.amount_step) or market.amount_step,
                ask, floor_to_step(ask_size * jitter, market.amount_step) or market.amount_step,
            ))  # fmt: skip
        stamp = int(time.time() * 1000) if ts_ms is None else ts_ms
        return [Ticker(*quote, stamp) for quote in quotes]

    def public_trades(self, tickers: dict[str, Ticker], symbols: set[str]) -> list[tuple[str, Decimal, Decimal, int]]:
        """One trade a tick on each of `symbols`: at the bid or the ask (a seller or a buyer took the touch), for a
        share of the touch size, at the ticker's time: the market's public trades, for its candles."""
        trades = []
        for symbol in sorted(symbols):
            ticker, market = tickers.get(symbol), self.markets.get(symbol)
            if ticker is None or market is None:
                continue
            buyer = self.rng.random() < 0.5
            touch = ticker.ask_size if buyer else ticker.bid_size
            size = floor_to_step(touch * Decimal(repr(self.rng.uniform(0.05, 0.5))), market.amount_step)
            trades.append((symbol, ticker.ask if buyer else ticker.bid, size or market.amount_step, ticker.ts_ms))
        return trades


def _asset_values(markets: dict[str, MarketInfo], quotes: dict[str, Ticker], numeraire: str) -> dict[str, float]:
    """Each asset's value in the numeraire, walking markets outward from it (breadth first)."""
    values = {numeraire: 1.0}
    edges: dict[str, list[tuple[str, float]]] = {}
    for symbol, t in quotes.items():
        m = markets[symbol]
        mid = float((t.bid + t.ask) / 2)
        edges.setdefault(m.quote, []).append((m.base, mid))  # base = mid quotes
        edges.setdefault(m.base, []).append((m.quote, 1 / mid))
    frontier = deque([numeraire])
    while frontier:
        asset = frontier.popleft()
        for other, rate in edges.get(asset, []):
            if other not in values:
                values[other] = values[asset] * rate
                frontier.append(other)
    return values


def triangle_mid_rates(
    simulator: MarketSimulator, now: float, mids: dict[str, float] | None = None
) -> list[tuple[tuple[str, str, str], float, float]]:
    """Every triangle of markets with its mid rate (1 when coherent) and its tick tolerance.

    `mids` overrides the simulator's own mids (e.g. the mids of published, tick-rounded quotes).
    """

    def mid_of(symbol: str) -> float:
        return mids[symbol] if mids is not None else simulator.mid(symbol, now)

    by_pair: dict[frozenset, str] = {}
    for symbol, m in simulator.markets.items():
        by_pair[frozenset((m.base, m.quote))] = symbol
    assets: dict[str, set[str]] = {}
    for m in simulator.markets.values():
        assets.setdefault(m.base, set()).add(m.quote)
        assets.setdefault(m.quote, set()).add(m.base)
    seen = set()
    result = []
    for a, neighbours in assets.items():
        for b in neighbours:
            for c in assets[b] & neighbours:
                key = frozenset((a, b, c))
                if len(key) < 3 or key in seen:
                    continue
                seen.add(key)
                legs = [by_pair[frozenset(p)] for p in ((a, b), (b, c), (c, a))]
                rate = 1.0
                for (x, _), symbol in zip(((a, b), (b, c), (c, a)), legs, strict=True):
                    mid = mid_of(symbol)
                    rate *= mid if simulator.markets[symbol].base == x else 1 / mid
                tolerance = sum(float(simulator.markets[s].price_step) / simulator.mid(s, now) for s in legs)
                result.append((tuple(legs), rate, tolerance))
    return result
