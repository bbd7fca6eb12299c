"""Rebalancing on the paper venue: targets checked, a dry run that places nothing, an execution that reaches the
targets (a routed asset included), and one killed mid-way that resumes without placing anything twice."""

import re
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

import analytics.rebalancing
import liquidation.services
from analytics.models import Rebalance, RebalanceState, RebalanceTarget, RebalanceTradeState
from analytics.rebalance_targets import rebalance_target_set
from analytics.rebalancing import (
    rebalance_advance,
    rebalance_cancel,
    rebalance_execute,
    rebalance_plan,
    rebalances_auto,
    rebalances_resume,
)
from core.errors import Conflict, DomainError
from exchanges.models import Exchange
from exchanges.paper import paper_deposit
from exchanges.services import markets_sync
from exchanges.types import MarketInfo
from liquidation.models import PanicSell, PanicSellState
from orders.models import Order
from tests.conftest import MARKETS, ladder

D = Decimal
LINKBTC = MarketInfo("LINKBTC", "LINK", "BTC", D("0.00000001"), D("0.1"), D("0.1"), D("0.0001"))
TARGETS = {"BTC": "0.4", "ETH": "0.3", "LINK": "0.1"}  # USDT: the remaining 0.2


class Crash(BaseException):
    """The process dies here: nothing after it runs, no `except Exception` catches it."""


@pytest.fixture
def account(paper, books):
    """The paper account with LINK, which trades only against BTC (a buy or sell of it takes two orders)."""
    markets_sync(exchange=paper.exchange, markets=[*MARKETS, LINKBTC])
    books.set_book(ladder("LINKBTC", "0.00025000", "0.00025010", "0.00000010", sizes=("5000", "5000", "5000",
                                                                                       "5000", "5000")))  # fmt: skip
    return paper.exchange


def weights_now(venue, assets=("BTC", "ETH", "LINK", "USDT")) -> dict[str, float]:
    prices = {"USDT": 1.0, "BTC": 60000.0, "ETH": 3000.0, "LINK": 0.00025 * 60000.0}
    balances = venue.fetch_balance()
    values = {a: float(balances[a].free) * prices[a] if a in balances else 0.0 for a in assets}
    return {a: v / sum(values.values()) for a, v in values.items()}


def in_band(weights: dict, targets: dict, tolerance: float = 0.02) -> bool:
    wanted = {a: float(w) for a, w in targets.items()}
    wanted["USDT"] = 1 - sum(wanted.values())
    return all(abs(weights[a] - w) <= tolerance for a, w in wanted.items())


def test_targets_that_make_no_sense_are_refused_with_every_reason_and_nothing_is_saved(account):
    with pytest.raises(DomainError) as refused:
        rebalance_target_set(exchange=account, weights={"BTC": "0.7", "ETH": "0.5", "DOGE": "x"}, tolerance="0.9",
                             updated_by="test")  # fmt: skip
    message = refused.value.message
    assert "the tolerance is above 0 and at most 0.5, not 0.9" in message
    assert "the weight of DOGE must be a number" in message
    assert "the weights add up to 1.2, over 1" in message
    with pytest.raises(DomainError, match="has no market trading XRP"):
        rebalance_target_set(exchange=account, weights={"XRP": "0.5"}, updated_by="test")
    with pytest.raises(DomainError, match=r"with the quote USDT named, the weights add up to 1, not 0\.9"):
        rebalance_target_set(exchange=account, weights={"BTC": "0.5", "USDT": "0.4"}, updated_by="test")
    assert not RebalanceTarget.objects.exists()


def test_a_dry_run_shows_the_fewest_trades_and_their_cost_and_places_nothing(account, venue):
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    assert rebalance.state == RebalanceState.PLANNED
    trades = {t.asset: t for t in rebalance.trades.all()}
    assert set(trades) == {"BTC", "ETH", "LINK"}  # all USDT now: each asset bought once, nothing more
    assert all(t.side == "buy" for t in trades.values())
    assert trades["LINK"].route == ["USDT", "BTC", "LINK"]
    assert trades["LINK"].orders == 2
    assert rebalance.orders == 4
    assert D(0) < rebalance.expected_cost < D("0.01") * rebalance.value  # fees and the spread, a few bps
    assert in_band(rebalance.expected_after, TARGETS)
    assert not Order.objects.exists()
    assert not PanicSell.objects.exists()
    assert (venue.calls["fetch_balance"], venue.calls["fetch_tickers"]) == (1, 1)  # one read of each for a plan
    assert venue.fetch_balance()["USDT"].free == D("100000")


