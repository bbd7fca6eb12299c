"""The scanner: market data in memory, re-scored on every update, opportunities turned into cycles.

It wakes on every ticker update the snapshot's writer announces (and at
least every interval), reads the snapshot (one HGETALL a pass), keeps the
tickers whose value moved, re-scores only the triangles that use them,
and for each candidate of each enabled strategy: age gate, slot reservation,
depth walk on fresh books, then the cycle (handed to Celery on commit) or the
slot given back.
"""

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.conf import settings

from core import metrics
from core.redis_client import counters_add, counters_read, redis_client
from core.resilience import REDIS_OUTAGES, Outages
from exchanges.errors import EntriesHalted
from exchanges.marketdata import MarketDataSnapshot, now_ms
from exchanges.models import Exchange, Market
from exchanges.registry import get_venue
from exchanges.types import Quote

from .detection import SIDE_NAMES, TriangleScorer, size_cycle, triangle_table
from .errors import ReservationLimitReached, StrategyDisabled
from .models import Cycle, CycleState, Reservation, Strategy
from .reservations import cycle_reserve, reservation_release
from .services import PlannedLeg, cycle_create, cycle_open, cycle_place_first_leg

log = logging.getLogger(__name__)


STATS_KEY = "scanner:stats"  # one hash per account: scanner:stats:<exchange>
TIMINGS_KEY = "scanner:timings"  # the last cycles' tick-to-order timings, a list per account
FIRST_LEG_HANDOVER_S = 2.0  # the worker takes a cycle up this long after the scanner opened it (if it did not)


@dataclass
class ScanStats:
    passes: int = 0
    updates: int = 0
    candidates: int = 0
    stale: int = 0
    walked_out: int = 0
    limited: int = 0
    cycles: list[int] = field(default_factory=list)
    refusals: Counter = field(default_factory=Counter)  # candidates refused, by reason
    _published: Counter = field(default_factory=Counter)

    def counts(self) -> Counter:
        counts = Counter({"passes": self.passes, "updates": self.updates, "candidates": self.candidates,
                          "cycles_opened": len(self.cycles)})  # fmt: skip
        counts.update({f"refused_{reason}": n for reason, n in self.refusals.items()})
        return counts

    def refuse(self, reason: str) -> None:
        self.refusals[reason] += 1

    def publish(self, exchange: str, client=None) -> None:
        """Add what was counted since the last call to the account's hash (/api/cache-stats/, the dashboard)."""
        counts = self.counts()
        delta = counts - self._published
        if delta:
            counters_add(f"{STATS_KEY}:{exchange}", dict(delta), client=client)
            self._published = counts


def refusal_kind(reason: str) -> str:
    """A walk's refusal as a short name an operator can count."""
    for needle, kind in (("too thin", "thin_book"), ("minimum", "under_minimum"), ("no book", "no_book"),
                         ("after depth and lots", "below_threshold"), ("books too old", "books_too_old")):  # fmt: skip
        if needle in reason:
            return kind
    return "other"


def scanner_stats(client=None) -> dict:
    """Every account's scanner counters (summed over its scanner's lifetimes)."""
    r = client or redis_client()
    return {key.decode().removeprefix(f"{STATS_KEY}:"): dict(counters_read(key.decode(), client=r))
            for key in r.scan_iter(f"{STATS_KEY}:*")}  # fmt: skip


