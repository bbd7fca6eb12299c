"""factory_boy factories for every model (valid rows by default)."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from cycles.models import Cycle, CycleLeg, Reservation, Strategy
from exchanges.models import Exchange, Market
from orders.models import Fill, Order, OrderPurpose, OrderRole
from positions.models import Position, PositionEvent, TakeProfitLevel
from wallets.models import CopyTrade, WalletTrade, WatchedWallet


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class ExchangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exchange

    name = factory.Sequence(lambda n: f"paper-{n}")


class MarketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Market

    exchange = factory.SubFactory(ExchangeFactory)
    base = factory.Sequence(lambda n: f"C{n}")
    quote = "USDT"
    symbol = factory.LazyAttribute(lambda m: f"{m.base}{m.quote}")
    price_step = Decimal("0.01")
    amount_step = Decimal("0.0001")
    min_amount = Decimal("0.0001")
    min_notional = Decimal("10")


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    name = factory.Sequence(lambda n: f"strategy-{n}")
    exchange = factory.SubFactory(ExchangeFactory)
    trade_amount = Decimal("100")
    panic_base_currencies = ["USDT", "USDC"]


class ReservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reservation

    strategy = factory.SubFactory(StrategyFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=30))


class CycleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cycle

    strategy = factory.SubFactory(StrategyFactory)
    expected_net_rate = Decimal("1.002")
    start_asset = "USDT"
    start_amount = Decimal("100")


class CycleLegFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CycleLeg

    cycle = factory.SubFactory(CycleFactory)
    index = 0
    market = factory.SubFactory(MarketFactory, exchange=factory.SelfAttribute("..cycle.strategy.exchange"))
    side = "buy"
    expected_price = Decimal("100")


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    exchange = factory.SubFactory(ExchangeFactory)
    market = factory.SubFactory(MarketFactory, exchange=factory.SelfAttribute("..exchange"))
    purpose = OrderPurpose.MANUAL
    role = OrderRole.MANUAL
    intent = factory.Sequence(lambda n: f"m{n}")
    attempt = 1
    client_order_id = factory.LazyAttribute(lambda o: f"ts-{o.intent}-a{o.attempt}")
    side = "buy"
    type = "market"
    amount = Decimal("1")


class FillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fill

    order = factory.SubFactory(OrderFactory)
    exchange = factory.SelfAttribute("order.exchange")
    trade_id = factory.Sequence(lambda n: f"t{n}")
    price = Decimal("100")
    amount = Decimal("0.5")
    cost = Decimal("50")
    executed_at = factory.LazyFunction(timezone.now)


class PositionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Position

    exchange = factory.SubFactory(ExchangeFactory)
    market = factory.SubFactory(MarketFactory, exchange=factory.SelfAttribute("..exchange"))
    amount = Decimal("1")
    remaining = Decimal("1")


class TakeProfitLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TakeProfitLevel

    position = factory.SubFactory(PositionFactory)
    index = 0
    price = Decimal("110")
    fraction = Decimal("0.5")


class PositionEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PositionEvent

    position = factory.SubFactory(PositionFactory)
    kind = "position_update"
    critical = False
    created_at = factory.LazyFunction(timezone.now)


class WatchedWalletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WatchedWallet

    address = factory.Sequence(lambda n: "0x" + f"{n:040x}")
    label = factory.Sequence(lambda n: f"wallet {n}")


class WalletTradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WalletTrade

    wallet = factory.SubFactory(WatchedWalletFactory)
    tx_hash = factory.Sequence(lambda n: "0x" + f"{n:064x}")
    dedup_key = factory.LazyAttribute(lambda t: f"{t.tx_hash}:0")
    traded_at = factory.LazyFunction(timezone.now)
    market = "0xcondition"
    asset = "12345"
    side = "buy"
    price = Decimal("0.42")
    size = Decimal("100")


class CopyTradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CopyTrade

    wallet_trade = factory.SubFactory(WalletTradeFactory)
