"""Risk assessed from an account's holdings and candles; limits that halt entries, say why, and let go."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.models import Candle, RiskReport
from analytics.services import risk_assess_account, risk_assess_strategies, risk_limits_set
from cycles.reservations import cycle_reserve
from exchanges.errors import EntriesHalted
from exchanges.models import Exchange
from exchanges.paper import PaperVenue, paper_deposit
from exchanges.services import markets_sync
from positions.actions import entries_halt
from tests.conftest import MARKETS

D = Decimal


def minute_candles(market, *, start: float, minutes: int, vol: float, seed: int, now) -> None:
    """A random walk of one-minute closes ending at `now`."""
    rng, price, rows = random.Random(seed), start, []
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    for i in range(minutes):
        price *= 1 + rng.gauss(0, vol)
        p = D(f"{price:.2f}")
        rows.append(Candle(market=market, timeframe="1m", open_time=first + timedelta(minutes=i), open=p, high=p,
                           low=p, close=p, volume=1, quote_volume=p, trades=1))  # fmt: skip
    Candle.objects.bulk_create(rows)


@pytest.fixture
def held(paper):
    """The paper account holds USDT, 1 BTC (60,000) and 10 ETH (30,000), with four hours of candles for both."""
    paper_deposit(exchange=paper.exchange, asset="BTC", amount=D("1"))
    paper_deposit(exchange=paper.exchange, asset="ETH", amount=D("10"))
    now = timezone.now()
    markets = {m.symbol: m for m in paper.exchange.markets.all()}
    minute_candles(markets["BTCUSDT"], start=60_000, minutes=240, vol=0.002, seed=1, now=now)
    minute_candles(markets["ETHUSDT"], start=3_000, minutes=240, vol=0.003, seed=2, now=now)
    return paper


def test_an_accounts_risk_comes_from_what_it_holds_and_its_candles(held):
    report = risk_assess_account(exchange=held.exchange, venue=held)
    assert report.value == D("190000")  # 100,000 USDT + 60,000 + 30,000
    assert report.weights == pytest.approx({"USDT": 100 / 190, "BTC": 60 / 190, "ETH": 30 / 190})
    assert report.periods >= 240
    assert 0 < report.figures["var_95"] < report.figures["var_99"]
    assert report.figures["beta"] == pytest.approx(report.assets["BTC"]["beta"] * 60 / 190 + report.assets["ETH"][
        "beta"] * 30 / 190, rel=1e-9)  # fmt: skip
    assert report.assets["BTC"]["beta"] == pytest.approx(1.0)
    assert report.correlation["assets"] == ["BTC", "ETH", "USDT"]
    assert report.breaches == []
    assert RiskReport.objects.filter(exchange=held.exchange, scope="account").count() == 1


def test_a_crossed_limit_halts_entries_says_why_and_lets_go_once_met(held, strategy):
    risk_limits_set(exchange=held.exchange, max_asset_share=D("0.25"))  # BTC is 31.6% of equity
    report = risk_assess_account(exchange=held.exchange, venue=held)
    assert report.breaches == ["BTC 31.58% of equity, over the 25.00% limit"]
    held.exchange.refresh_from_db()
    assert held.exchange.entries_halted_by.startswith("risk: BTC 31.58% of equity")
    with pytest.raises(EntriesHalted, match="risk: BTC"):
        cycle_reserve(strategy_id=strategy.pk)  # the kill switch stops new cycles, and says why

    risk_limits_set(exchange=held.exchange, max_asset_share=D("0.5"))
    assert risk_assess_account(exchange=held.exchange, venue=held).breaches == []
    held.exchange.refresh_from_db()
    assert held.exchange.entries_halted_by == ""  # the limits' own halt, lifted
    cycle_reserve(strategy_id=strategy.pk)


def test_an_operators_halt_is_never_lifted_by_the_limits(held):
    entries_halt(exchange=held.exchange, halted=True, requested_by="operator-test")
    risk_assess_account(exchange=held.exchange, venue=held)
    held.exchange.refresh_from_db()
    assert held.exchange.entries_halted_by == "operator-test"


def test_a_var_limit_is_enforced_on_the_portfolio(held):
    risk_limits_set(exchange=held.exchange, max_var_99=D("0.0001"))
    report = risk_assess_account(exchange=held.exchange, venue=held)
    assert report.breaches[0].startswith("VaR 99% ")
    assert "over the 0.01% limit" in report.breaches[0]


def test_a_strategys_risk_is_what_its_cycles_returned(paper, strategy):
    from cycles.models import Cycle, Reservation

    now = timezone.now()
    for pnl in ("1.0", "-0.5", "0.8", "-2.0", "0.3"):
        reservation = Reservation.objects.create(strategy=strategy, expires_at=now + timedelta(seconds=5),
                                                 consumed_at=now)  # fmt: skip
        Cycle.objects.create(strategy=strategy, reservation=reservation, start_asset="USDT", start_amount=D(100),
                             expected_net_rate=D("1.002"), state="COMPLETED", realized_pnl=D(pnl),
                             finished_at=now)  # fmt: skip
    [report] = risk_assess_strategies(exchange=paper.exchange)
    assert report.strategy == strategy
    assert report.periods == 5
    assert report.figures["max_drawdown"] == pytest.approx(0.02, abs=1e-12)  # the -2% cycle, right after the peak
    # the 1% quantile of [-0.02, -0.005, 0.003, 0.008, 0.01], interpolated 4% of the way to the second lowest
    assert report.figures["var_99"] == pytest.approx(0.02 - 0.04 * 0.015, abs=1e-12)


def test_reports_and_an_assessment_on_demand_through_the_api(held, api, viewer, client):
    answer = api.post("/api/risk-reports/assess/", {"exchange": held.exchange.pk})
    assert answer.status_code == 200
    assert answer.json()["scope"] == "account"
    listed = api.get("/api/risk-reports/", {"exchange": held.exchange.pk, "scope": "account"}).json()
    assert listed["count"] == 1
    client.force_login(viewer)
    assert client.get("/api/risk-reports/").status_code == 200
    assert client.post("/api/risk-reports/assess/", {"exchange": held.exchange.pk}).status_code == 403
    limits = api.post("/api/risk-limits/", {"exchange": held.exchange.pk, "max_drawdown": "0.1"})
    assert limits.status_code == 201
    assert api.patch(f"/api/risk-limits/{limits.json()['id']}/", {"max_drawdown": "1.5"}).status_code == 400


def test_the_dashboard_shows_the_risk_and_why_entries_stopped(held, client, operator):
    risk_limits_set(exchange=held.exchange, max_asset_share=D("0.25"))
    risk_assess_account(exchange=held.exchange, venue=held)
    client.force_login(operator)
    page = client.get("/dashboard/part/accounts/").content.decode()
    assert "New entries stopped by risk: BTC 31.58% of equity, over the 25.00% limit." in page
    assert "Risk limit crossed: BTC 31.58% of equity, over the 25.00% limit." in page
    assert "VaR 99% " in page
    assert "largest BTC 31.58% (limit 25.00%)" in page


def test_a_paper_account_on_another_s_simulated_market_is_measured_by_that_market_s_candles(held, settings):
    other = Exchange.objects.create(name="paper-other")
    markets_sync(exchange=other, markets=MARKETS)
    paper_deposit(exchange=other, asset="BTC", amount=D("1"))
    venue = PaperVenue(other, market_data=held.market_data)
    assert risk_assess_account(exchange=other, venue=venue).unmeasured == ["BTC"]  # no candles of its own
    settings.PAPER_MARKET_DATA_FROM = {"paper-other": held.exchange.name}
    report = risk_assess_account(exchange=other, venue=venue)
    assert report.unmeasured == []
    assert report.periods >= 240
