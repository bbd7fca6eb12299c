"""The Polymarket venue (py-clob-client-v2) against the CLOB V2 emulator on 127.0.0.1, which checks every
signature itself: EIP-712 V2 orders for each signature type, L1 key derivation, L2 HMAC headers."""

import io
from decimal import Decimal

import pytest
from eth_account import Account
from eth_utils import keccak

from bench.clob_emulator import ClobEmulator, Token
from exchanges.models import Exchange, ExchangeKind, Market, SignatureType
from exchanges.polymarket import PolymarketVenue, clob_symbol
from exchanges.registry import get_venue
from exchanges.services import markets_sync
from orders.errors import OrderRejected
from orders.models import Fill, Order, OrderPurpose, OrderStatus
from orders.monitoring import order_resolve_unknown
from orders.services import order_place

D = Decimal
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NEG_TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
pytestmark = pytest.mark.django_db(transaction=True)


def key(name: str) -> str:
    return "0x" + keccak(text=name).hex()


OWNER = Account.from_key(key("owner"))
STRANGER = Account.from_key(key("stranger"))
PROXY = "0x" + "ab" * 20


@pytest.fixture
def clob():
    emulator = ClobEmulator(tokens=[Token(TOKEN), Token(NEG_TOKEN, neg_risk=True)], wallets={PROXY: OWNER.address})
    for token in (TOKEN, NEG_TOKEN):
        emulator.add_liquidity(token, "SELL", "0.52", 100)
        emulator.add_liquidity(token, "SELL", "0.53", 100)
        emulator.add_liquidity(token, "BUY", "0.48", 100)
    yield emulator
    emulator.close()


def account(clob, name="pm", *, private_key=None, signature_type=SignatureType.EOA, funder="", pusd=1000):
    private_key = private_key or key("owner")
    exchange = Exchange.objects.create(
        name=name, kind=ExchangeKind.POLYMARKET, rest_url=clob.url, private_key=private_key,
        signature_type=signature_type, funder=funder,
    )  # fmt: skip
    clob.fund(funder or Account.from_key(private_key).address, pusd=pusd)
    venue = PolymarketVenue(exchange)
    markets_sync(exchange=exchange, markets=[venue.market_info(TOKEN), venue.market_info(NEG_TOKEN)])
    return exchange


def place(exchange, symbol=None, *, side="buy", type="limit", amount="10", price="0.50", attempt=1):
    return order_place(
        exchange=exchange, market=Market.objects.get(exchange=exchange, symbol=symbol or clob_symbol(TOKEN)),
        side=side, type=type, amount=D(amount), price=D(price), purpose=OrderPurpose.MANUAL,
        intent=f"test-{symbol or 'yes'}-{side}-{type}", attempt=attempt,
    )  # fmt: skip


def test_sync_markets_lists_the_tokens_with_tick_size_minimum_and_neg_risk(clob):
    exchange = account(clob)
    yes, neg = (Market.objects.get(exchange=exchange, external_id=t) for t in (TOKEN, NEG_TOKEN))
    assert (yes.symbol, yes.quote, yes.price_step, yes.min_amount, yes.neg_risk) == (
        clob_symbol(TOKEN), "PUSD", D("0.01"), D("5"), False
    )  # fmt: skip
    assert neg.neg_risk is True


def test_l1_derives_the_api_key_once_and_stores_it_encrypted(clob):
    exchange = account(clob)
    venue = PolymarketVenue(exchange)
    assert venue.authenticate() is True
    stored = Exchange.objects.get(pk=exchange.pk)
    assert stored.api_key
    assert stored.api_secret
    assert stored.api_password
    assert PolymarketVenue(stored).authenticate() is False  # the stored credentials are used as they are
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT api_secret, private_key FROM exchanges_exchange WHERE id = %s", [exchange.pk])
        secret, private_key = cur.fetchone()
    assert stored.api_secret not in secret
    assert key("owner")[2:] not in private_key


@pytest.mark.parametrize(
    ("signature_type", "funder"),
    [(SignatureType.EOA, ""), (SignatureType.POLY_PROXY, PROXY), (SignatureType.POLY_GNOSIS_SAFE, PROXY),
     (SignatureType.POLY_1271, PROXY)],
)  # fmt: skip
def test_every_signature_type_is_verified_by_the_clob(clob, signature_type, funder):
    exchange = account(clob, signature_type=signature_type, funder=funder)
    order = place(exchange)  # rests below the asks
    assert order.status == OrderStatus.OPEN, order.last_error
    assert order.exchange_order_id == order.signed_order["id"]
    assert clob.orders[order.exchange_order_id].maker == (funder or OWNER.address).lower()
    assert clob.stats["orders_accepted"] == 1
    assert not [k for k in clob.stats if k.startswith("refused")]


def test_a_neg_risk_token_is_signed_for_the_neg_risk_exchange(clob):
    exchange = account(clob)
    order = place(exchange, clob_symbol(NEG_TOKEN))
    assert order.status == OrderStatus.OPEN, order.last_error


def test_a_wrong_exchange_contract_is_refused_with_a_clear_error(clob):
    exchange = account(clob)
    Market.objects.filter(exchange=exchange, external_id=TOKEN).update(neg_risk=True)  # our record is wrong
    with pytest.raises(OrderRejected, match="signed for the other exchange"):
        place(exchange)
    assert Order.objects.get(exchange=exchange).status == OrderStatus.REJECTED
    assert clob.stats["refused_domain"] == 1


