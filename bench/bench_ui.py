"""The operator's view under a desk's load: dashboard and chart server time, /metrics scrape time, first chart paint.

The bench's own database holds 10,000 open positions (over 100 markets of one paper account, every tier), 100,000
orders with 20,000 fills, 5,000 finished cycles and 30 days of equity snapshots every 5 minutes for 3 accounts.

dashboard_p95_ms
    Server time (Django's test client, in process) of the dashboard page, each of its parts (what htmx refreshes)
    and each chart's data, with the API cache dropped before every round, so each read is computed: the worst
    case an operator meets once per TTL. p95 over the rounds of every URL together; each URL's own p95 is listed.
metrics_scrape_ms_p95
    GET /metrics with 4 worker processes having reported (each a process of its own that counted venue calls and
    observed every histogram into the multiprocess directory), p95 of the scrapes.
first_chart_paint_ms
    Headless Chromium (Debian's, driven by Playwright) loading the dashboard from a threaded server of this
    process, logged in: from navigation start to the first chart painted (the page's "first-chart" mark), median
    of the loads (the slowest is listed too).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

D = Decimal
ACCOUNT = "bench-ui"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 2)


def seed(positions: int, orders: int, days: int, rng: random.Random) -> dict:
    from django.utils import timezone

    from bench.common import drop_account
    from cycles.models import Cycle, CycleState, Strategy
    from dashboard.models import EquitySnapshot
    from exchanges.models import Exchange, Market
    from orders.models import Fill, Order, OrderPurpose, OrderRole
    from positions.models import Position, PositionPhase

    for name in (ACCOUNT, f"{ACCOUNT}-2", f"{ACCOUNT}-3"):
        drop_account(name)
    exchange = Exchange.objects.create(name=ACCOUNT)
    others = [Exchange.objects.create(name=f"{ACCOUNT}-{i}") for i in (2, 3)]
    markets = Market.objects.bulk_create([
        Market(exchange=exchange, symbol=f"C{i}USDT", base=f"C{i}", quote="USDT", price_step=D("0.01"),
               amount_step=D("0.001"), min_amount=D("0.001"), min_notional=D("1")) for i in range(100)
    ])  # fmt: skip
    now = timezone.now()
    tiers, phases = ["critical", "active", "standard", "inactive", "idle"], [PositionPhase.MONITORING,
                                                                             PositionPhase.PROFIT_TAKING]  # fmt: skip
    Position.objects.bulk_create([
        Position(exchange=exchange, market=markets[i % 100], phase=phases[i % 2], amount=D(10), remaining=D(5),
                 entry_price=D(100), cost_basis=D(100), stop_loss=D(95), tier=tiers[i % 5],
                 next_check_at=now + timedelta(seconds=rng.randint(1, 60)), mark_price=D(101), unrealized_pnl=D(5))
        for i in range(positions)
    ], batch_size=5000)  # fmt: skip
    batch = []
    for i in range(orders):
        price = D(100) + D(rng.randint(-500, 500)) / 100
        batch.append(Order(exchange=exchange, market=markets[i % 100], purpose=OrderPurpose.MANUAL,
                           role=OrderRole.MANUAL, intent=f"ui{i}", attempt=1, client_order_id=f"ts-ui{i}-a1",
                           side="buy" if i % 2 else "sell", type="market", amount=D(1), filled=D(1), average=price,
                           cost=price, status="FILLED", closed_at=now))  # fmt: skip
    made = Order.objects.bulk_create(batch, batch_size=5000)
    fills = []
    for order in made[: orders // 5]:
        executed = now - timedelta(seconds=rng.uniform(0, 86_000))
        fills.append(Fill(order=order, exchange=exchange, trade_id=f"ui{order.pk}", price=order.average, amount=D(1),
                          cost=order.average, executed_at=executed))  # fmt: skip
    Fill.objects.bulk_create(fills, batch_size=5000)
    # recorded_at is auto_now_add: spread the delays the detection chart reads
    from django.db import connection

    with connection.cursor() as cur:  # fills are append-only: the trigger is lifted for the bench's own rows only
        cur.execute("ALTER TABLE orders_fill DISABLE TRIGGER USER")
        cur.execute("UPDATE orders_fill SET recorded_at = executed_at + (random() * interval '2 seconds') "
                    "WHERE exchange_id = %s", [exchange.pk])  # fmt: skip
        cur.execute("ALTER TABLE orders_fill ENABLE TRIGGER USER")
    strategy = Strategy.objects.create(name="bench-ui", exchange=exchange, start_asset="USDT", trade_amount=100,
                                       panic_base_currencies=["USDT"])  # fmt: skip
    Cycle.objects.bulk_create([
        Cycle(strategy=strategy, state=CycleState.COMPLETED if i % 10 else CycleState.FAILED,
              expected_net_rate=D("1.001"), start_asset="USDT", start_amount=D(100),
              realized_pnl=D(rng.randint(-30, 60)) / 100, finished_at=now - timedelta(minutes=i))
        for i in range(5000)
    ], batch_size=5000)  # fmt: skip
    snapshots = []
    for account in (exchange, *others):
        equity = D(100_000)
        for k in range(days * 24 * 12):
            equity += D(rng.randint(-100, 110))
            snapshots.append(EquitySnapshot(exchange=account, taken_at=now - timedelta(minutes=5 * k), asset="USDT",
                                            equity=equity))  # fmt: skip
    EquitySnapshot.objects.bulk_create(snapshots, batch_size=10_000)
    return {"positions": positions, "orders": orders, "fills": len(fills), "cycles": 5000,
            "equity_snapshots": len(snapshots)}  # fmt: skip


def dashboard_times(rounds: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from core.apicache import invalidate
    from dashboard.charts import CHARTS
    from dashboard.views import PARTS

    user, _ = get_user_model().objects.get_or_create(username="bench-ui", defaults={"is_staff": True,
                                                                                  "is_superuser": True})  # fmt: skip
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    urls = ["/dashboard/", *(f"/dashboard/part/{p}/" for p in PARTS), *(f"/dashboard/charts/{c}.json" for c in CHARTS)]
    times: dict[str, list[float]] = {u: [] for u in urls}
    for _ in range(rounds):
        for url in urls:
            invalidate("positions", "account", "stats")
            started = time.perf_counter()
            response = client.get(url)
            times[url].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
    every = [t for ts in times.values() for t in ts]
    return {"dashboard_p95_ms": _p(every, 0.95), "dashboard_p50_ms": _p(every, 0.50),
            "dashboard_p95_ms_by_url": {u: _p(ts, 0.95) for u, ts in times.items()}}  # fmt: skip


REPORTER = """
import os, random, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
import django
django.setup()
from core import metrics
rng = random.Random(int(sys.argv[1]))
for i in range(5000):
    metrics.count_call(f"venue-{i % 5}", ["create_order", "fetch_order", "fetch_tickers"][i % 3], "ok")
    metrics.observe(metrics.fill_detection, rng.random(), venue=f"venue-{i % 5}", path="poll")
    metrics.observe(metrics.tick_to_order, rng.random() / 10, exchange=f"venue-{i % 5}")
    metrics.observe(metrics.writebehind_flush, rng.random() / 10)
    metrics.observe(metrics.wallet_detection_lag, rng.random(), source="pm")
    metrics.observe(metrics.copy_latency, rng.random(), side="buy")
