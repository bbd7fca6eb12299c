"""Every invariant is held by PostgreSQL itself, not only by the services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone

from orders.models import Fill, Order, OrderStatus
from tests import factories as f
from wallets.models import CopyTrade

pytestmark = pytest.mark.django_db


def violation(make):
    """Run `make` in a savepoint and return the constraint PostgreSQL named."""
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        make()
    return getattr(getattr(info.value.__cause__, "diag", None), "constraint_name", None) or str(info.value)


def test_reused_client_order_id_refused():
    order = f.OrderFactory()
    name = violation(
        lambda: f.OrderFactory(exchange=order.exchange, intent="other", client_order_id=order.client_order_id)
    )
    assert name == "order_unique_client_id"


def test_same_client_order_id_on_another_exchange_allowed():
    order = f.OrderFactory()
    f.OrderFactory(client_order_id=order.client_order_id)


def test_exchange_order_id_unique_per_exchange():
    first = f.OrderFactory(exchange_order_id="123")
    assert violation(lambda: f.OrderFactory(exchange=first.exchange, exchange_order_id="123")) == (
        "order_unique_exchange_id"
    )
    # Orders not yet acknowledged (NULL id) never collide.
    f.OrderFactory(exchange=first.exchange)
    f.OrderFactory(exchange=first.exchange)


def test_two_live_orders_for_one_intent_refused():
    order = f.OrderFactory(intent="c1.l0", status=OrderStatus.OPEN)
    name = violation(
        lambda: f.OrderFactory(exchange=order.exchange, intent="c1.l0", attempt=2, status=OrderStatus.PENDING_SUBMIT)
    )
    assert name == "order_one_live_per_intent"


def test_new_attempt_allowed_once_previous_is_terminal():
    order = f.OrderFactory(intent="c1.l0", status=OrderStatus.REJECTED)
    again = f.OrderFactory(exchange=order.exchange, intent="c1.l0", attempt=2, status=OrderStatus.PENDING_SUBMIT)
    assert again.client_order_id != order.client_order_id


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"amount": Decimal("-1")}, "order_amount_positive"),
        ({"amount": Decimal("0")}, "order_amount_positive"),
        ({"filled": Decimal("2")}, "order_filled_within_amount"),
        ({"filled": Decimal("-0.1")}, "order_filled_within_amount"),
        ({"type": "limit", "price": None}, "order_limit_needs_price"),
        ({"type": "limit", "price": Decimal("-5")}, "order_price_positive"),
        ({"cost": Decimal("-0.01")}, "order_cost_not_negative"),
        ({"purpose": "cycle"}, "order_purpose_has_owner"),
        ({"attempt": 0}, "order_attempt_from_one"),
    ],
)
def test_invalid_order_rows_refused(fields, constraint):
    assert violation(lambda: f.OrderFactory(**fields)) == constraint


def test_fill_recorded_twice_refused():
    fill = f.FillFactory()
    name = violation(lambda: f.FillFactory(order=fill.order, trade_id=fill.trade_id))
    assert name == "fill_unique_trade_id"


def test_fills_are_append_only():
    fill = f.FillFactory()
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        Fill.objects.filter(pk=fill.pk).update(amount=Decimal("9"))
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        Fill.objects.filter(pk=fill.pk).delete()
    fill.refresh_from_db()
    assert fill.amount == Decimal("0.5")


def test_negative_fill_refused():
    assert violation(lambda: f.FillFactory(amount=Decimal("-1"))) == "fill_values_valid"


def test_a_maker_rebate_is_stored_as_a_negative_fee():
    fill = f.FillFactory(fee=Decimal("-0.0001"), fee_asset="USDT")
    fill.refresh_from_db()
    assert fill.fee == Decimal("-0.0001")


def test_consumed_reservation_cannot_serve_a_second_cycle():
    reservation = f.ReservationFactory(consumed_at=timezone.now())
    f.CycleFactory(strategy=reservation.strategy, reservation=reservation)
    name = violation(lambda: f.CycleFactory(strategy=reservation.strategy, reservation=reservation))
    assert name == "cycles_cycle_reservation_id_key"


def test_reservation_must_expire_after_creation():
    strategy = f.StrategyFactory()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO cycles_reservation (strategy_id, created_at, expires_at) VALUES (%s, %s, %s)",
            [strategy.pk, timezone.now(), timezone.now() - timedelta(seconds=1)],
        )


@pytest.mark.parametrize(
    ("factory", "fields", "constraint"),
    [
        (f.StrategyFactory, {"trade_amount": Decimal("-100")}, "strategy_trade_amount_positive"),
        (f.StrategyFactory, {"max_open_cycles": 0}, "strategy_max_open_cycles_min_1"),
        (f.StrategyFactory, {"panic_max_hops": 9}, "strategy_max_hops_1_to_6"),
        (f.StrategyFactory, {"monitor_initial_delay_ms": 9000}, "strategy_monitor_delays_ordered"),
        (f.CycleFactory, {"start_amount": Decimal("0")}, "cycle_start_amount_positive"),
        (f.CycleFactory, {"held_amount": Decimal("-1")}, "cycle_held_amount_not_negative"),
        (f.CycleLegFactory, {"index": 3}, "cycle_leg_index_0_to_2"),
        (f.PositionFactory, {"amount": Decimal("-1")}, "position_amount_positive"),
        (f.PositionFactory, {"remaining": Decimal("2")}, "position_remaining_within_amount"),
        (f.PositionFactory, {"stop_loss": Decimal("0")}, "position_stop_loss_positive"),
        (
            f.PositionFactory,
            {"phase": "CLOSED", "next_check_at": timezone.now()},
            "position_closed_not_scheduled",
        ),
        (f.TakeProfitLevelFactory, {"fraction": Decimal("1.5")}, "tp_fraction_0_to_1"),
        (f.TakeProfitLevelFactory, {"fraction": Decimal("0")}, "tp_fraction_0_to_1"),
        (f.PositionEventFactory, {"kind": "tp_hit", "critical": False}, "position_event_critical_matches_kind"),
        (f.PositionEventFactory, {"kind": "position_update", "critical": True}, "position_event_critical_matches_kind"),
        (f.MarketFactory, {"price_step": Decimal("0")}, "market_price_step_positive"),
        (f.MarketFactory, {"base": "USDT", "quote": "USDT"}, "market_base_differs_from_quote"),
        (f.ExchangeFactory, {"role": "mirror"}, "exchange_mirror_of_matches_role"),
        (f.ExchangeFactory, {"kind": "ccxt", "ccxt_id": ""}, "exchange_ccxt_needs_id"),
        (f.ExchangeFactory, {"mirror_ratio": Decimal("0")}, "exchange_mirror_ratio_positive"),
        (f.WatchedWalletFactory, {"address": "0x123"}, "wallet_address_format"),
        (f.WatchedWalletFactory, {"risk_pct": Decimal("0")}, "wallet_risk_pct_range"),
        (f.WalletTradeFactory, {"size": Decimal("0")}, "wallet_trade_values_valid"),
        (f.CopyTradeFactory, {"status": "SKIPPED", "reason": ""}, "copy_trade_skip_has_reason"),
    ],
)
def test_invalid_rows_refused(factory, fields, constraint):
    assert violation(lambda: factory(**fields)) == constraint


def test_duplicate_rows_refused():
    market = f.MarketFactory()
    assert violation(lambda: f.MarketFactory(exchange=market.exchange, symbol=market.symbol)) == "market_unique_symbol"
    leg = f.CycleLegFactory()
    assert violation(lambda: f.CycleLegFactory(cycle=leg.cycle, index=0)) == "cycle_leg_unique_index"
    level = f.TakeProfitLevelFactory()
    assert violation(lambda: f.TakeProfitLevelFactory(position=level.position, index=0)) == "tp_unique_index"
    wallet = f.WatchedWalletFactory()
    assert violation(lambda: f.WatchedWalletFactory(address=wallet.address)) == "wallet_unique_chain_address"
    trade = f.WalletTradeFactory()
    assert "dedup_key" in violation(lambda: f.WalletTradeFactory(dedup_key=trade.dedup_key))


def test_one_copy_per_wallet_trade():
    copy = f.CopyTradeFactory()
    assert "wallet_trade_id" in violation(lambda: CopyTrade.objects.create(wallet_trade=copy.wallet_trade))


def test_one_transaction_may_carry_several_fills():
    trade = f.WalletTradeFactory()
    f.WalletTradeFactory(wallet=trade.wallet, tx_hash=trade.tx_hash, dedup_key=f"{trade.tx_hash}:1")
    assert trade.wallet.trades.filter(tx_hash=trade.tx_hash).count() == 2


def test_orders_keep_money_as_exact_decimals():
    order = f.OrderFactory(amount=Decimal("0.123456789012345678"), type="limit", price=Decimal("12345.6789"))
    order.refresh_from_db()
    assert order.amount == Decimal("0.123456789012345678")
    assert Order.objects.filter(amount=Decimal("0.123456789012345678")).exists()
