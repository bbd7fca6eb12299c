"""The dashboard's chart data (what each chart draws, against the rows it comes from), its parts and actions over
htmx, equity snapshots, and /metrics parsed as Prometheus parses it."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from cycles.services import cycle_advance
from dashboard.equity import equity_snapshot_take
from dashboard.models import EquitySnapshot
from exchanges.guarded import GuardedVenue
from exchanges.registry import venue_breaker, venue_limiter
from orders.models import Fill
from positions.models import Position, PositionPhase
from positions.opening import position_open
from tests.conftest import ladder
from tests.cycles.conftest import open_cycle
from tests.factories import UserFactory

D = Decimal
pytestmark = pytest.mark.django_db
TOKEN = "scrape-test-token"


@pytest.fixture
def staff(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def guarded(paper):
    return GuardedVenue(paper, limiter=venue_limiter(paper.exchange), breaker=venue_breaker(paper.exchange))


@pytest.fixture
def opened(monkeypatch, paper, books, guarded):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for target in ("positions.opening.get_venue", "positions.services.get_venue", "positions.actions.get_venue",
                   "dashboard.overview.get_venue"):  # fmt: skip
        monkeypatch.setattr(target, lambda exchange: guarded)
    return position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=guarded,
                         take_profits=[(D("61000"), D("0.5"))], stop_loss=D("58000"))  # fmt: skip


def test_every_chart_answers_staff_only_with_the_rows_it_draws(staff, opened, paper):
    assert Client().get("/dashboard/charts/positions.json").status_code == 302  # to the login page
    assert staff.get("/dashboard/charts/nothing.json").status_code == 404
    positions = staff.get("/dashboard/charts/positions.json").json()
    assert positions["by_phase"] == {opened.phase: 1}
    detection = staff.get("/dashboard/charts/detection.json").json()
    assert detection["fills"] == Fill.objects.count() > 0
    assert sum(n for _, n in detection["buckets"]) == detection["fills"]
    venues = staff.get("/dashboard/charts/venues.json").json()
    weight = sum(minute[2] for minute in venues["accounts"]["paper-test"]["per_minute"])
    assert weight >= 1  # its order went through the limiter (its book came from the feed: no request, no weight)
    assert venues["accounts"]["paper-test"]["breaker"] == "closed"
    for name in ("equity", "pnl", "cycles", "funnel"):
        assert staff.get(f"/dashboard/charts/{name}.json").status_code == 200


def test_equity_snapshots_feed_the_equity_chart_and_old_ones_are_pruned(staff, opened, paper, settings):
    result = equity_snapshot_take(venue_for=lambda exchange: paper)
    assert result["taken"] == 1
    snapshot = EquitySnapshot.objects.get()
    assert snapshot.asset == "USDT"
    assert snapshot.equity > D("99000")
    EquitySnapshot.objects.filter(pk=snapshot.pk).update(taken_at=snapshot.taken_at.replace(year=2020))
    settings.DASHBOARD_EQUITY_RETENTION_DAYS = 30
    assert equity_snapshot_take(venue_for=lambda exchange: paper)["pruned"] == 1
    series = staff.get("/dashboard/charts/equity.json").json()["series"]
    assert [s["name"] for s in series] == ["paper-test"]
    assert series[0]["points"][-1][1] == pytest.approx(float(EquitySnapshot.objects.get().equity))


def test_realized_pnl_per_day_and_job_matches_the_closed_positions(staff, opened, paper):
    staff.post(f"/dashboard/positions/{opened.pk}/close/", HTTP_HX_REQUEST="true")
    Position.objects.filter(pk=opened.pk).update(phase=PositionPhase.CLOSED)
    opened.refresh_from_db()
    from core.apicache import invalidate

    invalidate("positions")
    (series,) = staff.get("/dashboard/charts/pnl.json").json()["series"]
    assert (series["job"], series["asset"]) == ("positions", "USDT")
    assert series["points"][-1][2] == pytest.approx(float(opened.realized_pnl))


def test_an_action_over_htmx_answers_with_the_part_it_changed_and_its_result(staff, opened):
    page = staff.get("/dashboard/").content.decode()
    assert 'hx-get="/dashboard/part/positions/"' in page
    assert "chart.umd.min.js" in page
    assert "//cdn" not in page
    part = staff.post(f"/dashboard/positions/{opened.pk}/close/", HTTP_HX_REQUEST="true")
    assert part.status_code == 200
    text = part.content.decode()
    assert "close sent; now CLOSED" in text
    assert 'id="open-positions"' in text
    assert f'data-position="{opened.pk}"' not in text
    assert staff.get("/dashboard/part/nothing/").status_code == 404


def test_strategy_pause_and_wallet_disable_need_their_permissions(paper, operator):
    from cycles.models import Strategy
    from tests.factories import WatchedWalletFactory

    strategy = Strategy.objects.create(name="tri", exchange=paper.exchange, start_asset="USDT", trade_amount=100,
                                       panic_base_currencies=["USDT"])  # fmt: skip
    wallet = WatchedWalletFactory()
    clerk = UserFactory(username="clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.post(f"/dashboard/strategies/{strategy.pk}/enabled/", {"enabled": "0"}).status_code == 403
    assert client.post(f"/dashboard/wallets/{wallet.pk}/enabled/", {"enabled": "0"}).status_code == 403
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["change_strategy", "change_watchedwallet"]))
    client.force_login(clerk)
    paused = client.post(f"/dashboard/strategies/{strategy.pk}/enabled/", {"enabled": "0"}, HTTP_HX_REQUEST="true")
    assert "Strategy tri paused" in paused.content.decode()
    client.post(f"/dashboard/wallets/{wallet.pk}/enabled/", {"enabled": "0"}, HTTP_HX_REQUEST="true")
    strategy.refresh_from_db()
    wallet.refresh_from_db()
    assert (strategy.enabled, wallet.enabled) == (False, False)


def test_the_position_wallet_and_cycle_pages_draw_their_data(staff, opened, paper, strategy, guarded):
    page = staff.get(f"/dashboard/positions/{opened.pk}/")
    assert page.status_code == 200
    assert 'id="chart-data-position"' in page.content.decode()
    data = staff.get(f"/dashboard/positions/{opened.pk}/?json=1").json()
    assert data["stop"] == 58000.0
    assert [tp["price"] for tp in data["take_profits"]] == [61000.0]
    assert [f["role"] for f in data["fills"]] == ["entry"]
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=guarded) == "completed"
    legs = staff.get(f"/dashboard/cycles/{cycle.pk}/?json=1").json()["legs"]
    assert [leg["status"] for leg in legs] == ["FILLED"] * 3
    assert all(leg["slippage_bps"] is not None for leg in legs)


@pytest.fixture
def strategy(paper):
    from cycles.models import Strategy

    return Strategy.objects.create(name="tri-test", exchange=paper.exchange, start_asset="USDT", trade_amount=1000,
                                   panic_base_currencies=["USDT"])  # fmt: skip


def scrape(client: Client, **headers) -> dict[str, float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}"] = s.value
    return samples


@override_settings(METRICS_BEARER_TOKEN=TOKEN, METRICS_ALLOWED_NETWORKS=[])
def test_metrics_need_the_token_and_move_when_a_cycle_runs(
    paper, strategy, guarded, django_capture_on_commit_callbacks
):
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    before = scrape(client, **auth)
    cycle = open_cycle(strategy)
    with django_capture_on_commit_callbacks(execute=True):  # the ended orders and cycles count once committed
        assert cycle_advance(cycle_id=cycle.pk, venue=guarded) == "completed"
    after = scrape(client, **auth)
    key = "tradingsite_venue_calls_total{method=create_order,outcome=ok,venue=paper-test}"
    assert after[key] - before.get(key, 0) == 3
    detection = "tradingsite_fill_detection_seconds_count{path=poll,venue=paper-test}"
    assert after[detection] - before.get(detection, 0) >= 3
    ended = "tradingsite_orders_ended_total{status=FILLED,venue=paper-test}"
    assert after[ended] - before.get(ended, 0) == 3
    finished = "tradingsite_cycles_finished_total{state=COMPLETED}"
    assert after[finished] - before.get(finished, 0) == 1
    assert "tradingsite_limiter_tokens{venue=paper-test}" in after
    assert after["tradingsite_breaker_open{venue=paper-test}"] == 0
    assert "tradingsite_celery_queue_length{queue=execution}" in after
    assert any(k.startswith("django_http_requests_total_by_method_total") for k in after)


@override_settings(METRICS_BEARER_TOKEN="", METRICS_ALLOWED_NETWORKS=["127.0.0.0/8"])
def test_metrics_answer_an_allowed_network_without_a_token(db):
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 401


@override_settings(METRICS_BEARER_TOKEN=TOKEN)
def test_the_grafana_dashboard_reads_only_metrics_we_serve(paper, strategy, guarded):
    import json
    import re

    from django.conf import settings

    cycle = open_cycle(strategy)
    cycle_advance(cycle_id=cycle.pk, venue=guarded)
    Client().get("/healthz")
    text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    served = set()
    for family in text_string_to_metric_families(text):  # a family with no sample yet is still declared
        served |= {family.name, f"{family.name}_bucket", f"{family.name}_total"} | {s.name for s in family.samples}
    grafana = json.loads((settings.BASE_DIR / "deploy" / "grafana" / "tradingsite.json").read_text())
    wanted = {name for panel in grafana["panels"] for target in panel["targets"]
              for name in re.findall(r"\b(?:tradingsite|django)_[a-z_]+", target["expr"])}  # fmt: skip
    # A labelled histogram no process has observed yet has no samples in multiprocess mode: it must be declared.
    from core import metrics

    declared = {
        f"{m._name}_{kind}" for m in vars(metrics).values() if hasattr(m, "_name") for kind in ("bucket", "total")
    }
    assert wanted - served <= declared, wanted - served - declared


def test_a_process_that_imported_prometheus_client_before_the_settings_still_writes_its_samples(tmp_path):
    """The `celery` command loads Flower's plugin, which imports prometheus_client before Django's settings."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    probe = ("import os, sys, prometheus_client, django; os.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[1]; "
             "django.setup(); from core import metrics; metrics.count_call('probe', 'create_order', 'ok')")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["DJANGO_SETTINGS_MODULE"] = "tradingsite.settings"
    subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=settings.BASE_DIR, env=env, check=True,
                   capture_output=True)  # fmt: skip
    assert list(tmp_path.glob("counter_*.db"))