print("reported")
"""


def scrape_times(workers: int, scrapes: int) -> dict:
    from django.conf import settings
    from django.test import Client, override_settings

    env = os.environ | {"PYTHONPATH": str(ROOT)}
    for i in range(workers):
        subprocess.run([sys.executable, "-c", REPORTER, str(i)], cwd=ROOT, env=env, check=True, capture_output=True)
    files = len(list(Path(settings.PROMETHEUS_MULTIPROC_DIR).glob("*.db")))
    client, times = Client(HTTP_HOST="127.0.0.1"), []
    token = "bench-ui-scrape"  # noqa: S105  (this run's own, never stored)
    with override_settings(METRICS_BEARER_TOKEN=token):
        for _ in range(scrapes):
            started = time.perf_counter()
            response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    return {"metrics_scrape_ms_p95": _p(times, 0.95), "metrics_scrape_ms_p50": _p(times, 0.50),
            "metrics_worker_processes": workers, "metrics_files": files,
            "metrics_bytes": len(response.content)}  # fmt: skip


def first_paint(loads: int) -> dict:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        return {"first_chart_paint_ms": None, "first_chart_paint_why": "Chromium is not installed"}
    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from django.test import Client
    from playwright.sync_api import sync_playwright

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="bench-ui"))
    session = client.cookies["sessionid"].value
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the server thread's ORM calls, beside Playwright's loop
    times = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
            for _ in range(loads):
                page = context.new_page()
                page.goto(f"{url}/dashboard/")
                page.wait_for_function("() => performance.getEntriesByName('first-chart').length > 0", timeout=30_000)
                times.append(page.evaluate("() => performance.getEntriesByName('first-chart')[0].startTime"))
                page.close()
            browser.close()
    finally:
        server.shutdown()
    return {"first_chart_paint_ms": round(statistics.median(times), 1),
            "first_chart_paint_ms_max": round(max(times), 1), "first_chart_paint_loads": loads}  # fmt: skip


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py ui")
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = {"seeded": seed(args.positions, args.orders, args.days, random.Random(args.seed))}
    result["seed_s"] = round(time.monotonic() - started, 1)
    result |= dashboard_times(args.rounds)
    result |= scrape_times(4, args.scrapes)
    result |= first_paint(args.loads)
    return result
