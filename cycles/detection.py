"""Triangle detection: a table of every directed 3-cycle, scored with numpy in log space (pure, no Django).

The table is built once per market set. Each row is one directed cycle from
one start asset (a triangle of three markets gives six rows: two directions,
three start assets). A row's score is the sum of its three legs' log rates
after taker fees, so `exp(score)` is the units of the start asset back per
unit put in at top of book. A ticker update rewrites two numbers of one market
and re-scores only the rows that use it.

Stage 1 is that top-of-book score (an upper bound: walking deeper only
worsens a price, lot flooring only shrinks an amount). Stage 2,
`walk_cycle`, sizes the strategy's amount through the three books with lot
flooring and minimum notional, in Decimal; only candidates that pass stage 1
and whose three books are fresh get it.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from exchanges.rules import floor_to_step
from exchanges.types import MarketInfo, OrderBook, Quote, Ticker
from liquidation.conversion import Conversion, convert

BUY, SELL = 0, 1
SIDE_NAMES = ("buy", "sell")


@dataclass(frozen=True)
class TriangleTable:
    assets: tuple[str, ...]
    markets: tuple[MarketInfo, ...]
    path: np.ndarray  # (n, 4) asset ids: start, second, third, start
    leg_market: np.ndarray  # (n, 3) market ids
    leg_side: np.ndarray  # (n, 3) BUY or SELL
    rows_by_market: tuple[np.ndarray, ...]  # market id -> the rows that use it
    market_index: Mapping[str, int]
    asset_index: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.path)

    def describe(self, row: int) -> dict:
        return {
            "path": [self.assets[a] for a in self.path[row]],
            "symbols": [self.markets[m].symbol for m in self.leg_market[row]],
            "sides": [SIDE_NAMES[s] for s in self.leg_side[row]],
        }

    def rows_touching(self, market_ids: Iterable[int]) -> np.ndarray:
        """The rows that use any of `market_ids`, ascending."""
        market_ids = list(market_ids)
        if len(market_ids) <= 1:
            return self.rows_by_market[market_ids[0]] if market_ids else np.empty(0, dtype=np.int64)
        touched = np.zeros(len(self.markets), dtype=bool)
        touched[market_ids] = True  # one pass over the legs: no merging of per-market row lists
        return np.flatnonzero(touched[self.leg_market].any(axis=1))


def triangle_table(markets: Iterable[MarketInfo]) -> TriangleTable:
    """Every directed 3-cycle over `markets` (active ones; one market per asset pair)."""
    chosen: dict[frozenset, MarketInfo] = {}
    for m in markets:
        if m.active and m.base != m.quote:
            chosen.setdefault(frozenset((m.base, m.quote)), m)
    market_list = tuple(sorted(chosen.values(), key=lambda m: m.symbol))
    market_index = {m.symbol: i for i, m in enumerate(market_list)}
    assets = tuple(sorted({a for m in market_list for a in (m.base, m.quote)}))
    asset_index = {a: i for i, a in enumerate(assets)}
    pair_market: dict[tuple[int, int], int] = {}
    neighbours: list[set[int]] = [set() for _ in assets]
    for i, m in enumerate(market_list):
        b, q = asset_index[m.base], asset_index[m.quote]
        pair_market[(b, q)] = pair_market[(q, b)] = i
        neighbours[b].add(q)
        neighbours[q].add(b)

    def leg(x: int, y: int) -> tuple[int, int]:
        """The market and side that turn asset x into asset y."""
        mid = pair_market[(x, y)]
        return mid, (SELL if asset_index[market_list[mid].base] == x else BUY)

    paths, legs_m, legs_s = [], [], []
    for a in range(len(assets)):
        for b in neighbours[a]:
            if b <= a:
                continue
            for c in neighbours[a] & neighbours[b]:
                if c <= b:
                    continue
                # Triangle {a, b, c}: two directions, each from every one of its three assets.
                for cycle in ((a, b, c), (a, c, b)):
                    for r in range(3):
                        x, y, z = cycle[r:] + cycle[:r]
                        (m1, s1), (m2, s2), (m3, s3) = leg(x, y), leg(y, z), leg(z, x)
                        paths.append((x, y, z, x))
                        legs_m.append((m1, m2, m3))
                        legs_s.append((s1, s2, s3))
    path = np.array(paths, dtype=np.int32).reshape(-1, 4)
    leg_market = np.array(legs_m, dtype=np.int32).reshape(-1, 3)
    leg_side = np.array(legs_s, dtype=np.int8).reshape(-1, 3)
    flat_rows = np.repeat(np.arange(len(path), dtype=np.int64), 3)
    flat_markets = leg_market.ravel()
    order = np.argsort(flat_markets, kind="stable")
    bounds = np.searchsorted(flat_markets[order], np.arange(len(market_list) + 1))
    rows_by_market = tuple(np.unique(flat_rows[order[bounds[i] : bounds[i + 1]]]) for i in range(len(market_list)))
    return TriangleTable(
        assets=assets, markets=market_list, path=path, leg_market=leg_market, leg_side=leg_side,
        rows_by_market=rows_by_market, market_index=market_index, asset_index=asset_index,
    )  # fmt: skip


class TriangleScorer:
    """Log-space scores of every row of a table, kept current one ticker at a time."""

    def __init__(self, table: TriangleTable, *, fee: float | None = None) -> None:
        self.table = table
        n_markets = len(table.markets)
        fees = np.array([float(m.taker_fee) if fee is None else fee for m in table.markets], dtype=np.float64)
        self.log_keep = np.log1p(-fees)  # log(1 - taker fee) per market
        # log_rate[m, BUY] = log(1 / ask) + log(1 - fee); log_rate[m, SELL] = log(bid) + log(1 - fee).
        self.log_rate = np.full((n_markets, 2), -np.inf)
        self.ts_ms = np.zeros(n_markets, dtype=np.int64)
        self._flat = self.log_rate.ravel()  # a view: writes to log_rate show here
        self._gather = table.leg_market.astype(np.int64) * 2 + table.leg_side
        self.scores = np.full(len(table), -np.inf)

    def set_ticker(self, market_id: int, bid: float, ask: float, ts_ms: int) -> None:
        keep = self.log_keep[market_id]
        ok = bid > 0 and ask > 0
        self.log_rate[market_id, BUY] = keep - math.log(ask) if ok else -math.inf
        self.log_rate[market_id, SELL] = keep + math.log(bid) if ok else -math.inf
        self.ts_ms[market_id] = ts_ms

    def load(self, tickers: Iterable[Ticker]) -> None:
        """Set many tickers and re-score every row (a full scan)."""
        self._apply(tickers)
        self.score_all()

    def score_all(self) -> np.ndarray:
        self.scores = self._flat[self._gather].sum(axis=1)
        return self.scores

    def update(self, tickers: Iterable[Ticker | Quote]) -> np.ndarray:
        """Apply ticker updates and re-score only the rows they touch; returns those rows."""
        return self.rescore(self._apply(tickers))

    def _apply(self, tickers: Iterable[Ticker | Quote]) -> list[int]:
        """Set the tickers (or quotes) of markets in the table; returns their market ids."""
        index = self.table.market_index
        changed = []
        for t in tickers:
            m = index.get(t.symbol)
            if m is not None:
                self.set_ticker(m, float(t.bid), float(t.ask), t.ts_ms)
                changed.append(m)
        return changed

    def rescore(self, market_ids: list[int]) -> np.ndarray:
        rows = self.table.rows_touching(market_ids)
        if len(rows):
            self.scores[rows] = self._flat[self._gather[rows]].sum(axis=1)
        return rows

    def candidates(
        self, *, min_profit_bps: float, start: str | None = None, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows whose top-of-book net rate clears the threshold, best first (stage 1)."""
        threshold = math.log1p(min_profit_bps / 10_000)
        rows = np.arange(len(self.scores)) if rows is None else rows
        picked = rows[self.scores[rows] >= threshold]
        if start is not None:
            start_id = self.table.asset_index.get(start)
            if start_id is None:
                return np.empty(0, dtype=np.int64)
            picked = picked[self.table.path[picked, 0] == start_id]
        return picked[np.argsort(-self.scores[picked], kind="stable")]

    def fresh(self, row: int, *, now_ms: int, max_age_ms: int) -> bool:
        """The age gate: all three of the row's markets quoted within `max_age_ms`."""
        return bool((now_ms - self.ts_ms[self.table.leg_market[row]] <= max_age_ms).all())

    def net_rate(self, row: int) -> float:
        return math.exp(self.scores[row])