@override_settings(METRICS_BEARER_TOKEN=TOKEN)
def test_a_samples_file_a_killed_process_left_empty_does_not_fail_the_scrape(db, tmp_path):
    from django.conf import settings

    empty = settings.PROMETHEUS_MULTIPROC_DIR / "counter_999999999.db"  # killed between creating and sizing it
    empty.touch()
    try:
        answer = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    finally:
        empty.unlink()
    assert answer.status_code == 200
    assert b"tradingsite_" in answer.content


def test_the_position_page_draws_its_markets_candles(staff, opened, paper):
    from analytics.services import CandleWriter

    writer = CandleWriter(paper.exchange, flush_s=0)
    start = int(opened.created_at.timestamp() * 1000) // 60_000 * 60_000 - 3 * 60_000  # just before it opened
    for minute, price in enumerate(["60000", "60100", "59900"]):
        writer.add("BTCUSDT", D(price), D("0.1"), start + minute * 60_000 + 1_000)
    writer.flush(now_ms=start + 2 * 60_000 + 1_000)  # two minutes closed, the third open
    data = staff.get(f"/dashboard/positions/{opened.pk}/?json=1").json()
    assert data["timeframe"] == "1m"
    assert [c[3] for c in data["candles"]] == [60000.0, 60100.0, 59900.0]  # the closed ones, then the open one
