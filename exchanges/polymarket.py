"""Polymarket's CLOB V2 behind the Venue interface, on the official SDK (py-clob-client-v2).

What the venue is, from its documentation (docs.polymarket.com: v2-migration, resources/contracts, the CLOB
OpenAPI spec) and the SDK it publishes:

- Orders are EIP-712 messages on the domain "Polymarket CTF Exchange", version "2", chain 137, whose verifying
  contract is the CTF Exchange V2 (0xE111180000d2663C0091e4f400237545B87B996B) or, for a neg-risk market, the Neg
  Risk CTF Exchange V2 (0xe2222d279d744050d28e00520010520000310F59). The struct is (salt, maker, signer, tokenId,
  makerAmount, takerAmount, side, signatureType, timestamp, metadata, builder): no nonce, fee rate or taker; fees
  are set at match time. V1-signed orders are refused since 2026-04-28.
- The collateral is pUSD (ERC-20, 6 decimals); outcome tokens have 6 decimals too. Markets are quoted in pUSD.
- L1 authentication (an EIP-712 `ClobAuth` signature in the POLY_ADDRESS / POLY_SIGNATURE / POLY_TIMESTAMP /
  POLY_NONCE headers) creates or derives the API key; L2 (POLY_API_KEY, POLY_PASSPHRASE and an HMAC-SHA256 of
  timestamp + method + path + body under the API secret) signs every trading request.
- There is no client order id. An order's id is its EIP-712 hash, known once it is signed: `prepare_order` signs
  it, the order row keeps the signed order and the hash before anything is posted, a retry posts the same signed
  order and an answer lost in transit is looked up by that hash (orders.services, orders.monitoring).

Our types map onto its time-in-force: limit = GTC, ioc = FAK (fill and kill), market = FAK at the worst price
the visible book needs for the amount (Polymarket's market orders are such limit orders; its own market-order
builder takes a buy's size in dollars, ours are in shares).
"""

import json
import logging
import threading
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from core.limiter import DEFAULT_WEIGHTS

from .errors import (
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    VenueError,
    VenueUnavailable,
)
from .models import Exchange, Market
from .polymarket_holdings import COLLATERAL, HoldingsMixin, _d
from .rules import check_order
from .types import MarketInfo, OrderBook, Ticker, VenueOrder, VenueTrade
from .venue import Venue

log = logging.getLogger(__name__)

CLOB_HOST = "https://clob.polymarket.com"
POLYGON_CHAIN_ID = 137
ORDER_VERSION = 2  # CTF Exchange V2; the SDK would ask GET /version, we sign what we checked
WEIGHTS = dict.fromkeys(DEFAULT_WEIGHTS, 1)  # Polymarket limits requests per endpoint, not by weight
# GET /data/order statuses (the API has answered both "LIVE" and "ORDER_STATUS_LIVE").
STATUS = {"LIVE": "OPEN", "MATCHED": "FILLED", "CANCELED": "CANCELED", "CANCELED_MARKET_RESOLVED": "CANCELED",
          "INVALID": "REJECTED", "UNMATCHED": "EXPIRED", "DELAYED": "OPEN"}  # fmt: skip
TIME_IN_FORCE = {"limit": "GTC", "ioc": "FAK", "market": "FAK"}


def clob_symbol(token_id: str) -> str:
    """Our symbol for an outcome token: the last 12 digits of its id, quoted in pUSD (PM123456789012PUSD)."""
    return f"PM{token_id[-12:]}{COLLATERAL}"


