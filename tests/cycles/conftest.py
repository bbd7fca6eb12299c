import pytest

from cycles.models import Strategy
from cycles.reservations import cycle_reserve
from cycles.services import PlannedLeg, cycle_create
from exchanges.models import Market, PaperBalance


@pytest.fixture
def strategy(paper):
    return Strategy.objects.create(
        name="tri-test", exchange=paper.exchange, start_asset="USDT", trade_amount=1000, max_open_cycles=3,
        panic_base_currencies=["USDT"], panic_preferred_intermediaries=["BTC"],
    )  # fmt: skip


def balances(exchange) -> dict:
    return {b.asset: b.free + b.locked for b in PaperBalance.objects.filter(exchange=exchange)}


def open_cycle(strategy, path=(("BTCUSDT", "buy"), ("ETHBTC", "buy"), ("ETHUSDT", "sell")), amount="1000"):
    """USDT -> BTC -> ETH -> USDT by default; on_commit scheduling is left to the caller."""
    from decimal import Decimal

    reservation = cycle_reserve(strategy_id=strategy.pk)
    legs = [
        PlannedLeg(Market.objects.get(exchange=strategy.exchange, symbol=s).pk, side, Decimal("1")) for s, side in path
    ]
    return cycle_create(
        reservation_id=reservation.pk, legs=legs, start_amount=Decimal(amount), expected_net_rate=Decimal("1.001")
    )
