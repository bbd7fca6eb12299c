"""Venue figures: paper orders/s from 2 processes, limiter cost and exactness, pooled sessions.

Each figure is measured in this run; ratios compare against a baseline measured alongside.
"""

import multiprocessing
import os
import statistics
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from django.conf import settings

BENCH_EXCHANGE = "bench-venue"


def _order_worker(worker: int, seconds: float) -> int:
    """Place alternating market buys and sells through the guarded Venue for `seconds`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    import django

    django.setup()
    from exchanges.models import Exchange
    from exchanges.registry import get_venue

    venue = get_venue(Exchange.objects.get(name=BENCH_EXCHANGE))
    placed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        side = "buy" if placed % 2 == 0 else "sell"
        venue.create_order(
            symbol="ETHUSDT", side=side, type="market", amount=Decimal("0.01"), client_order_id=f"b{worker}-{placed}"
        )
        placed += 1
    return placed


def _setup_exchange():
    from exchanges.marketdata import MarketDataSnapshot, now_ms
    from exchanges.models import Exchange
    from exchanges.paper import paper_deposit
    from exchanges.services import markets_sync
    from exchanges.types import MarketInfo, OrderBook, Ticker

    Exchange.objects.filter(name=BENCH_EXCHANGE).delete()
    exchange = Exchange.objects.create(name=BENCH_EXCHANGE)
    d = Decimal
    markets_sync(
        exchange=exchange, markets=[MarketInfo("ETHUSDT", "ETH", "USDT", d("0.01"), d("0.0001"), d("0.0001"), d("1"))]
    )
    paper_deposit(exchange=exchange, asset="USDT", amount=d("10000000"))
    paper_deposit(exchange=exchange, asset="ETH", amount=d("1000"))
    snapshot = MarketDataSnapshot(BENCH_EXCHANGE)
    stamp = now_ms() + 3_600_000  # stays fresh for the whole run
    levels = tuple((d("3000.00") - i, d("100")) for i in range(20))
    asks = tuple((d("3000.01") + i, d("100")) for i in range(20))
    snapshot.put_tickers([Ticker("ETHUSDT", levels[0][0], d("100"), asks[0][0], d("100"), stamp)])
    snapshot.put_books([OrderBook("ETHUSDT", levels, asks, stamp)], ttl_s=3600)
    return exchange


def paper_orders_per_s(seconds: float = 5.0) -> float:
    exchange = _setup_exchange()
    try:
        ctx = multiprocessing.get_context("spawn")
        started = time.monotonic()
        with ctx.Pool(2) as pool:
            counts = pool.starmap(_order_worker, [(0, seconds), (1, seconds)])
        elapsed = time.monotonic() - started
        # Pool start-up is excluded by measuring the workers' own windows.
        return round(sum(counts) / seconds, 1), round(elapsed, 1)
    finally:
        exchange.delete()


def _median_us(call, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return round(statistics.median(samples), 1)


def limiter_overhead_us(n: int = 3000) -> tuple[float, float]:
    """Median acquire, and a bare Redis PING on the same connection as the baseline."""
    from exchanges.limiter import RateLimiter

    limiter = RateLimiter("bench-overhead", capacity=1e9, refill_per_s=1e9)
    limiter.reset()
    acquire = _median_us(lambda: limiter.acquire(1), n)
    ping = _median_us(limiter.r.ping, n)
    limiter.reset()
    return acquire, ping


def limiter_violations(seconds: float = 10.0, processes: int = 4) -> tuple[int, int]:
    from exchanges.limiter import RateLimiter, bucket_violations, hammer

    capacity, rate = 100, 500
    RateLimiter("bench-hammer", capacity=capacity, refill_per_s=rate).reset()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        results = pool.starmap(hammer, [(settings.REDIS_URL, "bench-hammer", capacity, rate, seconds)] * processes)
    grants = [t for r in results for t in r]
    return bucket_violations(grants, capacity=capacity, refill_per_s=rate), len(grants)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle plus delayed ACK
    # stalls every kept-alive request by 40 ms and measures the server, not the client.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def pooled_session_speedup(n: int = 1500) -> tuple[float, float, float]:
    from exchanges.http import VenueHttp

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/api/v3/ping"
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            requests.get(url, timeout=(8, 18), headers={"Connection": "close"})  # a new connection each time
        fresh = n / (time.perf_counter() - t0)
        http = VenueHttp("bench-http")
        t0 = time.perf_counter()
        for _ in range(n):
            http.request("GET", url)
        pooled = n / (time.perf_counter() - t0)
    finally:
        httpd.shutdown()
        httpd.server_close()
    return round(pooled / fresh, 2), round(pooled, 1), round(fresh, 1)


def run(args: list[str]) -> dict:
    quick = "--quick" in args
    orders, _ = paper_orders_per_s(2.0 if quick else 5.0)
    violations, grants = limiter_violations(3.0 if quick else 10.0)
    speedup, pooled, fresh = pooled_session_speedup(300 if quick else 1500)
    acquire_us, ping_us = limiter_overhead_us(500 if quick else 3000)
    return {
        "paper_orders_per_s": orders,
        "limiter_overhead_us": acquire_us,
        "redis_ping_us": ping_us,
        "limiter_violations": violations,
        "limiter_grants": grants,
        "pooled_session_speedup": speedup,
        "pooled_requests_per_s": pooled,
        "new_connection_requests_per_s": fresh,
    }
