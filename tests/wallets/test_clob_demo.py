"""The copy demo on the CLOB V2 emulator: a watched wallet's buy is copied on a `polymarket` account, signed, posted
and filled through PolymarketVenue and the official SDK, the emulator checking every signature; its sell reduces
our position there too."""

from decimal import Decimal

import pytest

from orders.models import Order, OrderStatus
from positions.models import Position
from positions.services import position_check
from tests.factories import CopyTradeFactory, WalletTradeFactory, WatchedWalletFactory
from wallets.clob_demo import ClobDemo, clob_account
from wallets.copying import copy_trade_execute
from wallets.models import CopyTradeStatus
from wallets.simulated import Outcome, SimulatedChain

D = Decimal
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
CONDITION = "0x" + "ab" * 32
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo():
    chain = SimulatedChain([Outcome(YES, CONDITION, "Will it rain?", "rain", "weather", "Yes", 0, 0.42),
                            Outcome(NO, CONDITION, "Will it rain?", "rain", "weather", "No", 1, 0.58)])  # fmt: skip
    account, created = clob_account("http://127.0.0.1:1")
    assert created
    clob = ClobDemo(chain, account, port=0, pusd=D("5000"))
    assert clob.sync_markets() == 2
    yield chain, account, clob
    clob.close()


def test_a_copied_buy_and_sell_trade_on_the_emulator_through_the_real_venue(demo):
    chain, account, clob = demo
    wallet = WatchedWalletFactory(copy_exchange=account, copy_enabled=True, risk_pct=D(1), stop_loss_pct=D(10),
                                  max_position_size=D(100),
                                  take_profit_ladder=[{"pct": 50, "fraction": 1}])  # fmt: skip
    (fill,) = chain.trade(wallet.address, outcome=chain.outcomes[0], side="BUY", size=200, price=0.42)
    buy = CopyTradeFactory(wallet_trade=WalletTradeFactory(wallet=wallet, asset=YES, market=CONDITION, side="buy",
                                                           price=fill.price, size=fill.size))  # fmt: skip
    assert copy_trade_execute(copy_trade_id=buy.pk) == CopyTradeStatus.FILLED
    position = Position.objects.get(copies=buy)
    entry = Order.objects.get(position=position, intent=f"p{position.pk}-entry")
    assert entry.status == OrderStatus.FILLED
    assert entry.exchange_order_id.startswith("0x")  # the signed order's EIP-712 hash, recorded before posting
    assert entry.signed_order["order"]["signatureType"] == 0
    assert clob.emulator.stats["orders_accepted"] >= 1
    assert not [k for k in clob.emulator.stats if k.startswith("refused_")]
    position_check(position_id=position.pk)
    position.refresh_from_db()
    assert position.remaining > 0
    assert position.entry_price == D("0.43")  # the market maker's ask, one tick over the chain's last price
    sell = CopyTradeFactory(wallet_trade=WalletTradeFactory(wallet=wallet, asset=YES, market=CONDITION, side="sell",
                                                            price=D("0.42"), size=D("200")))  # fmt: skip
    assert copy_trade_execute(copy_trade_id=sell.pk) == CopyTradeStatus.FILLED
    reduce = Order.objects.get(position=position, copy_trade=sell)
    assert (reduce.side, reduce.status, reduce.filled) == ("sell", OrderStatus.FILLED, position.remaining)
    assert clob.emulator.posts[reduce.exchange_order_id] == 1