@dataclass(frozen=True)
class CycleWalk:
    """Stage 2 for one row: the three conversions sized for an actual amount."""

    ok: bool
    start_amount: Decimal  # spent by leg 1
    end_amount: Decimal  # received from leg 3
    legs: tuple[Conversion, ...]
    reason: str = ""

    @property
    def net_rate(self) -> Decimal:
        return self.end_amount / self.start_amount if self.start_amount else Decimal(0)


def walk_cycle(
    table: TriangleTable, row: int, amount: Decimal, books: Mapping[str, OrderBook], *, fee: Decimal | None = None
) -> CycleWalk:
    """Push `amount` of the start asset through the row's three books, leg by leg (stage 2)."""
    held = amount
    legs: list[Conversion] = []
    zero = Decimal(0)
    for k in range(3):
        market = table.markets[table.leg_market[row, k]]
        side = SIDE_NAMES[table.leg_side[row, k]]
        book = books.get(market.symbol)
        if book is None:
            return CycleWalk(False, zero, zero, tuple(legs), f"no book for {market.symbol}")
        conv = convert(
            book.asks if side == "buy" else book.bids, held, side=side, amount_step=market.amount_step,
            min_amount=market.min_amount, min_notional=market.min_notional,
            fee=market.taker_fee if fee is None else fee, floor=floor_to_step, zero=zero,
        )  # fmt: skip
        legs.append(conv)
        if not conv.ok:
            return CycleWalk(False, zero, zero, tuple(legs), f"leg {k + 1} {side} {market.symbol}: {conv.reason}")
        held = conv.amount_out
    return CycleWalk(True, legs[0].amount_in, held, tuple(legs))


