"""Prometheus metrics, correct across the gunicorn, Celery, scanner, feed and stream processes.

Two kinds, by where their truth lives:

- What happens in a process (venue calls, fill detection delays, tick-to-order, write-behind flushes, wallet
  detection lag, copy latency) is counted where it happens, in prometheus-client's multiprocess mode: each
  process writes its samples to files under PROMETHEUS_MULTIPROC_DIR (set in settings before anything imports
  prometheus_client) and a scrape sums them (`MultiProcessCollector`). Only counters and histograms are kept
  this way, so a process that exits leaves its counts in the sums, as Prometheus expects of counters.
- What a state is (orders by status, positions by tier, cycles by state, limiter tokens, breaker states, Celery
  queue lengths, write-behind backlog, feed health) is read at scrape time from PostgreSQL and Redis by
  `StateCollector`, so every process sees the same value and none has to report it.

/metrics (dashboard.metrics_view) serves both, behind a bearer token or an allowed network.
"""

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

NS = "tradingsite"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

venue_calls = Counter(
    f"{NS}_venue_calls", "Venue calls through the limiter and breaker", ["venue", "method", "outcome"]
)
orders_ended = Counter(f"{NS}_orders_ended", "Orders that ended, by account and status", ["venue", "status"])
cycles_finished = Counter(f"{NS}_cycles_finished", "Cycles that reached an end state, by state", ["state"])
fill_detection = Histogram(f"{NS}_fill_detection_seconds", "From a fill's execution on the venue to its row",
                           ["venue", "path"], buckets=LATENCY_BUCKETS)  # fmt: skip
tick_to_order = Histogram(f"{NS}_cycle_tick_to_order_seconds", "From the tick a cycle was found on to leg 1 sent",
                          ["exchange"], buckets=FAST_BUCKETS)  # fmt: skip
writebehind_flush = Histogram(f"{NS}_writebehind_flush_seconds", "One write-behind flush", buckets=FAST_BUCKETS)
wallet_detection_lag = Histogram(f"{NS}_wallet_detection_lag_seconds", "From a watched wallet's fill to our record",
                                 ["source"], buckets=LATENCY_BUCKETS)  # fmt: skip
copy_latency = Histogram(f"{NS}_copy_latency_seconds", "From a wallet fill's detection to our copy placed",
                         ["side"], buckets=LATENCY_BUCKETS)  # fmt: skip


def observe(histogram: Histogram, seconds: float, **labels) -> None:
    """Record one duration (negative clock skews count as 0); never raises: metrics must not stop trading."""
    with contextlib.suppress(Exception):  # a full disk or a bad label must not fail the caller
        (histogram.labels(**labels) if labels else histogram).observe(max(0.0, seconds))


def count(counter: Counter, **labels) -> None:
    with contextlib.suppress(Exception):  # never fails the caller
        counter.labels(**labels).inc()


def count_call(venue: str, method: str, outcome: str) -> None:
    count(venue_calls, venue=venue, method=method, outcome=outcome)


@contextmanager
def timed(histogram: Histogram, **labels) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        observe(histogram, time.perf_counter() - started, **labels)