def test_an_executed_rebalance_reaches_its_targets_through_a_route_where_there_is_no_direct_market(account, venue):
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
    assert rebalance_advance(rebalance_id=rebalance.pk, venue=venue) == "completed"
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.COMPLETED
    assert in_band(weights_now(venue), TARGETS)
    assert in_band(rebalance.after, TARGETS)
    assert Order.objects.count() == rebalance.orders == 4
    assert all(t.state == RebalanceTradeState.DONE for t in rebalance.trades.all())

    # Now it sits within tolerance: a new plan trades nothing.
    again = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    assert again.trades.count() == 0
    assert again.orders == 0


def test_a_sell_comes_before_the_buy_it_pays_for_and_the_targets_are_reached(account, venue):
    paper_deposit(exchange=account, asset="ETH", amount=D("20"))  # 60,000 of ETH beside 100,000 USDT
    Order.objects.all().delete()
    rebalance_target_set(exchange=account, weights={"BTC": "0.5", "ETH": "0.1"}, tolerance="0.01", updated_by="t")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    assert [(t.side, t.asset) for t in rebalance.trades.all()] == [("sell", "ETH"), ("buy", "BTC")]
    rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
    assert rebalance_advance(rebalance_id=rebalance.pk, venue=venue) == "completed"
    assert in_band(weights_now(venue, ("BTC", "ETH", "USDT")), {"BTC": "0.5", "ETH": "0.1"}, 0.01)


@pytest.mark.parametrize("point", ["rebalance.between_trades", "panic.between_hops"])
def test_a_rebalance_killed_mid_way_resumes_and_reaches_its_targets_without_a_doubled_trade(
    account, venue, monkeypatch, point
):
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
    module = analytics.rebalancing if point.startswith("rebalance") else liquidation.services

    def failpoint(name: str) -> None:
        if name == point:
            monkeypatch.setattr(module, "failpoint", lambda name: None)
            raise Crash(name)

    monkeypatch.setattr(module, "failpoint", failpoint)
    with pytest.raises(Crash):
        rebalance_advance(rebalance_id=rebalance.pk, venue=venue)
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.EXECUTING
    placed_before = Order.objects.count()
    assert 0 < placed_before < rebalance.orders

    # What beat's sweep does for a rebalance nobody advanced lately: advance it again.
    Rebalance.objects.filter(pk=rebalance.pk).update(updated_at=rebalance.updated_at.replace(year=2000))
    assert rebalances_resume() == 1
    assert rebalance_advance(rebalance_id=rebalance.pk, venue=venue) == "completed"
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.COMPLETED
    assert Order.objects.count() == rebalance.orders  # each hop of each trade placed once
    assert max(Counter(Order.objects.values_list("client_order_id", flat=True)).values()) == 1
    conversions = list(PanicSell.objects.all())
    assert len(conversions) == rebalance.trades.count()  # one conversion per trade, never a second
    assert all(c.state == PanicSellState.COMPLETED for c in conversions)
    assert in_band(weights_now(venue), TARGETS)


def test_a_plan_too_old_to_trust_or_a_second_execution_on_the_account_is_refused(account, venue, settings):
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    first = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    second = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    rebalance_execute(rebalance_id=first.pk, requested_by="test")
    with pytest.raises(Conflict, match="executing already"):
        rebalance_execute(rebalance_id=second.pk, requested_by="test")
    settings.REBALANCE_PLAN_TTL_S = 0
    rebalance_cancel(rebalance_id=first.pk, requested_by="test")
    with pytest.raises(Conflict, match="plan it again"):
        rebalance_execute(rebalance_id=second.pk, requested_by="test")
    with pytest.raises(Conflict, match="nothing to cancel"):
        rebalance_cancel(rebalance_id=first.pk, requested_by="test")
    assert not Order.objects.exists()


def test_targets_without_an_account_s_holdings_or_out_of_reach_say_why(account, venue):
    with pytest.raises(DomainError, match="has no target weights"):
        rebalance_plan(exchange=account, requested_by="test", venue=venue)
    rebalance_target_set(exchange=account, weights={"BTC": "0.5"}, quote="ETH", updated_by="test")
    with pytest.raises(DomainError, match="holds none of BTC, ETH"):
        rebalance_plan(exchange=account, requested_by="test", venue=venue)