# The amounts tried, as fractions of the strategy's trade amount, 1 down to 0.5% in steps of 12% (then refined
# around the best): a mispricing is often only as deep as a touch, so the whole amount would walk far into the
# book, and lot rounding makes profit jagged in the amount, so the grid is dense (40 walks of 3 books: ~2 ms).
SIZE_FRACTIONS = tuple((Decimal("0.88") ** k).quantize(Decimal("1e-6")) for k in range(42))
SIZE_REFINEMENTS = 4


def size_cycle(
    table: TriangleTable, row: int, max_amount: Decimal, books: Mapping[str, OrderBook], *, threshold: Decimal,
    fee: Decimal | None = None,
) -> CycleWalk:  # fmt: skip
    """The walk of the most profitable amount (end - start) up to `max_amount` whose net rate reaches
    `threshold`, between the markets' minimums (a walk below them is refused by the conversion) and the
    whole amount. When no amount passes: the refusal at the best net rate seen, or the first refusal."""

    def profit(walk: CycleWalk) -> Decimal:
        return walk.end_amount - walk.start_amount

    tried: dict[Decimal, CycleWalk] = {}

    def walk_at(fraction: Decimal) -> CycleWalk:
        if fraction not in tried:
            tried[fraction] = walk_cycle(table, row, max_amount * fraction, books, fee=fee)
        return tried[fraction]

    passing = [f for f in SIZE_FRACTIONS if (w := walk_at(f)).ok and w.net_rate >= threshold]
    if not passing:
        walked = [w for w in tried.values() if w.ok]
        if walked:
            best = max(walked, key=lambda w: w.net_rate)
            return CycleWalk(False, best.start_amount, best.end_amount, best.legs,
                             f"{best.net_rate:.5f} after depth and lots at best")  # fmt: skip
        return tried[SIZE_FRACTIONS[0]]
    best = max(passing, key=lambda f: profit(tried[f]))
    for _ in range(SIZE_REFINEMENTS):  # halve the gap to each neighbour of the best
        around = sorted(tried)
        i = around.index(best)
        for neighbour in (around[i - 1] if i > 0 else None, around[i + 1] if i + 1 < len(around) else None):
            if neighbour is None:
                continue
            middle = (best + neighbour) / 2
            walk = walk_at(middle)
            if walk.ok and walk.net_rate >= threshold and profit(walk) > profit(tried[best]):
                best = middle
    return tried[best]
