"""ccxt answers are validated at the edge: a missing key or a bad number is a VenueError naming it."""

import re

import pytest

from exchanges.ccxt_venue import CcxtVenue
from exchanges.errors import VenueError
from exchanges.models import Exchange

pytestmark = pytest.mark.django_db


class Client:
    markets = {"BTC/USDT": {"id": "BTCUSDT", "symbol": "BTC/USDT"}}
    markets_by_id = {"BTCUSDT": [{"symbol": "BTC/USDT"}]}

    def __init__(self, trades=(), order=None, tickers=None):
        self.trades, self.order, self.tickers = list(trades), order, tickers or {}

    def fetch_my_trades(self, symbol, since):
        return self.trades

    def fetch_order(self, order_id, symbol, params=None):
        return self.order

    def fetch_tickers(self):
        return self.tickers


def trade(**changes):
    row = {"id": "t1", "order": "o1", "symbol": "BTC/USDT", "side": "buy", "price": 60000.0, "amount": 0.01,
           "cost": 600.0, "fee": {"cost": 0.6, "currency": "USDT"}, "takerOrMaker": "taker",
           "timestamp": 1}  # fmt: skip
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


@pytest.fixture
def venue_with():
    exchange = Exchange.objects.create(name="cx-val", kind="ccxt", ccxt_id="binance")
    return lambda **kw: CcxtVenue(exchange, client=Client(**kw))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (trade(id=...), "the answer has no 'id'"),
        (trade(price=...), "'price' is missing"),
        (trade(price=float("nan")), "price is not finite"),
        (trade(amount=-1), "amount must be above zero"),
        (trade(cost=-5), "cost must not be negative"),
        (trade(side="short"), "side is 'short'"),
        (trade(symbol=...), "the answer has no 'symbol'"),
    ],
)
def test_a_bad_trade_is_a_venue_error_naming_the_field(venue_with, row, message):
    with pytest.raises(VenueError, match=re.escape(message)):
        venue_with(trades=[row]).fetch_my_trades(symbol="BTCUSDT")


def test_a_maker_rebate_is_a_negative_fee(venue_with):
    (fill,) = venue_with(trades=[trade(fee={"cost": -0.06, "currency": "USDT"}, takerOrMaker="maker")]).fetch_my_trades(
        symbol="BTCUSDT"
    )
    assert str(fill.fee) == "-0.06"
    assert fill.is_maker


def test_an_order_without_an_id_is_a_venue_error(venue_with):
    with pytest.raises(VenueError, match="the answer has no 'id'"):
        venue_with(order={"status": "open", "side": "buy", "type": "limit"}).fetch_order(symbol="BTCUSDT", order_id="1")


def test_one_bad_ticker_is_left_out_and_the_others_priced(venue_with):
    Client.markets["ETH/USDT"] = {"id": "ETHUSDT", "symbol": "ETH/USDT"}
    try:
        tickers = venue_with(tickers={
            "BTC/USDT": {"bid": 60000.0, "ask": 60000.1, "timestamp": 1},
            "ETH/USDT": {"bid": float("nan"), "ask": 3000.0, "timestamp": 1},
        }).fetch_tickers()  # fmt: skip
    finally:
        del Client.markets["ETH/USDT"]
    assert list(tickers) == ["BTCUSDT"]


def test_an_exchange_id_that_ccxt_does_not_have_is_refused():
    exchange = Exchange(name="cx-bad", kind="ccxt", ccxt_id="Exchange")  # a ccxt attribute, not an exchange
    with pytest.raises(VenueError, match="ccxt has no exchange 'Exchange'"):
        CcxtVenue(exchange)


def test_the_fills_of_an_order_answer_take_its_side_symbol_and_id():
    """Binance's FULL order answer lists `fills` without side, symbol or order id; ccxt leaves them out."""
    from exchanges.ccxt_venue import ccxt_order

    answer = {"id": "7", "clientOrderId": "c-1", "symbol": "BTC/USDT", "side": "buy", "type": "market",
              "status": "closed", "amount": 0.01, "filled": 0.01, "cost": 600.0,
              "trades": [{"id": "50001", "price": 60000.0, "amount": 0.01, "cost": 600.0,
                          "fee": {"cost": 0.00001, "currency": "BTC"}, "side": None, "symbol": None}]}  # fmt: skip
    order = ccxt_order(answer, "BTCUSDT", lambda unified: unified.replace("/", ""))
    (fill,) = order.trades
    assert (fill.side, fill.symbol, fill.order_id, fill.id) == ("buy", "BTCUSDT", "7", "50001")
