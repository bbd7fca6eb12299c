"""Every bad input is a 4xx or a command error naming what is wrong, and the database bounds mirror the YAML's
so that admin, API and YAML refuse the same values."""

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.urls import reverse

from core.services import model_create
from cycles.models import Strategy
from exchanges.models import Exchange, VenueFaults
from tests import factories as f

pytestmark = pytest.mark.django_db
WALLET = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"


@pytest.fixture
def paper_account():
    return Exchange.objects.create(name="paper")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: s\nexchange: paper\ntrade_amount: 10\nmin_profit_bps: -5\n", "min_profit_bps"),
        (b"name: caf\xe9\n", "not UTF-8 text"),
        (b"name: s\n1: x\nexchange: paper\n", "keys are names (text), not int"),
        (b"name: s\nexchange: paper\norder:\n  true: 1\n", "keys are names (text), not bool"),
    ],
)
def test_strategy_files_are_refused_with_the_reason(tmp_path, paper_account, content, message):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("load_strategy", str(path), stdout=io.StringIO())
    assert not Strategy.objects.exists()


def test_a_directory_is_not_a_strategy_file(tmp_path, paper_account):
    with pytest.raises(CommandError, match="a directory, not a strategy file"):
        call_command("load_strategy", str(tmp_path), stdout=io.StringIO())


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"min_profit_bps": -1}, "strategy_min_profit_bps_0_to_10000"),
        ({"min_profit_bps": 10_001}, "strategy_min_profit_bps_0_to_10000"),
        ({"panic_max_total_slippage_bps": 10_001}, "strategy_slippage_1_to_10000"),
        ({"panic_max_total_slippage_bps": 0}, "strategy_slippage_1_to_10000"),
    ],
)
def test_strategy_bounds_live_in_the_database(fields, constraint):
    strategy = f.StrategyFactory()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Strategy.objects.filter(pk=strategy.pk).update(**fields)
    with pytest.raises(ValidationError):  # the admin and the API (full_clean) refuse them too
        model_create(Strategy, name="x", exchange=strategy.exchange, trade_amount=10, **fields)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [({"latency_ms": 3_600_000}, "venue_faults_durations"), ({"ban_s": -1}, "venue_faults_durations"),
     ({"retry_after_s": 1e9}, "venue_faults_durations")],
)  # fmt: skip
def test_venue_fault_durations_are_bounded(fields, constraint):
    exchange = f.ExchangeFactory()
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        VenueFaults.objects.create(exchange=exchange, **fields)


@pytest.mark.parametrize(
    "ladder",
    [
        [{"pct": "nan", "fraction": 0.5}],
        [{"pct": "inf", "fraction": 0.5}],
        [{"pct": True, "fraction": 0.5}],
        [{"pct": 1e30, "fraction": 0.5}],
        [{"pct": 5, "fraction": 0.7}, {"pct": 9, "fraction": 0.7}],
        [{"pct": 5}],
        [{"pct": 5, "fraction": 0.5, "extra": 1}],
        {"pct": 5},
    ],
)
def test_wallet_ladders_are_finite_bounded_decimals(api, ladder):
    response = api.post("/api/wallets/", {"address": WALLET, "take_profit_ladder": ladder}, format="json")
    assert response.status_code == 400, response.json()
    assert "take_profit_ladder" in response.json()


def test_a_ccxt_id_that_ccxt_does_not_know_is_refused(api):
    response = api.post("/api/exchanges/", {"name": "k", "kind": "ccxt", "ccxt_id": "binanse"}, format="json")
    assert response.status_code == 400
    assert "not an exchange ccxt knows" in str(response.json())
    assert "binance" in str(response.json())  # the suggestion


def test_commands_refuse_bad_numbers_by_name(paper_account):
    with pytest.raises(CommandError, match="'nan' must be a finite number above zero"):
        call_command("route", "--exchange", "paper", "--asset", "BTC", "--amount", "nan", stdout=io.StringIO())
    with pytest.raises(CommandError, match="'abc' is not a number"):
        call_command("setup_copy_demo", "--usdc", "abc", stdout=io.StringIO())


def test_dashboard_close_of_an_unknown_position_is_a_404(client, operator):
    client.force_login(operator)
    response = client.post(reverse("dashboard-close-position", args=[999_999]))
    assert response.status_code == 404


@pytest.mark.parametrize("take_profits", ["nan:0.5", "61000:inf", "61000:-1", "1e40:0.5"])
def test_admin_open_position_refuses_non_finite_take_profits(client, operator, take_profits):
    from positions.admin import OpenPositionForm

    exchange = f.ExchangeFactory()
    form = OpenPositionForm(data={"exchange": exchange.pk, "symbol": "BTCUSDT", "amount": "0.01",
                                  "entry_type": "market", "take_profits": take_profits})  # fmt: skip
    assert not form.is_valid()
    assert "take_profits" in form.errors


def test_wallet_validate_when_the_source_breaks_unexpectedly(api, monkeypatch):
    from wallets.models import WatchedWallet

    wallet = WatchedWallet.objects.create(address="0x6A72f61820b26b1fe4d956E17B6DC2A1Ea3033EE")

    class Broken:
        calls = 0

        def present_cursor(self, address):
            raise KeyError("result")

    monkeypatch.setattr("wallets.sources.source_for", lambda kind: Broken())
    response = api.post(f"/api/wallets/{wallet.pk}/validate/")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert "the source failed unexpectedly: KeyError" in response.json()["error"]


def test_an_accounts_name_is_fixed_once_created(api):
    exchange = f.ExchangeFactory(name="paper-fixed")
    response = api.patch(f"/api/exchanges/{exchange.pk}/", {"name": "renamed"}, format="json")
    assert response.status_code == 400
    assert "fixed once created" in response.json()["name"][0]
    assert api.patch(f"/api/exchanges/{exchange.pk}/", {"name": "paper-fixed", "enabled": False},
                     format="json").status_code == 200  # fmt: skip