def test_the_api_plans_shows_and_executes_and_refuses_bad_targets(account, api, venue, monkeypatch):
    monkeypatch.setattr(analytics.rebalancing, "get_venue", lambda exchange: venue)
    bad = api.post("/api/rebalance-targets/", {"exchange": account.pk, "weights": {"BTC": 2}}, format="json")
    assert bad.status_code == 400
    assert "the weight of BTC is between 0 and 1" in str(bad.json())
    made = api.post("/api/rebalance-targets/", {"exchange": account.pk, "weights": TARGETS}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["updated_by"] == "operator-test"
    planned = api.post("/api/rebalances/", {"exchange": account.pk}, format="json")
    assert planned.status_code == 201, planned.json()
    body = planned.json()
    assert body["state"] == "PLANNED"
    assert len(body["trades"]) == 3
    assert D(body["expected_cost"]) > 0
    assert not Order.objects.exists()
    executed = api.post(f"/api/rebalances/{body['id']}/execute/")
    assert executed.status_code == 200
    assert executed.json()["state"] == "EXECUTING"
    again = api.post(f"/api/rebalances/{body['id']}/execute/")
    assert again.status_code == 409


def test_the_command_loads_targets_from_yaml_and_shows_a_dry_run(account, venue, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(analytics.rebalancing, "get_venue", lambda exchange: venue)
    path = tmp_path / "targets.yaml"
    weights = "{BTC: 0.4, ETH: 0.3, LINK: 0.1}"
    path.write_text(f"accounts:\n  {account.name}:\n    tolerance: 0.02\n    weights: {weights}\n")
    call_command("rebalance", "--targets", str(path), "--exchange", account.name)
    out = capsys.readouterr().out
    assert f"targets of {account.name}: BTC 0.4, ETH 0.3, LINK 0.1 (the rest USDT)" in out
    assert "buy LINK: " in out
    assert "via USDT > BTC > LINK (2 orders)" in out
    assert "3 trades, 4 orders, expected cost" in out
    assert not Order.objects.exists()


def test_targets_marked_auto_are_rebalanced_by_beat_once_out_of_tolerance_and_left_alone_within_it(
    account, venue, monkeypatch
):
    monkeypatch.setattr(analytics.rebalancing, "get_venue", lambda exchange: venue)
    rebalance_target_set(exchange=account, weights=TARGETS, auto=False, updated_by="test")
    assert rebalances_auto() == []  # not auto: an operator's call
    rebalance_target_set(exchange=account, weights=TARGETS, auto=True, updated_by="test")
    Exchange.objects.filter(pk=account.pk).update(entries_halted_by="operator-test")
    assert rebalances_auto() == []  # entries halted: nothing bought on its own
    Exchange.objects.filter(pk=account.pk).update(entries_halted_by="")
    [started] = rebalances_auto()
    assert Rebalance.objects.get(pk=started).state == RebalanceState.EXECUTING
    assert rebalances_auto() == []  # one at a time
    assert rebalance_advance(rebalance_id=started, venue=venue) == "completed"
    assert rebalances_auto() == []  # within tolerance now: nothing planned, nothing recorded
    assert Rebalance.objects.count() == 1


def test_operators_set_targets_plan_and_execute_from_the_admin(account, venue, client, operator, monkeypatch):
    monkeypatch.setattr(analytics.rebalancing, "get_venue", lambda exchange: venue)
    client.force_login(operator)
    add = reverse("admin:analytics_rebalancetarget_add")
    form = {"exchange": account.pk, "quote": "USDT", "tolerance": "0.02", "aim": "0.5"}
    refused = client.post(add, form | {"weights": '{"BTC": "0.8", "ETH": "0.4"}'})
    assert refused.status_code == 200
    assert "the weights add up to 1.2, over 1" in refused.content.decode()
    assert not RebalanceTarget.objects.exists()
    saved = client.post(add, form | {"weights": '{"btc": "0.4", "ETH": "0.3", "LINK": "0.1"}'})
    assert saved.status_code == 302
    target = RebalanceTarget.objects.get()
    assert target.weights == TARGETS
    assert target.updated_by == "operator-test"

    targets = reverse("admin:analytics_rebalancetarget_changelist")
    client.post(targets, {"action": "plan", "_selected_action": [target.pk]})
    rebalance = Rebalance.objects.get()
    assert rebalance.state == RebalanceState.PLANNED
    assert not Order.objects.exists()
    page = client.get(reverse("admin:analytics_rebalance_change", args=[rebalance.pk])).content.decode()
    assert "USDT" in page
    assert "LINK" in page

    rebalances = reverse("admin:analytics_rebalance_changelist")
    client.post(rebalances, {"action": "execute", "_selected_action": [rebalance.pk]})
    rebalance.refresh_from_db()
    assert rebalance.state == RebalanceState.EXECUTING


def test_the_dashboard_shows_the_targets_and_how_the_last_rebalance_ended(account, venue, client, operator):
    rebalance_target_set(exchange=account, weights=TARGETS, auto=True, updated_by="test")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
    rebalance_advance(rebalance_id=rebalance.pk, venue=venue)
    client.force_login(operator)
    page = " ".join(client.get("/dashboard/part/accounts/").content.decode().split())
    assert "Rebalance targets: BTC 40% · ETH 30% · LINK 10% · USDT 20% (± 2.0%, rebalanced automatically)." in page
    assert f'rebalance {rebalance.pk}</a> <span class="">COMPLETED</span>' in page
    assert "4 orders, expected cost" in page
    assert re.search(r"weights after: BTC \d+\.\d\d% · ETH \d+\.\d\d% · LINK \d+\.\d\d% · USDT \d+\.\d\d%", page)


def test_the_command_executes_and_follows_a_rebalance_to_its_end(account, venue, monkeypatch, capsys):
    monkeypatch.setattr(analytics.rebalancing, "get_venue", lambda exchange: venue)
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    call_command("rebalance", "--exchange", account.name, "--execute")
    out = capsys.readouterr().out
    assert "trade 3 (buy LINK): DONE" in out
    assert re.search(r"rebalance \d+ completed; weights now BTC 0\.\d{4}, ETH 0\.\d{4}", out)
    assert in_band(weights_now(venue), TARGETS)


@pytest.mark.parametrize(
    ("args", "text", "message"),
    [
        ((), None, "Give --targets FILE, --exchange NAME, or both."),
        (("--exchange", "nowhere"), None, "nowhere: no such account."),
        (("--targets", "{path}"), "accounts: [1, 2]", "A targets file has `accounts:`, a mapping"),
        (("--targets", "{path}"), "accounts:\n  nowhere: {weights: {BTC: 0.5}}", "nowhere: no such account."),
        (("--targets", "{path}"), "accounts:\n  {account}: {weights: {BTC: 0.5}, sizes: 1}", "unknown keys sizes"),
        (("--targets", "{path}"), "accounts:\n  {account}: {weights: {BTC: 1.5}}", "the weight of BTC is between"),
        (("--targets", "{path}"), "accounts: {", "not valid YAML"),
        (("--targets", "{path}.missing"), None, "cannot be read"),
    ],
)
def test_the_command_says_what_is_wrong_and_changes_nothing(account, tmp_path, args, text, message):
    path = tmp_path / "targets.yaml"
    if text is not None:
        path.write_text(text.replace("{account}", account.name))
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("rebalance", *(a.replace("{path}", str(path)) for a in args))
    assert not RebalanceTarget.objects.exists()


def test_a_plan_with_nothing_to_trade_completes_at_once_when_executed(account, venue):
    rebalance_target_set(exchange=account, weights={"BTC": "0.01"}, tolerance="0.05", updated_by="test")
    rebalance = rebalance_plan(exchange=account, requested_by="test", venue=venue)
    assert rebalance.trades.count() == 0
    done = rebalance_execute(rebalance_id=rebalance.pk, requested_by="test")
    assert done.state == RebalanceState.COMPLETED
    assert done.after == {"BTC": 0.0, "USDT": 1.0}
    assert not Order.objects.exists()


def test_a_plan_the_books_cannot_fill_says_what_the_router_found(account, venue, books):
    books.set_book(ladder("LINKBTC", "0.00025000", "0.00025010", "0.00000010", sizes=("1", "1", "1", "1", "1")))
    rebalance_target_set(exchange=account, weights=TARGETS, updated_by="test")
    with pytest.raises(DomainError) as refused:
        rebalance_plan(exchange=account, requested_by="test", venue=venue)
    assert refused.value.message == (
        "No rebalance of paper-test reaches its targets: LINK cannot be bought: no route to or from the quote "
        "(to buy LINK: no route from USDT to LINK within 4 hops that the books can fill)."
    )
    assert not Rebalance.objects.exists()