class Scanner:
    def __init__(self, exchange: Exchange, *, venue=None, snapshot: MarketDataSnapshot | None = None) -> None:
        self.exchange = exchange
        self.venue = venue or get_venue(exchange)
        self.snapshot = snapshot or MarketDataSnapshot(exchange.name)
        markets = list(Market.objects.filter(exchange=exchange, active=True))
        self.markets = {m.symbol: m for m in markets}
        self.table = triangle_table(m.info() for m in markets)
        self.scorer = TriangleScorer(self.table)
        self.seen: dict[str, bytes] = {}
        self.stats = ScanStats()

    def warm_up(self) -> None:
        """Pay the one-off costs of the hot path before the first tick: the venue's market-data source (the paper
        venue loads its depth profile), the connection to the broker cycles are handed to, the queries the slot and
        the cycle need. The first cycle after a start took about 120 ms instead of 30 without this."""
        from tradingsite.celery import app

        self.venue.feed_books(sorted(self.markets)[:3], 20)
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
        Cycle.objects.filter(strategy__exchange=self.exchange, state=CycleState.PENDING).exists()
        Reservation.objects.filter(strategy__exchange=self.exchange, consumed_at__isnull=True).exists()

    def strategies(self) -> list[Strategy]:
        return list(Strategy.objects.filter(exchange=self.exchange, enabled=True))

    def poll(self) -> list[Quote]:
        """The touch prices that changed since the last pass."""
        return self.snapshot.changed_quotes(self.seen)

    def scan_once(self, strategies: list[Strategy] | None = None) -> list[int]:
        """One pass: apply updates, re-score what they touch, act on what passes. Returns cycles opened."""
        self.stats.passes += 1
        self._pass_started = time.perf_counter()
        changed = self.poll()
        if not changed:
            return []
        self.stats.updates += len(changed)
        rows = self.scorer.update(changed)
        self._scored = time.perf_counter()
        opened = []
        for strategy in strategies if strategies is not None else self.strategies():
            candidates = self.scorer.candidates(min_profit_bps=float(strategy.min_profit_bps),
                                                start=strategy.start_asset, rows=rows)  # fmt: skip
            if len(candidates):  # a real venue's feed then keeps these books (the simulator shapes them)
                markets = np.unique(self.table.leg_market[candidates])
                self.snapshot.want_books(sorted({self.table.markets[m].symbol for m in markets}))
            books: dict = {}  # this pass's books, read as its candidates need them
            for row in candidates:
                cycle_id = self.try_open(strategy, int(row), books)
                if cycle_id is not None:
                    opened.append(cycle_id)
                    for market in self.table.leg_market[row]:  # its leg 1 took liquidity: read these books again
                        books.pop(self.table.markets[market].symbol, None)
        self.stats.cycles += opened
        return opened

    def publish_stats(self) -> None:
        self.stats.publish(self.exchange.name, client=self.snapshot.r)

    def try_open(self, strategy: Strategy, row: int, known_books: dict | None = None) -> int | None:
        """Age gate, books, depth walk, slot, cycle. The books the feed keeps cost no request (read once a pass
        into `known_books`, shared by the candidates that use a market), so the walk comes before the slot and a
        refused candidate costs no reservation; a book the venue must be asked for (REST) is fetched only once
        the slot is held, so request weight goes to candidates that can trade."""
        self.stats.candidates += 1
        if not self.scorer.fresh(row, now_ms=now_ms(), max_age_ms=strategy.max_book_age_ms):
            self.stats.stale += 1
            self.stats.refuse("tickers_too_old")
            return None
        symbols = [self.table.markets[m].symbol for m in self.table.leg_market[row]]
        known_books = {} if known_books is None else known_books
        reservation = None
        try:
            if unread := [s for s in symbols if s not in known_books]:
                known_books |= self.venue.feed_books(unread, 20)
            books = {s: known_books[s] for s in symbols if s in known_books}
            if len(books) < len(symbols):
                if (reservation := self._reserve(strategy)) is None:
                    return None
                books |= {s: self.venue.fetch_order_book(s, 20) for s in symbols if s not in books}
            fetched = time.perf_counter()
        except Exception as exc:
            log.warning("scanner: books for %s unavailable: %s", symbols, exc)
            self._give_back(reservation)
            self.stats.refuse("books_unavailable")
            return None
        threshold = 1 + Decimal(strategy.min_profit_bps) / 10_000
        walk = size_cycle(self.table, row, Decimal(strategy.trade_amount), books, threshold=threshold)
        too_old = any(now_ms() - b.ts_ms > strategy.max_book_age_ms for b in books.values() if b.ts_ms)
        if not walk.ok or walk.net_rate < threshold or too_old:
            self.stats.walked_out += 1
            self._give_back(reservation)
            why = "books too old" if too_old else walk.reason or f"{walk.net_rate:.5f} after depth and lots"
            self.stats.refuse(refusal_kind(why))
            log.debug("scanner: %s refused: %s", "/".join(symbols), why)
            return None
        walked = time.perf_counter()
        if reservation is None and (reservation := self._reserve(strategy)) is None:
            return None
        reserved = time.perf_counter()
        sides = [SIDE_NAMES[s] for s in self.table.leg_side[row]]
        legs = [
            PlannedLeg(self.markets[s].pk, side, (leg.cost / leg.base_amount).quantize(Decimal("1e-12")))
            for s, side, leg in zip(symbols, sides, walk.legs, strict=True)
        ]
        planned = {"reservation_id": reservation.pk, "legs": legs, "start_amount": walk.start_amount,
                   "expected_net_rate": walk.net_rate.quantize(Decimal("1e-12"))}  # fmt: skip
        if not settings.SCANNER_PLACES_FIRST_LEG:
            cycle = cycle_create(**planned)
            marks = [("books", fetched), ("walked", walked), ("reserved", reserved), ("created", time.perf_counter())]
        else:  # leg 1 from here: the books and the slot are in hand, a queue hop would only add latency
            opened = cycle_open(**planned, handover_s=FIRST_LEG_HANDOVER_S)
            cycle, created = opened.cycle, time.perf_counter()
            try:
                cycle_place_first_leg(opened=opened, market=self.markets[symbols[0]], book=books[symbols[0]],
                                      venue=self.venue)  # fmt: skip
            except Exception as exc:  # the queue takes the cycle up FIRST_LEG_HANDOVER_S later
                log.warning("scanner: cycle %s: first leg left to the worker: %s", cycle.pk, exc)
            marks = [("books", fetched), ("walked", walked), ("reserved", reserved), ("created", created),
                     ("sent", time.perf_counter())]  # fmt: skip
        log.info("scanner: cycle %s on %s at %.5f", cycle.pk, "/".join(symbols), walk.net_rate)
        self._timing(cycle.pk, row, marks)
        return cycle.pk

    def _reserve(self, strategy: Strategy):
        try:
            return cycle_reserve(strategy_id=strategy.pk)
        except (ReservationLimitReached, StrategyDisabled, EntriesHalted):
            self.stats.limited += 1
            self.stats.refuse("no_slot")
            return None

    @staticmethod
    def _give_back(reservation) -> None:
        if reservation is not None:
            reservation_release(reservation_id=reservation.pk)

    def _timing(self, cycle_id: int, row: int, marks: list[tuple[str, float]]) -> None:
        """Where the time went from the tick to leg 1 sent, in ms after the tick's publication (the newest of
        the row's tickers), kept for the last 500 cycles (bench/run.py cycles reads them)."""
        published_ms = int(self.scorer.ts_ms[self.table.leg_market[row]].max())
        base = time.time() * 1000 - (time.perf_counter() - self._pass_started) * 1000  # the pass's start, wall
        timing = {"cycle": cycle_id, "picked_up": round(base - published_ms, 3),
                  "scored": round(base + (self._scored - self._pass_started) * 1000 - published_ms, 3)}  # fmt: skip
        timing |= {name: round(base + (at - self._pass_started) * 1000 - published_ms, 3) for name, at in marks}
        metrics.observe(metrics.tick_to_order, timing.get("sent", timing.get("created", 0)) / 1000,
                        exchange=self.exchange.name)  # fmt: skip
        pipe = self.snapshot.r.pipeline(transaction=False)
        pipe.lpush(f"{TIMINGS_KEY}:{self.exchange.name}", json.dumps(timing))
        pipe.ltrim(f"{TIMINGS_KEY}:{self.exchange.name}", 0, 499)
        pipe.execute()

    def run(self, *, interval: float, passes: int = 0, outages: Outages | None = None) -> ScanStats:
        """Scan on every ticker update the writer announces, and at least every `interval` seconds.

        A PostgreSQL or Redis outage is waited out (`Outages`): the pass is tried again once the service is
        back, with the strategies and reservations read afresh and every candidate through the age gate, so
        nothing trades on books from before the outage.
        """
        outages = outages or Outages("scanner")
        waiter = None
        done = 0

        def one_pass() -> None:
            nonlocal waiter
            if waiter is None:  # subscribe before reading, so no update falls in between
                waiter = self.snapshot.waiter()
            try:
                if self.scan_once() or self.stats.passes % 20 == 0:
                    self.publish_stats()
            except Exception:
                waiter.close()
                waiter = None  # its connection may be the broken one
                raise

        try:
            while not outages.stop.is_set():
                outages.guard(one_pass)
                done += 1
                if passes and done >= passes:
                    break
                try:
                    if waiter is not None:
                        waiter.wait(interval)
                except REDIS_OUTAGES as exc:
                    waiter.close()
                    waiter = None
                    outages.failed(exc)
        finally:
            if waiter is not None:
                waiter.close()
        return self.stats
