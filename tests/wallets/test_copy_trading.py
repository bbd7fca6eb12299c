"""Scanning wallets and copying their fills: once each, sized by risk, managed as positions."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from positions.models import Position, PositionPhase, PositionSource
from wallets import copying, scanning
from wallets.models import CopyTrade, CopyTradeStatus, WalletTrade
from wallets.simulated import outcome_symbol

D = Decimal
pytestmark = pytest.mark.django_db
ADDRESS = "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033ee"


@pytest.fixture(autouse=True)
def _venue(monkeypatch, outcome_paper):
    for target in ("wallets.copying.get_venue", "positions.opening.get_venue", "positions.services.get_venue"):
        monkeypatch.setattr(target, lambda exchange: outcome_paper)


def killed_at(monkeypatch, target: str, copy: CopyTrade, venue) -> None:
    """Run the copy with the worker dying when it reaches `target`; the copy is re-read afterwards."""

    def died(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(target, died)
    with pytest.raises(SystemExit):
        copying.copy_trade_execute(copy_trade_id=copy.pk, venue=venue)
    monkeypatch.undo()
    copy.refresh_from_db()


def copy_all(venue) -> list[str]:
    pending = CopyTrade.objects.filter(status=CopyTradeStatus.PENDING).order_by("pk")
    return [copying.copy_trade_execute(copy_trade_id=c.pk, venue=venue) for c in pending]


@pytest.mark.parametrize("source", ["polymarket", "polymarket_v2", "etherscan"])
def test_a_new_wallet_starts_from_the_present_then_copies_each_new_fill_once(source, sim, chain, watched,
                                                                            outcome_paper):  # fmt: skip
    chain.trade(ADDRESS, side="BUY", size=50.0, price=0.5, at=time.time() - 20)  # history: never copied
    wallet = watched(source=source)
    scanning.wallet_scan(wallet_id=wallet.pk)
    wallet.refresh_from_db()
    assert wallet.cursor
    assert wallet.next_scan_at
    assert not WalletTrade.objects.exists()
    outcome = chain.outcomes[0]
    chain.trade(ADDRESS, outcome=outcome, side="BUY", size=1000.0, price=outcome.price, fills=2)
    found = scanning.wallet_scan(wallet_id=wallet.pk)
    assert found.new_trades == 3  # the history is recorded (the overlap reaches it), not copied
    assert len(found.copies) == 2
    history = CopyTrade.objects.get(wallet_trade__size=50)
    assert history.status == CopyTradeStatus.SKIPPED
    assert "before the wallet was watched" in history.reason
    assert scanning.wallet_scan(wallet_id=wallet.pk).new_trades == 0  # the overlap re-read stores nothing twice
    assert copy_all(outcome_paper) == [CopyTradeStatus.FILLED, CopyTradeStatus.FILLED]
    copies = list(CopyTrade.objects.filter(status=CopyTradeStatus.FILLED).select_related("position"))
    assert len(copies) == 2
    for copy in copies:
        assert copy.position.source == PositionSource.COPY
        assert copy.position.market.symbol == outcome_symbol(outcome.asset)
        assert copy.position.phase == PositionPhase.MONITORING
        assert copy.decision["bound_by"] == "max_position"  # 200 USDC of a 10,000 USDC account at 1% risk
        assert copy.size == copy.position.amount
        assert copy.order.copy_trade_id == copy.pk
    assert copy_all(outcome_paper) == []  # nothing pending: nothing placed again
    wallet.refresh_from_db()
    assert wallet.scan_tier == "active"


def test_a_sell_copies_only_what_we_hold_in_the_proportion_the_wallet_sold(sim, chain, watched, outcome_paper):
    wallet = watched()
    scanning.wallet_scan(wallet_id=wallet.pk)
    outcome = chain.outcomes[0]
    chain.trade(ADDRESS, outcome=outcome, side="BUY", size=400.0, price=outcome.price)
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy_all(outcome_paper)
    position = Position.objects.get()
    held = position.remaining
    chain.trade(ADDRESS, outcome=outcome, side="SELL", size=100.0, price=outcome.price)  # a quarter of theirs
    other = next(o for o in chain.outcomes if o.asset != outcome.asset)
    chain.trade(ADDRESS, outcome=other, side="SELL", size=10.0, price=other.price)  # never bought: nothing to sell
    scanning.wallet_scan(wallet_id=wallet.pk)
    assert copy_all(outcome_paper) == [CopyTradeStatus.FILLED, CopyTradeStatus.SKIPPED]
    position.refresh_from_db()
    sold = held - position.remaining
    assert sold == (held * D("0.25")).quantize(D("0.01"), rounding="ROUND_DOWN")
    skipped = CopyTrade.objects.get(status=CopyTradeStatus.SKIPPED)
    assert "we hold nothing" in skipped.reason
    chain.trade(ADDRESS, outcome=outcome, side="SELL", size=300.0, price=outcome.price)  # the rest of theirs
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy_all(outcome_paper)
    position.refresh_from_db()
    assert position.phase == PositionPhase.CLOSED
    assert position.remaining == 0


def test_a_restart_between_claim_and_order_never_copies_twice(sim, chain, watched, outcome_paper, monkeypatch):
    wallet = watched()
    scanning.wallet_scan(wallet_id=wallet.pk)
    chain.trade(ADDRESS, outcome=chain.outcomes[0], side="BUY", size=300.0, price=chain.outcomes[0].price)
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy = CopyTrade.objects.get()

    killed_at(monkeypatch, "positions.opening.order_place", copy, outcome_paper)
    assert copy.status == CopyTradeStatus.SUBMITTED  # claimed with its position, in one transaction
    assert copying.copy_trade_execute(copy_trade_id=copy.pk, venue=outcome_paper) == CopyTradeStatus.SUBMITTED
    assert Position.objects.count() == 1
    assert not copy.position.orders.exists()


def test_copying_off_or_history_is_recorded_with_the_reason(sim, chain, watched):
    wallet = watched(copy_enabled=False)
    scanning.wallet_scan(wallet_id=wallet.pk)
    chain.trade(ADDRESS, side="BUY", size=30.0, price=0.5)
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy = CopyTrade.objects.get()
    assert copy.status == CopyTradeStatus.SKIPPED
    assert copy.reason == "copying is off for this wallet"


def test_a_failing_source_keeps_the_cursor_and_backs_off(sim, chain, watched):
    wallet = watched(source="etherscan")
    scanning.wallet_scan(wallet_id=wallet.pk)
    wallet.refresh_from_db()
    cursor = wallet.cursor
    sim.faults["etherscan"].extend(["error"])
    outcome = scanning.wallet_scan(wallet_id=wallet.pk)
    assert "Invalid address" in outcome.error
    wallet.refresh_from_db()
    assert wallet.cursor == cursor
    assert wallet.errors_in_a_row == 1
    assert "Invalid address" in wallet.last_error


def test_wallet_management_by_api(api, sim, outcome_paper):
    bad = api.post("/api/wallets/", {"address": "0x6a72f61820b26b1fe4d956e17b6dc2a1ea3033e"}, format="json")
    assert bad.status_code == 400
    assert "40 hex digits" in bad.json()["address"][0]
    no_account = api.post("/api/wallets/", {"address": ADDRESS, "copy_enabled": True}, format="json")
    assert no_account.status_code == 400
    assert "account to copy to" in no_account.json()["copy_exchange"][0]
    created = api.post("/api/wallets/", {"address": ADDRESS, "source": "etherscan", "copy_enabled": True,
                                         "copy_exchange": outcome_paper.exchange.pk}, format="json")  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["address"] == "0x6A72f61820b26b1fe4d956E17B6DC2A1Ea3033EE"  # EIP-55 (vectors in test_addresses)
    checked = api.post(f"/api/wallets/{body['id']}/validate/").json()
    assert checked["ok"] is True
    assert checked["present"].startswith("block:")
    sim.faults["etherscan"].extend(["error"])
    assert "Invalid address" in api.post(f"/api/wallets/{body['id']}/validate/").json()["error"]
    assert api.post(f"/api/wallets/{body['id']}/disable/").json()["enabled"] is False
    assert api.post(f"/api/wallets/{body['id']}/enable/").json()["cursor"] == ""  # starts from the present again
    duplicate = api.post("/api/wallets/", {"address": ADDRESS.upper().replace("0X", "0x")}, format="json")
    assert duplicate.status_code == 400


def test_wallet_actions_need_the_change_permission(viewer, watched):
    from rest_framework.test import APIClient

    wallet = watched()
    client = APIClient()
    client.force_authenticate(viewer)
    for verb in ("validate", "enable", "disable"):
        assert client.post(f"/api/wallets/{wallet.pk}/{verb}/").status_code == 403


def test_a_sell_claimed_then_interrupted_is_resumed_and_placed_once(sim, chain, watched, outcome_paper,
                                                                    monkeypatch):  # fmt: skip
    from orders.models import Order

    wallet = watched()
    scanning.wallet_scan(wallet_id=wallet.pk)
    outcome = chain.outcomes[0]
    chain.trade(ADDRESS, outcome=outcome, side="BUY", size=400.0, price=outcome.price)
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy_all(outcome_paper)
    chain.trade(ADDRESS, outcome=outcome, side="SELL", size=200.0, price=outcome.price)
    scanning.wallet_scan(wallet_id=wallet.pk)
    sell = CopyTrade.objects.get(status=CopyTradeStatus.PENDING)

    killed_at(monkeypatch, "wallets.copying.position_reduce", sell, outcome_paper)
    assert sell.status == CopyTradeStatus.SUBMITTED  # the plan is claimed; nothing sold yet
    assert copying.copy_settle(copy_trade_id=sell.pk) == CopyTradeStatus.SUBMITTED  # waits to be resumed
    for _ in range(2):  # the resume, and a duplicate delivery of it
        copying.copy_trade_execute(copy_trade_id=sell.pk, venue=outcome_paper)
    sell.refresh_from_db()
    assert sell.status == CopyTradeStatus.FILLED
    assert Order.objects.filter(copy_trade=sell).count() == 1
    position = Position.objects.get()
    assert position.amount - position.remaining == D(sell.decision["sells"][str(position.pk)])


def test_a_spent_daily_limit_stops_the_whole_source_until_it_resets(sim, chain, watched):
    from wallets.sources import source_limiter

    first, second = watched(source="etherscan"), watched(address="0x" + "ab" * 20, source="etherscan")
    scanning.wallet_scan(wallet_id=first.pk)
    scanning.wallet_scan(wallet_id=second.pk)
    sim.faults["etherscan"].extend(["daily"])
    assert "daily" in scanning.wallet_scan(wallet_id=first.pk).error
    calls = sum(sim.calls.values())
    outcome = scanning.wallet_scan(wallet_id=second.pk)
    assert "banned" in outcome.error
    assert sum(sim.calls.values()) == calls  # nothing more was asked of the source
    second.refresh_from_db()
    assert (second.next_scan_at.hour, second.next_scan_at.minute) == (0, 0)  # back at the reset, 00:00 UTC
    source_limiter("etherscan").reset()


def test_no_more_than_the_configured_copies_are_placed_at_once():
    from contextlib import ExitStack

    from wallets.slots import SlotsBusy, copy_slot, slots_in_use

    with ExitStack() as held:
        for _ in range(3):
            held.enter_context(copy_slot(limit=3))
        assert slots_in_use() == 3
        with pytest.raises(SlotsBusy), copy_slot(limit=3):
            pass
    assert slots_in_use() == 0
    with copy_slot(limit=1, lease_s=0.05):  # a holder that died: its slot frees itself after the lease
        time.sleep(0.1)
        with copy_slot(limit=1):
            assert slots_in_use() == 1


def test_the_kill_switch_stops_new_copies(sim, chain, watched, outcome_paper):
    from positions.actions import entries_halt

    wallet = watched()
    scanning.wallet_scan(wallet_id=wallet.pk)
    outcome = chain.outcomes[0]
    chain.trade(wallet.address, outcome=outcome, side="BUY", size=1000.0, price=outcome.price, at=time.time())
    entries_halt(exchange=outcome_paper.exchange, halted=True, requested_by="operator")
    scanning.wallet_scan(wallet_id=wallet.pk)
    copy = CopyTrade.objects.get(status=CopyTradeStatus.PENDING)
    assert copying.copy_trade_execute(copy_trade_id=copy.pk, venue=outcome_paper) == CopyTradeStatus.SKIPPED
    copy.refresh_from_db()
    assert "New entries are stopped" in copy.reason
    assert not Position.objects.filter(exchange=outcome_paper.exchange).exists()


def test_a_failing_wallet_or_copy_never_stalls_the_tick(sim, chain, watched, outcome_paper, monkeypatch):
    from wallets import tasks
    from wallets.models import WatchedWallet

    good, bad = watched(), watched(address="0x1111111111111111111111111111111111111111")
    for wallet in (good, bad):
        scanning.wallet_scan(wallet_id=wallet.pk)
    outcome = chain.outcomes[0]
    chain.trade(good.address, outcome=outcome, side="BUY", size=1000.0, price=outcome.price)
    WatchedWallet.objects.update(next_scan_at=None)
    real_scan = scanning.wallet_scan

    def scan(*, wallet_id, **kwargs):
        if wallet_id == bad.pk:
            raise KeyError("proxyWallet")
        return real_scan(wallet_id=wallet_id, **kwargs)

    monkeypatch.setattr(scanning, "wallet_scan", scan)
    result = tasks.tick(among=[bad.pk, good.pk])
    assert result["errors"] == 1
    assert result["new_trades"] == 1  # the good wallet was scanned in the same tick
    bad.refresh_from_db()
    assert "KeyError" in bad.last_error
    assert bad.errors_in_a_row == 1
    assert bad.next_scan_at > timezone.now()

    copies = [CopyTrade.objects.get(status=CopyTradeStatus.PENDING)]
    assert copy_all(outcome_paper) == [CopyTradeStatus.FILLED]
    real_settle = copying.copy_settle
    CopyTrade.objects.filter(pk=copies[0].pk).update(status=CopyTradeStatus.SUBMITTED)

    def settle(*, copy_trade_id):
        raise ZeroDivisionError("bad copy")

    monkeypatch.setattr(copying, "copy_settle", settle)
    assert copying.copies_settle_submitted() == 0
    poisoned = CopyTrade.objects.get(pk=copies[0].pk)
    assert "ZeroDivisionError: bad copy" in poisoned.last_error
    assert poisoned.retry_at > timezone.now()
    monkeypatch.setattr(copying, "copy_settle", real_settle)
    assert copying.copies_settle_submitted() == 0  # backed off: not looked at again yet
