"""The operators' dashboard and the cached account, figures and market reads behind it."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from core.apicache import stats as cache_figures
from exchanges.services import markets_sync
from exchanges.types import MarketInfo, Ticker
from exchanges.valuation import asset_prices
from positions.models import PositionPhase
from positions.opening import position_open
from tests.conftest import MARKETS, ladder
from tests.factories import UserFactory

D = Decimal
MARKET_ROWS = [(m.symbol, m.base, m.quote) for m in MARKETS]


def tick(symbol: str, bid: str, ask: str) -> Ticker:
    return Ticker(symbol, D(bid), D(1), D(ask), D(1), 0)


def test_assets_are_valued_at_what_they_sell_for_directly_inversely_or_through_one_hop():
    tickers = {"BTCUSDT": tick("BTCUSDT", "60000", "60001"), "ETHBTC": tick("ETHBTC", "0.05", "0.0501")}
    markets = [*MARKET_ROWS, ("XYZABC", "XYZ", "ABC")]
    prices = asset_prices(["USDT", "BTC", "ETH", "XYZ"], "BTC", tickers, markets)
    assert prices["BTC"] == 1
    assert prices["USDT"] == 1 / D("60001")  # selling USDT for BTC pays the ask
    assert prices["ETH"] == D("0.05")
    assert "XYZ" not in prices  # no path: left unvalued, not zero
    in_usdt = asset_prices(["ETH"], "USDT", tickers, markets)  # no ETHUSDT ticker: through BTC
    assert in_usdt["ETH"] == D("0.05") * D("60000")


@pytest.fixture
def opened(monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for target in (
        "positions.opening.get_venue",
        "positions.services.get_venue",
        "positions.actions.get_venue",
        "dashboard.overview.get_venue",
    ):
        monkeypatch.setattr(target, lambda exchange: venue)
    return position_open(exchange=paper.exchange, symbol="BTCUSDT", amount=D("0.02"), venue=venue,
                         take_profits=[(D("61000"), D("0.5"))], stop_loss=D("58000"))  # fmt: skip


@pytest.mark.django_db
def test_accounts_value_balances_and_are_read_once_until_a_critical_event(
    api, opened, venue, django_capture_on_commit_callbacks
):
    first = api.get("/api/accounts/").json()
    (account,) = first
    balances = {row["asset"]: row for row in account["balances"]}
    assert set(balances) == {"USDT", "BTC"}
    btc = D(balances["BTC"]["total"])
    assert D(balances["BTC"]["value"]) == btc * D("60000.00")
    assert D(account["equity"]) == D(balances["USDT"]["total"]) + btc * D("60000.00")
    assert account["open_positions"] == 1
    assert account["unvalued_assets"] == []
    calls = venue.calls["fetch_balance"]
    assert api.get("/api/accounts/").json() == first
    assert venue.calls["fetch_balance"] == calls  # served from the cache
    with django_capture_on_commit_callbacks(execute=True):  # critical events drop the cache once committed
        assert api.post(f"/api/positions/{opened.pk}/close/").status_code == 200
    (after,) = api.get("/api/accounts/").json()
    assert venue.calls["fetch_balance"] == calls + 1
    assert after["open_positions"] == 0
    assert "BTC" not in {row["asset"] for row in after["balances"]}
    figures = cache_figures()["account"]
    assert (figures["hits"], figures["misses"]) == (1, 2)
    assert figures["invalidations"] >= 1


@pytest.mark.django_db
def test_an_account_whose_venue_fails_is_shown_with_the_error(api, opened, faults):
    faults.server_error_p = 1
    faults.save()
    (account,) = api.get("/api/accounts/").json()
    assert account["balances"] is None
    assert account["equity"] is None
    assert account["error"].startswith("venue unavailable")
    assert account["open_positions"] == 1


@pytest.mark.django_db
def test_figures_count_positions_and_their_results(api, opened):
    api.post(f"/api/positions/{opened.pk}/close/")
    figures = api.get("/api/stats/").json()
    assert figures["positions"]["by_phase"] == {"CLOSED": 1}
    assert figures["positions"]["closed"] == 1
    assert figures["positions"]["win_rate"] == 0.0
    assert D(figures["positions"]["realized_pnl_by_quote"]["USDT"]) < 0
    assert figures["orders"]["created_24h_by_status"] == {"FILLED": 2}
    assert set(figures["orders"]["fees_24h_by_asset"]) == {"BTC", "USDT"}


@pytest.mark.django_db
def test_market_reads_are_cached_until_the_markets_change(api, paper, django_capture_on_commit_callbacks):
    first = api.get("/api/markets/?symbol=BTCUSDT").json()
    assert api.get("/api/markets/?symbol=BTCUSDT").json() == first
    with django_capture_on_commit_callbacks(execute=True):
        markets_sync(exchange=paper.exchange, markets=MARKETS)  # nothing changed: the cache stays
    assert cache_figures()["market_data"]["invalidations"] == 0
    changed = [MarketInfo("BTCUSDT", "BTC", "USDT", D("0.1"), D("0.000001"), D("0.000001"), D("5")), *MARKETS[1:]]
    with django_capture_on_commit_callbacks(execute=True):
        markets_sync(exchange=paper.exchange, markets=changed)
    (btc,) = api.get("/api/markets/?symbol=BTCUSDT").json()["results"]
    assert D(btc["price_step"]) == D("0.1")
    figures = cache_figures()["market_data"]
    assert (figures["hits"], figures["misses"], figures["invalidations"]) == (1, 2, 1)


@pytest.mark.django_db
def test_the_dashboard_shows_accounts_positions_and_events_to_staff_only(operator, opened):
    assert Client().get("/dashboard/").status_code == 302  # to the login page
    client = Client()
    client.force_login(operator)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "paper-test" in text
    assert "BTCUSDT" in text
    assert "monitor_created" in text
    assert "Close now" in text
    assert "Stop new entries" in text


@pytest.mark.django_db
def test_dashboard_actions_need_their_permission_and_record_who_asked(operator, opened, paper):
    clerk = UserFactory(username="clerk", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert "Close now" not in client.get("/dashboard/").content.decode()
    assert client.post(f"/dashboard/positions/{opened.pk}/close/").status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="close_position"))
    client.force_login(clerk)
    response = client.post(f"/dashboard/positions/{opened.pk}/close/", follow=True)
    assert "close sent; now CLOSED" in response.content.decode()
    opened.refresh_from_db()
    assert opened.phase == PositionPhase.CLOSED
    asked = opened.events.filter(kind="operator_action").first().payload["requested_by"]
    assert asked == "dashboard:clerk"
    again = client.post(f"/dashboard/positions/{opened.pk}/close/", follow=True)
    assert f"Position {opened.pk} is closed." in again.content.decode()  # a clear error, nothing done

    admin = Client()
    admin.force_login(operator)
    admin.post(f"/dashboard/accounts/{paper.exchange.pk}/entries/", {"halted": "1"})
    paper.exchange.refresh_from_db()
    assert paper.exchange.entries_halted_by == "dashboard:operator-test"
    assert "New entries stopped by dashboard:operator-test" in admin.get("/dashboard/").content.decode()
    admin.post(f"/dashboard/accounts/{paper.exchange.pk}/entries/", {"halted": "0"})
    paper.exchange.refresh_from_db()
    assert paper.exchange.entries_halted_by == ""
