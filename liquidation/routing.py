"""Liquidation routing ("panic sell"): the best way from a held asset to a base currency (pure, no Django).

A route is at most `max_hops` conversions ending at the first base currency
it reaches. Each conversion is simulated on the book's depth for the actual
amount, with the taker fee and lot rounding (`conversion.convert`), so the
search is exact within the hop bound: a depth-first branch and bound over
the NetworkX market graph, pruned only by an upper bound that no route can
beat (every asset's best top-of-book value within h hops, a small dynamic
programme over the graph's edges; walking deeper only worsens a price).
Shortest paths on -log(rate) would be wrong here: the weights are negative
and ignore size.

Routes are ranked by their value in the first base currency; routes within
a part in a billion of each other are tied, and ties go to the route
through more preferred intermediaries, then fewer hops, then the path's
name (so the order is total and the search deterministic). Slippage is the
route's loss against its own mid prices (spread, depth and fees); routes
beyond the tolerance are refused, and the tolerance widens with the
market's volatility.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from exchanges.types import MarketInfo, OrderBook, Ticker

from .conversion import convert, floor_float

TIE = 1e-9


@dataclass(frozen=True, slots=True)
class Hop:
    symbol: str
    side: str
    from_asset: str
    to_asset: str
    amount_in: float
    amount_out: float
    base_amount: float
    mid_rate: float  # to_asset per from_asset at mid, before fees


@dataclass(frozen=True)
class Route:
    asset: str
    amount: float
    target: str
    proceeds: float  # in `target`
    value: float  # proceeds in the first base currency
    hops: tuple[Hop, ...]
    slippage_bps: float
    preferred: int  # how many of its intermediaries are preferred

    @property
    def path(self) -> list[str]:
        return [self.asset] + [h.to_asset for h in self.hops]

    def as_dict(self) -> dict:
        return {
            "asset": self.asset, "amount": self.amount, "target": self.target, "path": self.path,
            "expected_proceeds": self.proceeds, "value": self.value, "slippage_bps": round(self.slippage_bps, 2),
            "hops": [
                {"symbol": h.symbol, "side": h.side, "from": h.from_asset, "to": h.to_asset,
                 "amount_in": h.amount_in, "amount_out": h.amount_out, "order_amount": h.base_amount}
                for h in self.hops
            ],
        }  # fmt: skip


@dataclass(frozen=True)
class RouteResult:
    route: Route | None  # the best route within tolerance, or None
    best_refused: Route | None = None  # the best route over the slippage tolerance, when none is within it
    allowed_slippage_bps: float = 0.0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.route is not None


@dataclass(frozen=True)
class RoutePolicy:
    base_currencies: Sequence[str]
    max_hops: int = 4
    preferred_intermediaries: Sequence[str] = ()
    max_total_slippage_bps: float = 250.0
    volatility_k: float = 2.0  # bps of extra tolerance per bp of volatility
    max_slippage_cap_bps: float = 1000.0

    def allowed_slippage_bps(self, volatility_bps: float = 0.0) -> float:
        widened = self.max_total_slippage_bps + self.volatility_k * max(0.0, volatility_bps)
        return min(max(self.max_total_slippage_bps, self.max_slippage_cap_bps), widened)


@dataclass
class _FloatBook:
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]

    @property
    def mid(self) -> float:
        return (self.bids[0][0] + self.asks[0][0]) / 2


@dataclass
class _Search:
    policy: RoutePolicy
    amount: float
    asset: str
    allowed: float
    targets: dict[str, float]  # base currency -> its value in the first one
    preferred: frozenset[str]
    best: Route | None = None
    best_refused: Route | None = None
    routes: list[Route] | None = None  # every route, when searching exhaustively
    visited: set[str] = field(default_factory=set)
    hops: list[Hop] = field(default_factory=list)


def _rank(route: Route) -> tuple:
    return (route.preferred, -len(route.hops), tuple(-ord(c) for c in ">".join(route.path)))


def better(a: Route, b: Route | None) -> bool:
    """Whether route `a` beats `b`: value first (ties within TIE), then preference, fewer hops, name."""
    if b is None:
        return True
    if a.value > b.value * (1 + TIE):
        return True
    if a.value < b.value * (1 - TIE):
        return False
    return _rank(a) > _rank(b)


class Router:
    """The market graph (NetworkX) and the books in memory, as floats, for fast exact routing.

    Books are given up front (`set_books`) or fetched on first use by
    `book_loader`; with tickers set, only the books the search actually
    explores are fetched (tickers give the bound, the same top of book).
    """

    def __init__(self, markets: Iterable[MarketInfo], *, book_loader: Callable[[str], OrderBook] | None = None):
        self.book_loader = book_loader
        self.load_errors: dict[str, str] = {}  # books the loader could not get (a search without them may miss)
        self.graph = nx.DiGraph()
        self.markets: dict[str, MarketInfo] = {}
        for m in markets:
            if not m.active or m.base == m.quote:
                continue
            self.markets[m.symbol] = m
            self.graph.add_edge(m.quote, m.base, symbol=m.symbol, side="buy")
            self.graph.add_edge(m.base, m.quote, symbol=m.symbol, side="sell")
        self.assets = list(self.graph.nodes)
        self._asset_id = {a: i for i, a in enumerate(self.assets)}
        edges = list(self.graph.edges(data=True))
        self._edge_src = np.array([self._asset_id[u] for u, _, _ in edges], dtype=np.int64)
        self._edge_dst = np.array([self._asset_id[v] for _, v, _ in edges], dtype=np.int64)
        self._edge_id = {(d["symbol"], d["side"]): k for k, (_, _, d) in enumerate(edges)}
        self._edge_rate = np.zeros(len(edges))  # top-of-book rate after fee; 0 without a book
        self.books: dict[str, _FloatBook] = {}
        self._spreads: dict[str, float] = {}
        self._unloadable: set[str] = set()

    def set_book(self, book: OrderBook) -> None:
        market = self.markets.get(book.symbol)
        if market is None:
            return
        fb = _FloatBook([(float(p), float(q)) for p, q in book.bids], [(float(p), float(q)) for p, q in book.asks])
        if not fb.bids or not fb.asks:
            self.books.pop(book.symbol, None)
            self._edge_rate[self._edge_id[(book.symbol, "buy")]] = 0.0
            self._edge_rate[self._edge_id[(book.symbol, "sell")]] = 0.0
            return
        self.books[book.symbol] = fb
        self._set_top(book.symbol, fb.bids[0][0], fb.asks[0][0])

    def _set_top(self, symbol: str, bid: float, ask: float) -> None:
        """The market's two edge rates after its taker fee (the search's bound) and its relative spread."""
        keep = 1 - float(self.markets[symbol].taker_fee)
        self._edge_rate[self._edge_id[(symbol, "buy")]] = keep / ask
        self._edge_rate[self._edge_id[(symbol, "sell")]] = keep * bid
        self._spreads[symbol] = (ask - bid) / ((ask + bid) / 2)

    def set_books(self, books: Iterable[OrderBook]) -> None:
        for book in books:
            self.set_book(book)

    def set_tickers(self, tickers: Iterable[Ticker]) -> None:
        """Top of book for markets whose depth is not loaded yet (the bound; books load when explored)."""
        for t in tickers:
            if t.symbol in self.markets and t.symbol not in self.books and t.bid > 0 and t.ask > 0:
                self._set_top(t.symbol, float(t.bid), float(t.ask))

    def spread_bps(self, asset: str) -> float:
        """The median relative spread of the asset's markets: how unsettled its market is (0 when unknown)."""
        if asset not in self.graph:
            return 0.0
        symbols = [d["symbol"] for _, _, d in self.graph.out_edges(asset, data=True)]
        spreads = sorted(self._spreads[s] for s in symbols if s in self._spreads)
        return spreads[len(spreads) // 2] * 10_000 if spreads else 0.0

    def _book(self, symbol: str) -> "_FloatBook | None":
        book = self.books.get(symbol)
        if book is None and self.book_loader is not None and symbol not in self._unloadable:
            try:
                self.set_book(self.book_loader(symbol))
            except Exception as exc:
                self._unloadable.add(symbol)
                self.load_errors[symbol] = f"{type(exc).__name__}: {exc}"
            book = self.books.get(symbol)
        return book

    # --- valuation and bounds ------------------------------------------------------
    def _target_values(self, base_currencies: Sequence[str]) -> dict[str, float]:
        """Each base currency's value in the first (at mid; at par when no market joins them)."""
        first = base_currencies[0]
        values = {first: 1.0}
        for t in base_currencies[1:]:
            edge = self.graph.get_edge_data(t, first)
            book = self._book(edge["symbol"]) if edge else None
            if book is None:
                values[t] = 1.0
            else:
                values[t] = book.mid if edge["side"] == "sell" else 1 / book.mid
        return values

    def _bounds(self, targets: dict[str, float], max_hops: int) -> list[np.ndarray]:
        """bound[h][a]: the most one unit of asset a can be worth within h hops (top of book, after fees)."""
        n = len(self.assets)
        is_target = np.zeros(n, dtype=bool)
        level = np.zeros(n)
        for t, v in targets.items():
            if t in self._asset_id:
                level[self._asset_id[t]] = v
                is_target[self._asset_id[t]] = True
        bounds = [level]
        from_non_target = ~is_target[self._edge_src]
        src, dst, rate = self._edge_src[from_non_target], self._edge_dst[from_non_target], self._edge_rate
        rate = rate[from_non_target]
        for _ in range(max_hops):
            nxt = bounds[-1].copy()
            np.maximum.at(nxt, src, rate * bounds[-1][dst])
            bounds.append(nxt)
        return bounds

    # --- search -------------------------------------------------------------------
    def route(
        self,
        asset: str,
        amount: float,
        policy: RoutePolicy,
        *,
        volatility_bps: float = 0.0,
        exhaustive: bool = False,
    ) -> RouteResult:
        """The best route for `amount` of `asset`; `exhaustive` tries every route (for checking the search)."""
        if not policy.base_currencies:
            raise ValueError("Give at least one base currency to sell into.")
        if amount <= 0:
            raise ValueError(f"The amount to sell must be positive, not {amount}.")
        targets = self._target_values(policy.base_currencies)
        allowed = policy.allowed_slippage_bps(volatility_bps)
        if asset in targets:
            route = Route(asset, amount, asset, amount, amount * targets[asset], (), 0.0, 0)
            return RouteResult(route, allowed_slippage_bps=allowed)
        if asset not in self._asset_id:
            return RouteResult(None, allowed_slippage_bps=allowed, reason=f"no market trades {asset}")
        search = _Search(
            policy, amount, asset, allowed, targets, frozenset(policy.preferred_intermediaries),
            routes=[] if exhaustive else None,
        )  # fmt: skip
        bounds = None if exhaustive else self._bounds(targets, policy.max_hops)
        search.visited.add(asset)
        self._dfs(search, asset, amount, policy.max_hops, bounds)
        if search.best is not None:
            return RouteResult(search.best, allowed_slippage_bps=allowed)
        if search.best_refused is not None:
            return RouteResult(
                None, search.best_refused, allowed,
                f"the best route loses {search.best_refused.slippage_bps:.0f} bps, over the {allowed:.0f} bps allowed",
            )  # fmt: skip
        return RouteResult(
            None, allowed_slippage_bps=allowed,
            reason=f"no route from {asset} to {', '.join(policy.base_currencies)} within {policy.max_hops} hops "
            "that the books can fill",
        )  # fmt: skip

    def _dfs(self, s: _Search, asset: str, amount: float, hops_left: int, bounds) -> None:
        succ = self.graph.succ[asset]
        options = []
        for nxt, data in succ.items():
            if nxt in s.visited:
                continue
            if bounds is not None:
                ceiling = amount * self._edge_rate[self._edge_id[(data["symbol"], data["side"])]]
                ceiling *= bounds[hops_left - 1][self._asset_id[nxt]]
                if ceiling <= 0 or (s.best is not None and ceiling < s.best.value * (1 - TIE)):
                    continue
                options.append((ceiling, nxt, data))
            elif nxt in s.targets or hops_left > 1:
                options.append((0.0, nxt, data))
        if bounds is not None:
            options.sort(key=lambda o: -o[0])
        for ceiling, nxt, data in options:
            if bounds is not None and s.best is not None and ceiling < s.best.value * (1 - TIE):
                break  # sorted: nothing after this can win either
            hop = self._convert(data["symbol"], data["side"], asset, nxt, amount)
            if hop is None:
                continue
            s.hops.append(hop)
            if nxt in s.targets:
                self._offer(s, nxt)
            elif hops_left > 1:
                s.visited.add(nxt)
                self._dfs(s, nxt, hop.amount_out, hops_left - 1, bounds)
                s.visited.discard(nxt)
            s.hops.pop()

    def _convert(self, symbol: str, side: str, from_asset: str, to_asset: str, amount: float) -> Hop | None:
        book = self._book(symbol)
        if book is None:
            return None
        m = self.markets[symbol]
        conv = convert(
            book.asks if side == "buy" else book.bids, amount, side=side, amount_step=float(m.amount_step),
            min_amount=float(m.min_amount), min_notional=float(m.min_notional), fee=float(m.taker_fee),
            floor=floor_float, zero=0.0,
        )  # fmt: skip
        if not conv.ok:
            return None
        mid = book.mid
        return Hop(symbol, side, from_asset, to_asset, conv.amount_in, conv.amount_out, conv.base_amount,
                   mid if side == "sell" else 1 / mid)  # fmt: skip

    def _offer(self, s: _Search, target: str) -> None:
        hops = tuple(s.hops)
        proceeds = hops[-1].amount_out
        value = proceeds * s.targets[target]
        fair = s.amount * math.prod(h.mid_rate for h in hops) * s.targets[target]
        slippage = (1 - value / fair) * 10_000 if fair > 0 else math.inf
        preferred = sum(1 for h in hops[:-1] if h.to_asset in s.preferred)
        route = Route(s.asset, s.amount, target, proceeds, value, hops, slippage, preferred)
        if s.routes is not None:
            s.routes.append(route)
        if slippage <= s.allowed + 1e-9:
            if better(route, s.best):
                s.best = route
        elif better(route, s.best_refused):
            s.best_refused = route
