"""The dashboard in a real browser: Debian's Chromium driven by Playwright, headless, against a live server.

Log in through the admin's form; every chart draws its data (a canvas with pixels on it, the values the chart
endpoints serve); the page logs no console error; "close now" closes a position and the table updates without a
reload; a user without the permission sees no button and is refused (403) when posting anyway. Screenshots go to
var/screenshots/. `.ci/run` installs Chromium when it is missing (apt-get install -y chromium).
"""

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission

from core.redis_client import counters_add
from cycles.models import Strategy
from cycles.scanner import STATS_KEY
from cycles.services import cycle_advance
from dashboard.equity import equity_snapshot_take
from exchanges.guarded import GuardedVenue
from exchanges.registry import venue_breaker, venue_limiter
from positions.actions import position_close_now
from positions.models import Position, PositionPhase
from positions.opening import position_open
from positions.services import position_check
from tests.conftest import ladder
from tests.cycles.conftest import open_cycle
from tests.factories import UserFactory

D = Decimal
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "pw-for-tests"
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"),
                       reason="Chromium is not installed (apt-get install -y chromium; .ci/run does it)"),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _pool_closed_after():
    """The live server's threads leave pooled connections open; closed here so the test database can be dropped."""
    yield
    from django.db import connections

    for connection in connections.all():
        if hasattr(connection, "close_pool"):
            connection.close_pool()


@pytest.fixture
def desk(monkeypatch, paper, books):
    """A paper account with some of everything the charts draw: an open position, a closed one, a finished cycle,
    equity snapshots, scanner counts, fills."""
    venue = GuardedVenue(paper, limiter=venue_limiter(paper.exchange), breaker=venue_breaker(paper.exchange))
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in (
        "positions.opening",
        "positions.services",
        "positions.actions",
        "dashboard.overview",
        "orders.actions",
        "orders.services",
        "orders.monitoring",
        "cycles.services",
        "liquidation.services",
    ):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)  # the tasks run eagerly here
    kept = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=venue,
                         take_profits=[(D("61000"), D("0.5"))], stop_loss=D("58000"))  # fmt: skip
    closed = position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.01"), venue=venue,
                           stop_loss=D("58000"))  # fmt: skip
    for position in (kept, closed):
        position_check(position_id=position.pk, venue=venue)
    position_close_now(position_id=closed.pk, requested_by="test", venue=venue)
    strategy = Strategy.objects.create(name="tri-test", exchange=paper.exchange, start_asset="USDT",
                                       trade_amount=1000, panic_base_currencies=["USDT"])  # fmt: skip
    cycle = open_cycle(strategy)  # committed: its execute task runs (eagerly) on commit
    cycle_advance(cycle_id=cycle.pk, venue=venue)
    cycle.refresh_from_db()
    assert cycle.state == "COMPLETED"
    equity_snapshot_take(venue_for=lambda exchange: venue)
    equity_snapshot_take(venue_for=lambda exchange: venue)
    counters_add(f"{STATS_KEY}:{paper.exchange.name}", {"updates": 900, "passes": 120, "candidates": 7,
                                                       "refused_depth": 4, "cycles_opened": 3})  # fmt: skip
    return {"venue": venue, "position": Position.objects.get(pk=kept.pk)}


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM reads are still
    # synchronous ones, made between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


def logged_in(browser, live_server, username: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{live_server.url}/admin/login/?next=/dashboard/")  # the admin's own pages ask for a favicon: not ours
    page.wait_for_load_state("networkidle")
    errors.clear()
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.wait_for_load_state("networkidle")
    return page, errors


CHARTS = ["equity", "pnl", "cycles", "cycles_pnl", "funnel", "detection", "venues", "positions"]


def test_every_chart_draws_the_data_its_endpoint_serves_with_no_console_error(browser, live_server, desk, operator):
    page, errors = logged_in(browser, live_server, operator.username)
    page.wait_for_function(
        f"() => {json.dumps(CHARTS)}.every((n) => window.dashboardCharts && window.dashboardCharts[n])"
    )
    for name in CHARTS:
        painted = page.evaluate(
            """(name) => { const c = document.querySelector(`canvas[data-chart="${name}"]`);
                 const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                 const sets = window.dashboardCharts[name].data.datasets;
                 return {pixels: px.some((v) => v !== 0), points: sets.reduce((n, s) => n + s.data.length, 0)}; }""",
            name,
        )
        assert painted["pixels"], f"{name}: nothing painted"
        assert painted["points"] > 0, f"{name}: no data drawn"
    served = page.evaluate("async () => (await fetch('/dashboard/charts/positions.json')).json()")
    drawn = page.evaluate("() => window.dashboardData.positions")
    assert drawn["by_phase"] == served["by_phase"] == {"MONITORING": 1}
    equity = page.evaluate("() => window.dashboardCharts.equity.data.datasets[0].data.map((p) => p.y)")
    assert equity[-1] == pytest.approx(float(desk["position"].exchange.equity_snapshots.last().equity))
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})  # a laptop: the charts reflow, nothing overflows
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(SHOTS / "dashboard-laptop.png"))
    assert errors == [], errors


def test_close_now_closes_the_position_and_the_table_updates_without_a_reload(browser, live_server, desk, operator):
    page, errors = logged_in(browser, live_server, operator.username)
    position = desk["position"]
    row = page.locator(f'tr[data-position="{position.pk}"]')
    assert row.count() == 1
    page.evaluate("() => { window.notReloaded = true; }")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("input.close-now").click()
    page.wait_for_selector(f'tr[data-position="{position.pk}"]', state="detached")
    assert page.evaluate("() => window.notReloaded") is True
    assert "close sent; now CLOSED" in page.locator("#part-positions").inner_text()
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    page.screenshot(path=str(SHOTS / "dashboard-closed.png"))
    assert errors == [], errors


def test_without_the_permission_there_is_no_button_and_a_post_is_refused(browser, live_server, desk):
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    page, errors = logged_in(browser, live_server, clerk.username)
    position = desk["position"]
    assert page.locator(f'tr[data-position="{position.pk}"]').count() == 1
    assert page.locator("input.close-now").count() == 0
    status = page.evaluate(
        """async (url) => { const token = JSON.parse(document.querySelector("[hx-headers]").getAttribute("hx-headers"));
             return (await fetch(url, {method: "POST", headers: token})).status; }""",
        f"/dashboard/positions/{position.pk}/close/",
    )
    assert status == 403
    position.refresh_from_db()
    assert position.phase == PositionPhase.MONITORING
    page.screenshot(path=str(SHOTS / "dashboard-no-permission.png"))
    assert all("403" in e for e in errors), errors  # only the refused post itself