def test_a_key_that_does_not_own_the_funder_is_refused(clob):
    exchange = account(clob, private_key=key("stranger"), signature_type=SignatureType.POLY_PROXY, funder=PROXY)
    with pytest.raises(OrderRejected, match="not a wallet the signer owns"):
        place(exchange)
    assert clob.stats["refused_signature_type"] == 1


def test_a_marketable_buy_fills_and_its_trades_are_recorded_exactly(clob):
    exchange = account(clob)
    order = place(exchange, type="market", amount="150", price="0.99")
    assert order.status == OrderStatus.FILLED, order.last_error
    fills = list(Fill.objects.filter(order=order).order_by("price"))
    assert [(f.price, f.amount) for f in fills] == [(D("0.52"), D("100")), (D("0.53"), D("50"))]
    assert order.cost == D("78.5")
    assert order.filled == D("150")
    balances = get_venue(exchange).fetch_balance()
    assert balances["PUSD"].total == D("921.5")
    assert balances[clob_symbol(TOKEN)[:-4]].total == D("150")


def test_a_lost_answer_is_resolved_by_the_order_hash_without_a_second_post(clob):
    exchange = account(clob)
    clob.lose_answers = 1.0
    order = place(exchange, type="ioc", amount="20", price="0.52")
    assert order.status == OrderStatus.UNKNOWN
    clob.lose_answers = 0.0
    from django.utils import timezone

    order = order_resolve_unknown(order=order, venue=get_venue(exchange), now=timezone.now())
    assert order.status == OrderStatus.FILLED
    assert order.filled == D("20")
    assert clob.posts[order.exchange_order_id] == 1
    assert clob.stats["duplicate_posts"] == 0
    again = place(exchange, type="ioc", amount="20", price="0.52")  # the same attempt: nothing is posted again
    assert again.pk == order.pk
    assert clob.posts[order.exchange_order_id] == 1


def test_a_resting_order_is_listed_and_canceled(clob):
    exchange = account(clob)
    order = place(exchange)
    venue = get_venue(exchange)
    assert [o.id for o in venue.fetch_open_orders()] == [order.exchange_order_id]
    assert venue.fetch_balance()["PUSD"].locked == D("5")  # 10 shares at 0.50 held by the open buy
    answer = venue.cancel_order(symbol=order.market.symbol, order_id=order.exchange_order_id)
    assert answer.status == "CANCELED"
    assert venue.fetch_open_orders() == []


def test_an_order_off_the_tick_or_under_the_minimum_is_refused_before_it_is_sent(clob):
    exchange = account(clob)
    with pytest.raises(OrderRejected, match="tick size"):
        place(exchange, price="0.995")
    with pytest.raises(OrderRejected, match="minimum"):
        place(exchange, amount="2", attempt=2)
    assert clob.stats["orders_accepted"] == 0


def test_sync_markets_lists_the_tokens_the_copied_wallets_trade(clob):
    from django.core.management import call_command
    from django.utils import timezone

    from tests.factories import WalletTradeFactory, WatchedWalletFactory

    exchange = Exchange.objects.create(name="pm-sync", kind=ExchangeKind.POLYMARKET, rest_url=clob.url,
                                       private_key=key("owner"))  # fmt: skip
    wallet = WatchedWalletFactory(copy_exchange=exchange, copy_enabled=True)
    WalletTradeFactory(wallet=wallet, asset=NEG_TOKEN, traded_at=timezone.now())
    WalletTradeFactory(wallet=wallet, asset="9" * 70, traded_at=timezone.now())  # no book: a resolved market
    call_command("sync_markets", "pm-sync", stdout=io.StringIO())
    assert list(Market.objects.filter(exchange=exchange).values_list("external_id", "neg_risk")) == [(NEG_TOKEN, True)]


def test_a_resolved_market_closes_its_positions_at_the_payout_and_its_orders_are_canceled(clob):
    from positions.models import Position, PositionPhase
    from positions.resolution import positions_settle_resolved
    from tests.factories import PositionFactory

    exchange = account(clob)
    bought = place(exchange, type="market", amount="20", price="0.99")
    market = bought.market
    position = PositionFactory(exchange=exchange, market=market, phase=PositionPhase.MONITORING, amount=D("20"),
                               remaining=D("20"), entry_price=D("0.52"), cost_basis=D("0.52"),
                               stop_loss=D("0.30"))  # fmt: skip
    resting = order_place(exchange=exchange, market=market, side="sell", type="limit", amount=D("20"),
                          price=D("0.90"), purpose=OrderPurpose.POSITION, role="reduce",
                          intent=f"p{position.pk}-reduce-1", attempt=1, position=position)  # fmt: skip
    assert resting.status == OrderStatus.OPEN
    assert positions_settle_resolved(venue_for=get_venue) == {"open": 1}

    clob.resolve("0x" + "00" * 32, TOKEN)
    assert positions_settle_resolved(venue_for=get_venue) == {"settled": 1}
    position = Position.objects.get(pk=position.pk)
    resting.refresh_from_db()
    assert resting.status == OrderStatus.CANCELED  # the CLOB canceled it at resolution (CANCELED_MARKET_RESOLVED)
    assert (position.phase, position.remaining, position.realized_pnl) == (PositionPhase.CLOSED, 0, D("9.6"))
    event = position.events.get(kind="market_resolved").payload
    assert (event["outcome"], event["payout"], event["redeemed"]) == ("Yes", "1", False)
    assert "on-chain" in event["why"]
    market.refresh_from_db()
    assert (market.active, market.payout, market.resolved_outcome) == (False, D(1), "Yes")
    assert positions_settle_resolved(venue_for=get_venue) == {}
