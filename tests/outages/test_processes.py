"""The scanner and the simulator ride out a PostgreSQL and a Redis outage (a few seconds, cut at a TCP proxy
only they use) and go on publishing and scanning; each outage is logged once as it starts and once as it ends."""

import sys
import time

import pytest

from bench.common import Service, wait_until
from cycles.models import Cycle, Strategy
from exchanges.marketdata import MarketDataSnapshot, now_ms
from tests.conftest import ladder

pytestmark = [pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]
OUTAGE_S = 3.0


def outage(proxy, seconds: float = OUTAGE_S, during=None) -> None:
    proxy.cut()
    if during is not None:
        during()  # something happens meanwhile that makes the process need the service
    time.sleep(seconds)  # the outage itself: a fixed length is what is being simulated
    proxy.restore()


def log_of(service: Service) -> str:
    return service.log.read_text(errors="replace")


def _publish(snapshot, books, symbols):
    stamp = now_ms()
    chosen = [books.book(s, 5) for s in symbols]
    snapshot.put_books([b.__class__(b.symbol, b.bids, b.asks, stamp) for b in chosen], ttl_s=600)
    snapshot.put_tickers([t.__class__(t.symbol, t.bid, t.bid_size, t.ask, t.ask_size, stamp)
                          for t in books.tickers(list(symbols)).values()])  # fmt: skip


def test_the_simulator_survives_both_outages_and_goes_on_publishing(paper, through_proxies, pg_proxy,
                                                                     redis_proxy, shared_data):  # fmt: skip
    snapshot = MarketDataSnapshot(paper.exchange.name)
    command = [sys.executable, "manage.py", "run_simulator", "--exchange", paper.exchange.name, "--interval", "0.2"]
    with Service("outage-simulator", command, ready="simulating", env=through_proxies) as sim:

        def published_after(moment: int) -> bool:
            ticker = snapshot.ticker("BTCUSDT")
            return ticker is not None and ticker.ts_ms > moment

        assert wait_until(lambda: published_after(0), timeout=30)
        for proxy, service in ((pg_proxy, "postgres"), (redis_proxy, "redis")):
            outage(proxy)
            back = now_ms()
            assert wait_until(lambda b=back: published_after(b), timeout=30), log_of(sim)
            assert sim.proc.poll() is None  # still running
            # The tick publishes before it ends (resting orders are matched after): its line comes just after.
            wait_until(lambda service=service: f"{service} back after" in log_of(sim), timeout=10)
            text = log_of(sim)
            assert text.count(f"{service} unavailable") == 1, text[-3000:]  # one line as it starts…
            assert text.count(f"{service} back after") == 1, text[-3000:]  # …and one as it ends


def test_the_scanner_survives_both_outages_and_trades_fresh_books_after(paper, books, through_proxies, pg_proxy,
                                                                        redis_proxy):  # fmt: skip
    Strategy.objects.create(name="tri-outage", exchange=paper.exchange, start_asset="USDT", trade_amount=1000,
                            max_open_cycles=3, panic_base_currencies=["USDT"])  # fmt: skip
    snapshot = MarketDataSnapshot(paper.exchange.name)
    _publish(snapshot, books, ("BTCUSDT", "ETHBTC", "ETHUSDT"))
    command = [sys.executable, "manage.py", "run_scanner", "--exchange", paper.exchange.name, "--interval", "0.2"]
    with Service("outage-scanner", command, ready="scanning", env=through_proxies) as scanner:
        for n, (proxy, service) in enumerate(((pg_proxy, "postgres"), (redis_proxy, "redis")), 1):
            books.set_book(ladder("ETHUSDT", f"{2990 + n}.00", f"{2991 + n}.00", "0.50", sizes=("10", "20")))
            outage(proxy, during=lambda: _publish(snapshot, books, ("ETHUSDT",)))  # a coherent tick: scored
            ask = f"{2949 - n}.00"
            books.set_book(ladder("ETHUSDT", f"{2948 - n}.00", ask, "0.50", sizes=("10", "20", "30")))
            _publish(snapshot, books, ("BTCUSDT", "ETHBTC", "ETHUSDT"))
            assert wait_until(lambda n=n: Cycle.objects.count() >= n, timeout=30), log_of(scanner)[-3000:]
            assert scanner.proc.poll() is None
            # The cycle commits mid-pass (leg 1 is placed after it): the pass, and its line, end just after.
            assert wait_until(lambda service=service: f"{service} back after" in log_of(scanner), timeout=10)
