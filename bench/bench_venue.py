"""Venue figures: paper orders/s from 2 processes, limiter cost and exactness, pooled sessions.

Each figure is measured in this run; ratios compare against a baseline measured alongside.

pooled_session_speedup
    Requests per second through the platform's pooled session (core.http.VenueHttp) against a new
    connection per request, the way a venue is reached: HTTPS (a certificate chain of our own CA, verified
    against the default trust store with that CA added, as requests does) through a proxy on loopback that
    delays each direction by --rtt-ms / 2 (the TCP handshake too: the first bytes of a connection wait one
    round trip). `pooled_session_speedup_loopback` is the same
    over plain HTTP on bare loopback, where a new connection costs almost nothing.
"""

import collections
import datetime
import ipaddress
import multiprocessing
import os
import socket
import ssl
import statistics
import tempfile
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
    from core.limiter import RateLimiter

    limiter = RateLimiter("bench-overhead", capacity=1e9, refill_per_s=1e9)
    limiter.reset()
    acquire = _median_us(lambda: limiter.acquire(1), n)
    ping = _median_us(limiter.r.ping, n)
    limiter.reset()
    return acquire, ping


def limiter_violations(seconds: float = 10.0, processes: int = 4) -> tuple[int, int]:
    from core.limiter import RateLimiter, bucket_violations, hammer

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


def _venue_like_tls(directory: str) -> tuple[str, str, str]:
    """(key, served chain, client trust store) as PEM files, shaped as a venue's TLS is: a leaf for 127.0.0.1
    signed by a CA of ours, served with that CA as its intermediate, and verified against the default trust
    store (certifi's bundle, which requests loads for every new session) with our CA added to it."""
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, public_key, signing_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
        )  # fmt: skip
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench venue CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf = certificate(leaf_name, ca_name, key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    paths = [os.path.join(directory, name) for name in ("key.pem", "chain.pem", "trust.pem")]
    with open(paths[0], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(paths[1], "wb") as f:
        f.write(leaf.public_bytes(pem) + ca.public_bytes(pem))
    with open(certifi.where(), "rb") as bundle, open(paths[2], "wb") as f:
        f.write(bundle.read() + ca.public_bytes(pem))
    return paths[0], paths[1], paths[2]


class DelayingProxy:
    """A TCP proxy on loopback that delivers every byte `one_way_s` after it arrived, in each direction.

    A connection's first client bytes also wait one round trip from the accept (the SYN / SYN-ACK a real
    network charges before the client may send). Each direction has a reader that stamps what it receives
    and a writer that sends it when due, so bytes sent close together stay close together.
    """

    def __init__(self, target: tuple[str, int], *, one_way_s: float) -> None:
        self.target, self.one_way_s = target, one_way_s
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            accepted = time.monotonic()
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream, not_before=accepted + 2 * self.one_way_s)
            self._pipe(upstream, client, not_before=accepted)

    def _pipe(self, source: socket.socket, sink: socket.socket, *, not_before: float) -> None:
        queue: collections.deque = collections.deque()
        ready = threading.Condition()

        def read() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                with ready:
                    queue.append((max(time.monotonic(), not_before) + self.one_way_s, data))
                    ready.notify()
                if not data:
                    return

        def write() -> None:
            while True:
                with ready:
                    while not queue:
                        ready.wait()
                    due, data = queue.popleft()
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    if not data:
                        sink.shutdown(socket.SHUT_WR)
                        return
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


def _requests_per_s(n: int, url: str, *, verify, pooled: bool) -> float:
    from core.http import VenueHttp

    http = VenueHttp("bench-http")
    http.request("GET", url, verify=verify)  # the pool's connection is open before the clock starts
    t0 = time.perf_counter()
    for _ in range(n):
        if pooled:
            http.request("GET", url, verify=verify)
        else:  # a new connection (and handshake) each time
            requests.get(url, timeout=(8, 18), headers={"Connection": "close"}, verify=verify)
    return n / (time.perf_counter() - t0)


def pooled_session_speedup(n: int = 1500, *, tls: bool = False, rtt_ms: float = 0.0) -> tuple[float, float, float]:
    """(speedup, pooled requests/s, new-connection requests/s) against a local server, HTTPS behind a delay."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    proxy = None
    with tempfile.TemporaryDirectory() as directory:
        verify = True
        if tls:
            key_path, chain_path, verify = _venue_like_tls(directory)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(chain_path, key_path)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        port = httpd.server_address[1]
        if rtt_ms:
            proxy = DelayingProxy(("127.0.0.1", port), one_way_s=rtt_ms / 2000)
            port = proxy.port
        url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/api/v3/ping"
        try:
            fresh = _requests_per_s(n, url, verify=verify, pooled=False)
            pooled = _requests_per_s(n, url, verify=verify, pooled=True)
        finally:
            if proxy is not None:
                proxy.close()
            httpd.shutdown()
            httpd.server_close()
    return round(pooled / fresh, 2), round(pooled, 1), round(fresh, 1)


def run(args: list[str]) -> dict:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/run.py venue")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rtt-ms", type=float, default=20.0, help="round trip to the venue, for the pooled figure")
    options = parser.parse_args(args)
    quick = options.quick
    orders, _ = paper_orders_per_s(2.0 if quick else 5.0)
    violations, grants = limiter_violations(3.0 if quick else 10.0)
    speedup, pooled, fresh = pooled_session_speedup(50 if quick else 200, tls=True, rtt_ms=options.rtt_ms)
    loopback_speedup, _, _ = pooled_session_speedup(300 if quick else 1500)
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
        "rtt_ms": options.rtt_ms,
        "pooled_session_speedup_loopback": loopback_speedup,
    }
