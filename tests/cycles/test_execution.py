"""Cycle execution on the paper venue: legs sized from actual fills, PnL on the ledger, panic sell on failure."""

from decimal import Decimal

from cycles.models import CycleState
from cycles.services import cycle_advance
from liquidation.models import PanicSell, PanicSellState
from orders.models import Order
from tests.conftest import ladder
from tests.cycles.conftest import balances, open_cycle

D = Decimal


def _held(exchange, before) -> dict:
    after = balances(exchange)
    return {a: after.get(a, D(0)) - before.get(a, D(0)) for a in set(after) | set(before)}


def test_a_cycle_runs_its_three_legs_and_its_pnl_is_what_the_ledger_shows(paper, strategy, venue):
    before = balances(paper.exchange)
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "completed"
    cycle.refresh_from_db()
    assert cycle.state == CycleState.COMPLETED
    orders = list(Order.objects.filter(cycle=cycle).order_by("intent"))
    assert [o.intent for o in orders] == [f"c{cycle.pk}-l0", f"c{cycle.pk}-l1", f"c{cycle.pk}-l2"]
    assert all(o.status == "FILLED" for o in orders)
    # Each leg spends what the one before actually delivered (net of fee), floored to its lot.
    btc_got = orders[0].filled - orders[0].fee
    assert orders[1].cost <= btc_got
    # What is left is under one ETH lot (0.001) at the ask plus the 10 bps sizing buffer.
    assert btc_got - orders[1].cost < D("0.001") * D("0.05001") + btc_got * D("0.001")
    eth_got = orders[1].filled - orders[1].fee
    assert orders[2].amount == eth_got.quantize(D("0.00001"), rounding="ROUND_DOWN")
    # Realized PnL is exactly the start asset's change on the venue's ledger; leftovers are the residuals.
    change = _held(paper.exchange, before)
    assert cycle.realized_pnl == change["USDT"]
    assert cycle.end_amount == orders[2].cost - orders[2].fee
    assert D(cycle.residuals.get("BTC", "0")) == change["BTC"]
    assert D(cycle.residuals.get("ETH", "0")) == change["ETH"]
    assert cycle.reservation.consumed_at is not None


def test_a_redelivered_execute_changes_nothing(paper, strategy, venue):
    cycle = open_cycle(strategy)
    cycle_advance(cycle_id=cycle.pk, venue=venue)
    calls = sum(venue.calls.values())
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "done"
    assert sum(venue.calls.values()) == calls
    assert Order.objects.filter(cycle=cycle).count() == 3


def test_a_failed_last_leg_is_liquidated_through_another_route_and_fully_accounted(paper, strategy, books, venue):
    before = balances(paper.exchange)
    # ETHUSDT has no buyers: leg 3 cannot trade, so the ETH goes home through ETHBTC and BTCUSDT.
    books.set_book(ladder("ETHUSDT", "3000.00", "3000.10", "0.50", sizes=()))
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "liquidating"
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "completed"  # the panic sell, as its task would
    cycle.refresh_from_db()
    assert cycle.state == CycleState.LIQUIDATED
    assert "leg 3" in cycle.error
    panic = PanicSell.objects.get(cycle=cycle)
    assert panic.state == PanicSellState.COMPLETED
    assert panic.requested_by == "system"
    assert panic.asset == "ETH"
    assert panic.held_asset == "USDT"
    hops = list(Order.objects.filter(intent__startswith=f"ps{panic.pk}-h").order_by("pk"))
    assert [(o.market.symbol, o.side) for o in hops] == [("ETHBTC", "sell"), ("BTCUSDT", "sell")]
    change = _held(paper.exchange, before)
    assert cycle.realized_pnl == change["USDT"]
    for asset in ("BTC", "ETH"):
        assert D(cycle.residuals.get(asset, "0")) == change[asset], asset


def test_without_enhanced_routing_a_panic_sell_only_sells_straight_into_a_base_currency(paper, strategy, books, venue):
    strategy.panic_use_enhanced_routing = False
    strategy.save(update_fields=["panic_use_enhanced_routing"])
    books.set_book(ladder("ETHUSDT", "3000.00", "3000.10", "0.50", sizes=()))  # no direct buyer for the ETH
    cycle = open_cycle(strategy)
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "liquidating"
    panic = PanicSell.objects.get(cycle=cycle)
    assert panic.max_hops == 1
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "failed"  # ETHBTC then BTCUSDT would take two hops
    panic.refresh_from_db()
    cycle.refresh_from_db()
    assert (panic.state, cycle.state) == (PanicSellState.FAILED, CycleState.FAILED)
    assert panic.held_asset == "ETH"
    assert panic.error
    assert not Order.objects.filter(intent__startswith=f"ps{panic.pk}-h").exists()


def test_a_first_leg_that_cannot_trade_cancels_the_cycle_and_spends_nothing(paper, strategy, venue):
    before = balances(paper.exchange)
    cycle = open_cycle(strategy, amount="5")  # 5 USDT is under BTCUSDT's 10 USDT minimum notional
    assert cycle_advance(cycle_id=cycle.pk, venue=venue) == "canceled"
    cycle.refresh_from_db()
    assert cycle.state == CycleState.CANCELED
    assert "minimum notional" in cycle.error
    assert balances(paper.exchange) == before
    assert not Order.objects.filter(cycle=cycle).exists()


def test_each_leg_reads_one_book_and_leftover_dust_reads_none(paper, strategy, venue):
    cycle = open_cycle(strategy)
    cycle_advance(cycle_id=cycle.pk, venue=venue)
    assert venue.calls["create_order"] == 3
    assert venue.calls["fetch_order_book"] == 3  # one to size each leg; a leg's lot dust is not sized again