class PolymarketVenue(HoldingsMixin, Venue):
    def __init__(self, exchange: Exchange, *, client=None) -> None:
        self.exchange = exchange
        self.name = exchange.name
        self._markets: dict[str, Market] = {}
        self._conditions: dict[str, str] = {}  # token id -> condition id
        self._lock = threading.Lock()
        self.client = client or self._client(exchange)

    # --- the SDK client, authenticated -------------------------------------------------------
    @staticmethod
    def _client(exchange: Exchange):
        from py_clob_client_v2.client import ClobClient
        from py_clob_client_v2.clob_types import ApiCreds

        if not exchange.private_key:
            raise VenueError(f"{exchange.name}: a Polymarket account needs its private key (it signs every order).")
        creds = None
        if exchange.api_key and exchange.api_secret and exchange.api_password:
            creds = ApiCreds(exchange.api_key, exchange.api_secret, exchange.api_password)
        try:
            client = ClobClient(
                (exchange.rest_url or CLOB_HOST).rstrip("/"), POLYGON_CHAIN_ID, key=exchange.private_key, creds=creds,
                signature_type=int(exchange.signature_type), funder=exchange.funder or None,
            )  # fmt: skip
        except ValueError as exc:  # a key that is not one
            raise VenueError(f"{exchange.name}: the private key is not a valid secp256k1 key ({exc}).") from None
        return client

    def authenticate(self) -> bool:
        """L2 credentials: the stored ones, else created or derived by L1 (EIP-712) and stored, encrypted, on the
        account. True when they were derived now."""
        if self.client.creds is not None:
            return False
        creds = self._call(self.client.create_or_derive_api_key)
        self.exchange.api_key, self.exchange.api_secret = creds.api_key, creds.api_secret
        self.exchange.api_password = creds.api_passphrase
        self.exchange.save(update_fields=["api_key", "api_secret", "api_password", "updated_at"])
        self.client.set_api_creds(creds)
        return True

    def _l2(self) -> None:
        if self.client.creds is None:
            self.authenticate()

    def request_weight(self, endpoint: str) -> int:
        return 1

    # --- errors ------------------------------------------------------------------------------
    def _call(self, method, *args, **kwargs):
        from py_clob_client_v2.exceptions import PolyApiException, PolyException

        try:
            return method(*args, **kwargs)
        except PolyApiException as exc:
            raise self._error(exc.status_code, exc.error_msg) from None
        except PolyException as exc:  # refused before sending (price off the tick, no credentials)
            raise InvalidOrder(f"{self.name}: {exc.msg}", rule="polymarket") from None

    def _error(self, status: int | None, body) -> VenueError:
        message = body.get("error") or body.get("errorMsg") or body if isinstance(body, dict) else body
        text = f"{self.name}: {message}" if status is None else f"{self.name}: HTTP {status}: {message}"
        lowered = str(message).lower()
        if status is None:
            return RequestTimeout(f"{self.name}: no answer ({message}); the outcome is unknown")
        if status == 429:
            return RateLimited(text, retry_after=1.0)
        if status >= 500:
            return VenueUnavailable(text)
        if status == 404 or "not found" in lowered:
            return OrderNotFound(text)
        if "balance" in lowered or "allowance" in lowered:
            return InsufficientFunds(text)
        if status in (400, 401, 403):
            return InvalidOrder(text, rule="auth" if status in (401, 403) else "polymarket")
        return VenueError(text)

    # --- markets -----------------------------------------------------------------------------
    def _market(self, symbol: str) -> Market:
        with self._lock:
            market = self._markets.get(symbol)
            if market is None:
                self._markets = {
                    m.symbol: m for m in Market.objects.filter(exchange=self.exchange).exclude(external_id="")
                }
                market = self._markets.get(symbol)
        if market is None:
            raise InvalidOrder(
                f"{self.name}: no outcome market {symbol} (run sync_markets for its token).", rule="symbol"
            )
        return market

    def market_info(self, token_id: str) -> MarketInfo | None:
        """One outcome token as a market, from its book (tick size, minimum size, neg-risk flag); None when the
        CLOB has no book for it (a resolved or unknown market)."""
        try:
            book = self._call(self.client.get_order_book, token_id)
        except OrderNotFound:
            return None
        symbol = clob_symbol(token_id)
        tick = _d(book.get("tick_size") or "0.01", "tick size")
        minimum = _d(book.get("min_order_size") or "5", "minimum size")
        return MarketInfo(
            symbol, symbol[: -len(COLLATERAL)], COLLATERAL, tick, Decimal("0.01"), minimum, Decimal(0), Decimal(0),
            Decimal(0), external_id=token_id, neg_risk=bool(book.get("neg_risk")),
        )  # fmt: skip

    def load_markets(self) -> list[MarketInfo]:
        """The outcome markets this account follows (its markets, and the tokens `exchanges.wanted_tokens` adds:
        those its watched wallets trade), as the CLOB lists them now."""
        from .services import wanted_tokens

        tokens = set(
            Market.objects.filter(exchange=self.exchange).exclude(external_id="").values_list("external_id", flat=True)
        )
        tokens |= wanted_tokens(self.exchange)
        return [info for token in sorted(tokens) if (info := self.market_info(token)) is not None]

    def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        market = self._market(symbol)
        book = self._call(self.client.get_order_book, market.external_id)
        return self._book(symbol, book, depth)

    @staticmethod
    def _book(symbol: str, book: dict, depth: int) -> OrderBook:
        levels = [(_d(x["price"], "book"), _d(x["size"], "book")) for x in book.get("bids") or ()]
        asks = [(_d(x["price"], "book"), _d(x["size"], "book")) for x in book.get("asks") or ()]
        ts = int(book.get("timestamp") or 0)
        return OrderBook(symbol, tuple(sorted(levels, reverse=True)[:depth]), tuple(sorted(asks)[:depth]), ts)

    def fetch_tickers(self) -> dict[str, Ticker]:
        from py_clob_client_v2.clob_types import BookParams

        markets = {m.external_id: m.symbol for m in Market.objects.filter(exchange=self.exchange, active=True)
                   .exclude(external_id="")}  # fmt: skip
        if not markets:
            return {}
        tickers = {}
        for raw in self._call(self.client.get_order_books, [BookParams(token_id=t) for t in markets]) or ():
            symbol = markets.get(str(raw.get("asset_id")))
            if symbol is None:
                continue
            book = self._book(symbol, raw, 1)
            if book.bids and book.asks:
                tickers[symbol] = Ticker(symbol, *book.bids[0], *book.asks[0], book.ts_ms)
        return tickers

    # --- orders ------------------------------------------------------------------------------
    def prepare_order(self, *, symbol, side, type, amount, price, client_order_id) -> dict:
        """The order signed (EIP-712, V2), with its hash as `id`, its time-in-force and the body to post."""
        from py_clob_client_v2.clob_types import OrderArgsV2, PartialCreateOrderOptions
        from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2

        market = self._market(symbol)
        if type not in TIME_IN_FORCE:
            raise InvalidOrder(f"Order type must be one of {', '.join(TIME_IN_FORCE)}, not {type!r}.", rule="type")
        if type == "market":
            price = self._marketable_price(market, side, Decimal(amount))
        if price is None:
            raise InvalidOrder(f"A {type} order needs a price.", rule="price")
        check_order(market.info(), amount=Decimal(amount), price=Decimal(price), reference_price=None)
        if not market.price_step <= Decimal(price) <= 1 - market.price_step:
            raise InvalidOrder(f"{symbol}: a price is between {market.price_step} and {1 - market.price_step}.",
                               rule="price", allowed=f"{market.price_step}..{1 - market.price_step}")  # fmt: skip
        tick = market.price_step.normalize()
        args = OrderArgsV2(token_id=market.external_id, price=float(price), size=float(amount), side=side.upper())
        options = PartialCreateOrderOptions(tick_size=f"{tick:f}", neg_risk=market.neg_risk, version=ORDER_VERSION)
        signed = self._call(self.client.create_order, args, options)
        body = order_to_json_v2(signed, "", TIME_IN_FORCE[type])["order"]
        return {"id": self._order_hash(signed, market.neg_risk), "order": body, "order_type": TIME_IN_FORCE[type],
                "client_order_id": client_order_id}  # fmt: skip

    def _order_hash(self, signed, neg_risk: bool) -> str:
        from py_clob_client_v2.config import get_contract_config
        from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2

        config = get_contract_config(POLYGON_CHAIN_ID)
        builder = ExchangeOrderBuilderV2(config.neg_risk_exchange_v2 if neg_risk else config.exchange_v2,
                                         POLYGON_CHAIN_ID, self.client.signer)  # fmt: skip
        return builder.build_order_hash(builder.build_order_typed_data(signed))

    def _marketable_price(self, market: Market, side: str, amount: Decimal) -> Decimal:
        """The worst price the visible book needs to fill `amount` (the last level it reaches, or the book's far
        end): a fill-and-kill limit there trades like a market order and never beyond what was seen."""
        book = self.fetch_order_book(market.symbol, 100)
        levels = book.asks if side == "buy" else book.bids
        if not levels:
            raise InvalidOrder(
                f"{self.name}: {market.symbol} has no {'asks' if side == 'buy' else 'bids'}.", rule="book"
            )
        left, price = amount, levels[0][0]
        for price, size in levels:  # noqa: B007 - the last level reached is the price
            left -= size
            if left <= 0:
                break
        return price

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id, prepared=None) -> VenueOrder:
        from py_clob_client_v2.endpoints import POST_ORDER

        prepared = prepared or self.prepare_order(
            symbol=symbol, side=side, type=type, amount=amount, price=price, client_order_id=client_order_id
        )
        self._l2()
        body = {"order": prepared["order"], "owner": self.client.creds.api_key, "orderType": prepared["order_type"],
                "deferExec": False, "postOnly": False}  # fmt: skip
        # Posted as the SDK's post_order posts it (the same body, L2 headers over the same serialization), from the
        # order recorded with our row: post_order takes only its own order object, and after a match it polls the
        # trades for up to 30 s for their settlement hashes, which an order placement must not wait for.
        serialized = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        headers = self.client._l2_headers("POST", POST_ORDER, body=body, serialized_body=serialized)
        answer = self._call(self.client._post, f"{self.client.host}{POST_ORDER}", headers=headers, data=serialized)
        if not isinstance(answer, dict) or not answer.get("success", False):
            why = answer.get("errorMsg") if isinstance(answer, dict) else answer
            raise self._error(400, {"error": why or "the order was refused"})
        return self._posted(prepared, answer, symbol, side, type, Decimal(amount))

    def _posted(self, prepared: dict, answer: dict, symbol: str, side: str, type: str, amount: Decimal) -> VenueOrder:
        making, taking = _d(answer.get("makingAmount") or 0, "making"), _d(answer.get("takingAmount") or 0, "taking")
        filled, cost = (taking, making) if side == "buy" else (making, taking)
        status = str(answer.get("status") or "live").upper()
        if filled >= amount:
            state = "FILLED"
        elif prepared["order_type"] in ("FAK", "FOK"):
            state = "EXPIRED" if status != "DELAYED" else "OPEN"  # the rest was killed
        else:
            state = "PARTIALLY_FILLED" if filled else "OPEN"
        return VenueOrder(
            id=str(answer.get("orderID") or prepared["id"]), client_order_id=prepared.get("client_order_id", ""),
            symbol=symbol, side=side, type=type, price=_price_of(prepared, side), amount=amount, filled=filled,
            cost=cost, fee=Decimal(0), fee_asset=COLLATERAL, status=state, ts_ms=int(prepared["order"]["timestamp"]),
        )  # fmt: skip

    def _order(self, raw: dict, symbol: str | None = None) -> VenueOrder:
        if not isinstance(raw, dict) or not raw.get("id"):
            raise OrderNotFound(f"{self.name}: no such order")
        status = str(raw.get("status") or "").upper().removeprefix("ORDER_STATUS_")
        amount = _d(raw.get("original_size") or 0, "order size")
        filled = _d(raw.get("size_matched") or 0, "order matched")
        price = _d(raw.get("price") or 0, "order price")
        state = STATUS.get(status, "OPEN")
        if state == "OPEN" and filled:
            state = "FILLED" if filled >= amount else "PARTIALLY_FILLED"
        if symbol is None:
            symbol = clob_symbol(str(raw.get("asset_id")))
        created = raw.get("created_at")
        return VenueOrder(
            id=str(raw["id"]), client_order_id="", symbol=symbol, side=str(raw.get("side", "")).lower(),
            type="limit" if raw.get("order_type") == "GTC" else "ioc", price=price, amount=amount, filled=filled,
            cost=(filled * price).quantize(Decimal("0.000001")), fee=Decimal(0), fee_asset=COLLATERAL, status=state,
            ts_ms=int(created) * 1000 if str(created or "").isdigit() else 0,
        )  # fmt: skip

    def _hash_of(self, order_id: str | None, client_order_id: str | None) -> str:
        """Polymarket keeps no client ids: an order is found by its hash, and one we never signed cannot be."""
        if not order_id:
            raise OrderNotFound(f"{self.name}: {client_order_id} has no order hash; it was never signed here")
        return order_id

    def fetch_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        order_id = self._hash_of(order_id, client_order_id)
        self._l2()
        return self._order(self._call(self.client.get_order, order_id), symbol)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        from py_clob_client_v2.clob_types import OpenOrderParams

        self._l2()
        params = OpenOrderParams(asset_id=self._market(symbol).external_id) if symbol else None
        return [self._order(raw, symbol) for raw in self._call(self.client.get_open_orders, params) or ()]

    def cancel_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        from py_clob_client_v2.clob_types import OrderPayload

        order_id = self._hash_of(order_id, client_order_id)
        self._l2()
        answer = self._call(self.client.cancel_order, OrderPayload(orderID=order_id))
        refused = (answer or {}).get("not_canceled") or {}
        if order_id in refused:
            log.info("%s: cancel of %s refused: %s", self.name, order_id, refused[order_id])
        return self.fetch_order(symbol=symbol, order_id=order_id)

    def fetch_my_trades(self, *, symbol=None, since_ms=None) -> list[VenueTrade]:
        from py_clob_client_v2.clob_types import TradeParams

        self._l2()
        token = self._market(symbol).external_id if symbol else None
        params = TradeParams(asset_id=token, after=since_ms // 1000 if since_ms else None)
        mine = {self.client.creds.api_key.lower(), (self.exchange.funder or self.client.get_address()).lower()}
        trades = []
        for raw in self._call(self.client.get_trades, params) or ():
            trades.extend(self._trades(raw, mine))
        return trades

    def _trades(self, raw: dict, mine: set[str]) -> list[VenueTrade]:
        """Our side of one CLOB trade: the taker order, or each of our maker orders it filled."""
        if str(raw.get("status", "")).upper() == "FAILED":
            return []  # settlement failed on chain: nothing changed hands
        symbol = clob_symbol(str(raw.get("asset_id")))
        ts = _match_ms(raw.get("match_time"))
        fee_bps = _d(raw.get("fee_rate_bps") or 0, "fee rate")
        found = []
        if str(raw.get("trader_side", "TAKER")).upper() == "TAKER":
            price, size = _d(raw["price"], "trade price"), _d(raw["size"], "trade size")
            found.append((str(raw["id"]), str(raw.get("taker_order_id")), str(raw.get("side", "")).lower(), price,
                          size, False))  # fmt: skip
        for maker in raw.get("maker_orders") or ():
            if str(maker.get("owner", "")).lower() in mine or str(maker.get("maker_address", "")).lower() in mine:
                price, size = _d(maker["price"], "maker price"), _d(maker["matched_amount"], "maker size")
                found.append((f"{raw['id']}:{maker['order_id']}", str(maker["order_id"]),
                              str(maker.get("side", "")).lower(), price, size, True))  # fmt: skip
        return [
            VenueTrade(
                id=trade_id,
                order_id=order_id,
                client_order_id="",
                symbol=symbol,
                side=side,
                price=price,
                amount=size,
                cost=(price * size).quantize(Decimal("0.000001")),
                fee=(price * size * fee_bps / 10_000).quantize(Decimal("0.000001"), ROUND_DOWN),
                fee_asset=COLLATERAL,
                is_maker=is_maker,
                ts_ms=ts,
            )
            for trade_id, order_id, side, price, size, is_maker in found
        ]


def _price_of(prepared: dict, side: str) -> Decimal:
    """The limit price a signed order carries (maker / taker amounts)."""
    order = prepared["order"]
    maker, taker = Decimal(order["makerAmount"]), Decimal(order["takerAmount"])
    if not maker or not taker:
        return Decimal(0)
    return (maker / taker if side == "buy" else taker / maker).quantize(Decimal("0.0001"))


def _match_ms(value) -> int:
    if value is None:
        return 0
    text = str(value)
    if text.isdigit():
        return int(text) * (1000 if len(text) <= 10 else 1)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0
