"""Performance reports: what the cycles, copies and accounts did, in the API and as CSV."""

import csv
import io
from decimal import Decimal

import pytest

from cycles.services import cycle_advance
from orders.models import Fill
from tests.cycles.conftest import open_cycle


@pytest.fixture
def traded(paper, strategy):
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=paper) == "completed"
    cycle.refresh_from_db()
    return cycle


def test_a_strategys_report_says_what_its_cycles_made_paid_and_slipped(traded, api):
    [row] = api.get("/api/performance/", {"scope": "strategy"}).json()
    assert (row["name"], row["ended"], row["completed"]) == ("tri-test", 1, 1)
    assert Decimal(row["pnl"]["USDT"]) == traded.realized_pnl
    assert row["win_rate"] == (1.0 if traded.realized_pnl > 0 else 0.0)
    fees = sum(f.fee for f in Fill.objects.filter(order__cycle=traded, fee_asset="USDT"))
    assert Decimal(row["fees"].get("USDT", "0")) == fees
    expected_bps = float((traded.end_amount / traded.start_amount / traded.expected_net_rate - 1) * 10_000)
    assert row["slippage_bps_mean"] == pytest.approx(expected_bps, abs=1e-3)
    assert row["latency_ms_p50"] >= 0


def test_an_accounts_report_sums_per_asset_and_the_csv_has_a_column_per_figure(traded, api):
    [row] = [r for r in api.get("/api/performance/", {"scope": "account"}).json() if r["name"] == "paper-test"]
    assert row["cycles_ended"] == 1
    assert Decimal(row["pnl"]["USDT"]) == traded.realized_pnl
    assert row["fills"] == Fill.objects.filter(exchange__name="paper-test").count() == 3
    answer = api.get("/api/performance/", {"scope": "strategy", "format": "csv"})
    assert answer["Content-Type"].startswith("text/csv")
    [line] = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert Decimal(line["pnl.USDT"]) == traded.realized_pnl
    assert line["completed"] == "1"


def test_a_copied_wallet_has_its_row_and_bad_queries_are_refused(paper, api, anon_api, client, nobody):
    from wallets.services import wallet_create

    wallet_create(address="0x" + "ab" * 20, label="whale", source="polymarket", copy_exchange=paper.exchange)
    [row] = api.get("/api/performance/", {"scope": "wallet"}).json()
    assert (row["name"], row["copies"], row["win_rate"]) == ("whale", {}, None)
    assert api.get("/api/performance/", {"scope": "galaxy"}).status_code == 400
    assert anon_api.get("/api/performance/").status_code == 401
    client.force_login(nobody)
    assert client.get("/api/performance/").status_code == 403


def test_the_dashboard_shows_the_reports_with_links_to_the_csv(traded, client, operator):
    client.force_login(operator)
    assert 'hx-get="/dashboard/part/performance/"' in client.get("/dashboard/").content.decode()
    page = client.get("/dashboard/part/performance/").content.decode()
    assert "<td>tri-test</td><td>paper-test</td>" in page
    assert "/api/performance/?scope=strategy&format=csv" in page.replace("&amp;", "&")
