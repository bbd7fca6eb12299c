"""The ccxt adapter: a real exchange behind the Venue interface.

ccxt's own rate limiter is off; our shared Redis limiter (in GuardedVenue)
paces every call and learns from the venue's used-weight header, read here by
a response hook on our pooled session. Client order ids pass through as
Binance's newClientOrderId / origClientOrderId.
"""

import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import ccxt
from django.conf import settings

from core.errors import redact
from core.http import VenueHttp, rebased
from core.limiter import RateLimiter

from .errors import (
    Banned,
    DuplicateClientOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    RequestTimeout,
    VenueError,
    VenueUnavailable,
)
from .marketdata import MarketDataSnapshot
from .models import Exchange
from .parsing import number, parse_retry_after, to_decimal
from .types import BalanceEntry, Kline, MarketInfo, OrderBook, Ticker, VenueOrder, VenueTrade
from .venue import Venue

log = logging.getLogger(__name__)
STATUS = {"open": "OPEN", "closed": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}
WEIGHT_WINDOW_LIMIT = 6000  # Binance REQUEST_WEIGHT per minute


RETRY_AFTER_CAP_S = 3600.0
# Spot markets only; no currencies or margin calls (private on Binance, and not needed to trade spot).
SPOT_OPTIONS = {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchMargins": False,
                "fetchCurrencies": False}  # fmt: skip  # a Retry-After beyond an hour is taken as an hour


def _d(value) -> Decimal | None:
    """An optional ccxt number (None stays None), validated like every outside number."""
    return None if value is None else to_decimal(value, name="value", error=VenueError, what="ccxt", minimum="any")


def _need(raw: dict, key: str, what: str):
    """A key a ccxt answer must have: its absence is a VenueError naming it, never a KeyError in a loop."""
    if not isinstance(raw, dict) or raw.get(key) is None:
        raise VenueError(f"ccxt {what}: the answer has no {key!r}")
    return raw[key]


class CcxtVenue(Venue):
    def __init__(
        self,
        exchange: Exchange,
        *,
        limiter: RateLimiter | None = None,
        http: VenueHttp | None = None,
        client: ccxt.Exchange | None = None,
    ) -> None:
        self.exchange = exchange
        self.name = exchange.name
        self.limiter = limiter
        self.http = http or VenueHttp(exchange.name)
        self._last = threading.local()
        self.http.session.hooks["response"].append(self._observe)
        if client is None:
            factory = getattr(ccxt, exchange.ccxt_id, None) if exchange.ccxt_id in ccxt.exchanges else None
            if factory is None:
                raise VenueError(f"ccxt has no exchange {exchange.ccxt_id!r}.")
            client = factory(
                {
                    "apiKey": exchange.api_key,
                    "secret": exchange.api_secret,
                    "password": exchange.api_password or None,
                    "enableRateLimit": False,  # ours is shared by every worker
                    "timeout": int(self.http.timeout[1] * 1000),
                    "options": dict(SPOT_OPTIONS),
                }
            )
        if exchange.rest_url:  # an emulator, a regional endpoint: the same paths on another host
            client.urls["api"] = rebased(client.urls["api"], exchange.rest_url)
        client.session = self.http.session
        self.client = client
        self.market_data = MarketDataSnapshot(exchange.name)  # what run_feed writes

    # --- plumbing ------------------------------------------------------------
    def _observe(self, response, *args, **kwargs):
        self._last.status = response.status_code
        self._last.headers = response.headers
        used = response.headers.get("x-mbx-used-weight-1m")
        if used is not None and self.limiter is not None:
            self.limiter.observe_used_weight(float(used), WEIGHT_WINDOW_LIMIT)
        return response

    def _retry_after(self, default: float) -> float:
        headers = getattr(self._last, "headers", None) or {}
        return parse_retry_after(headers.get("Retry-After"), default=default, cap=RETRY_AFTER_CAP_S)

    def _say(self, exc: Exception) -> str:
        """ccxt's message with signed URLs' query strings and our credentials taken out."""
        secrets = (self.exchange.api_key, self.exchange.api_secret, self.exchange.api_password)
        return f"{self.name}: {redact(str(exc), *secrets)}"

    def _call(self, method, *args, **kwargs):
        # `from None`: the ccxt exception (its message holds the signed URL) never travels in the chain.
        self._last.status = None
        try:
            return method(*args, **kwargs)
        except ccxt.InsufficientFunds as exc:
            raise InsufficientFunds(self._say(exc)) from None
        except ccxt.DuplicateOrderId as exc:
            raise DuplicateClientOrderId(self._say(exc)) from None
        except ccxt.OrderNotFound as exc:
            raise OrderNotFound(self._say(exc)) from None
        except ccxt.InvalidOrder as exc:
            raise InvalidOrder(self._say(exc), rule=_filter_rule(str(exc))) from None
        except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
            if getattr(self._last, "status", None) == 418:
                seconds = self._retry_after(120.0)
                until = datetime.now(UTC) + timedelta(seconds=seconds)
                raise Banned(f"{self.name}: HTTP 418, banned for {seconds:.0f}s", until=until) from None
            raise RateLimited(self._say(exc), retry_after=self._retry_after(1.0)) from None
        except ccxt.RequestTimeout:
            raise RequestTimeout(f"{self.name}: no answer in time; the outcome is unknown") from None
        except (ccxt.ExchangeNotAvailable, ccxt.NetworkError) as exc:
            raise VenueUnavailable(self._say(exc)) from None
        except RequestTimeout:
            raise
        except ccxt.BaseError as exc:
            raise VenueError(self._say(exc)) from None

    def _unified(self, symbol_id: str) -> str:
        if not self.client.markets:
            self._call(self.client.load_markets)
        market = self.client.markets_by_id.get(symbol_id)
        if not market:
            raise InvalidOrder(f"{symbol_id} is not a market on {self.name}.", rule="symbol")
        return market[0]["symbol"]

    def _market_id(self, unified: str) -> str:
        return self.client.markets[unified]["id"]

    # --- the interface -------------------------------------------------------
    def load_markets(self) -> list[MarketInfo]:
        markets = self._call(self.client.load_markets, True)
        result = []
        for m in markets.values():
            if not m.get("spot") or not m.get("active"):
                continue
            limits = m.get("limits") or {}
            result.append(
                MarketInfo(
                    symbol=m["id"], base=m["base"], quote=m["quote"],
                    price_step=_d(m["precision"]["price"]), amount_step=_d(m["precision"]["amount"]),
                    min_amount=_d((limits.get("amount") or {}).get("min")) or Decimal(0),
                    min_notional=_d((limits.get("cost") or {}).get("min")) or Decimal(0),
                    taker_fee=_d(m.get("taker")) or Decimal("0.001"), maker_fee=_d(m.get("maker")) or Decimal("0.001"),
                )
            )  # fmt: skip
        return result

    def fetch_tickers(self) -> dict[str, Ticker]:
        raw = self._call(self.client.fetch_tickers)
        result = {}
        for unified, t in raw.items():
            if unified not in self.client.markets or t.get("bid") is None or t.get("ask") is None:
                continue
            symbol = self._market_id(unified)
            what = f"ccxt ticker {symbol}"
            try:
                result[symbol] = Ticker(
                    symbol, number(t, "bid", error=VenueError, what=what),
                    number(t, "bidVolume", error=VenueError, what=what, minimum="non_negative", default=Decimal(0)),
                    number(t, "ask", error=VenueError, what=what),
                    number(t, "askVolume", error=VenueError, what=what, minimum="non_negative", default=Decimal(0)),
                    int(t.get("timestamp") or 0),
                )  # fmt: skip
            except VenueError as exc:  # one bad ticker is left out; the others still price their markets
                log.warning("%s", exc)
        return result

    def feed_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        return self.feed_books([symbol], depth).get(symbol)

    def feed_books(self, symbols: list[str], depth: int = 20) -> dict[str, OrderBook]:
        """The fresh books the feed keeps of `symbols`, read in one round trip."""
        stored = self.market_data.books_and_tickers(symbols, max_age_ms=settings.FEED_BOOK_MAX_AGE_MS)
        return {s: OrderBook(s, book.bids[:depth], book.asks[:depth], book.ts_ms)
                for s, (book, _) in stored.items() if book is not None and book.bids and book.asks}  # fmt: skip

    def fetch_klines(self, symbol: str, *, timeframe: str = "1m", since_ms: int, limit: int = 1000) -> list[Kline]:
        """Binance: GET /api/v3/klines (weight 2, at most 1000 a call: developers.binance.com, spot market data
        endpoints), whose rows carry the quote volume and the trade count; elsewhere ccxt's fetch_ohlcv, whose rows
        do not (0 for both)."""
        if self.exchange.ccxt_id == "binance":
            query = {"symbol": symbol, "interval": timeframe, "startTime": since_ms, "limit": min(limit, 1000)}
            rows = self._call(self.client.publicGetKlines, query)
            return [Kline(int(r[0]), Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4]), Decimal(r[5]),
                          Decimal(r[7]), int(r[8])) for r in rows]  # fmt: skip
        rows = self._call(self.client.fetch_ohlcv, self._unified(symbol), timeframe, since_ms, limit)
        return [Kline(int(r[0]), *(Decimal(repr(v)) for v in r[1:6]), Decimal(0), 0) for r in rows]

    def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The feed's book when it is fresh (no request), else the venue's over REST."""
        if (book := self.feed_book(symbol, depth)) is not None:
            return book
        raw = self._call(self.client.fetch_order_book, self._unified(symbol), depth)
        return OrderBook(
            symbol,
            tuple((_d(p), _d(q)) for p, q, *_ in raw["bids"]),
            tuple((_d(p), _d(q)) for p, q, *_ in raw["asks"]),
            int(raw.get("timestamp") or 0),
        )

    def create_order(self, *, symbol, side, type, amount, price=None, client_order_id, prepared=None) -> VenueOrder:
        params = {"newClientOrderId": client_order_id}
        ccxt_type = type
        if type == "ioc":
            ccxt_type, params["timeInForce"] = "limit", "IOC"
        raw = self._call(
            self.client.create_order, self._unified(symbol), ccxt_type, side, float(amount),
            None if price is None else float(price), params,
        )  # fmt: skip
        return self._order(raw, symbol)

    def fetch_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        unified = self._unified(symbol)
        if order_id is not None:
            raw = self._call(self.client.fetch_order, order_id, unified)
        else:
            raw = self._call(self.client.fetch_order, None, unified, {"origClientOrderId": client_order_id})
        return self._order(raw, symbol)

    def fetch_open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        raw = self._call(self.client.fetch_open_orders, self._unified(symbol) if symbol else None)
        return [self._order(o, self._market_id(o["symbol"])) for o in raw]

    def cancel_order(self, *, symbol, order_id=None, client_order_id=None) -> VenueOrder:
        params = {} if order_id is not None else {"origClientOrderId": client_order_id}
        raw = self._call(self.client.cancel_order, order_id, self._unified(symbol), params)
        return self._order(raw, symbol)

    def fetch_balance(self) -> dict[str, BalanceEntry]:
        raw = self._call(self.client.fetch_balance)
        return {
            asset: BalanceEntry(
                asset, _d(raw["free"].get(asset)) or Decimal(0), _d(raw["used"].get(asset)) or Decimal(0)
            )
            for asset in raw.get("total", {})
        }

    def fetch_my_trades(self, *, symbol=None, since_ms=None) -> list[VenueTrade]:
        raw = self._call(self.client.fetch_my_trades, self._unified(symbol) if symbol else None, since_ms)
        return [self._trade(t) for t in raw]

    # --- conversion ----------------------------------------------------------
    def _trade(self, t: dict) -> VenueTrade:
        return ccxt_trade(t, self._market_id)

    def _order(self, o: dict, symbol: str) -> VenueOrder:
        return ccxt_order(o, symbol, self._market_id)


def ccxt_trade(t: dict, market_id) -> VenueTrade:
    """A ccxt trade, validated: price and amount above zero, cost not negative, the fee any sign (rebates).

    `market_id` maps ccxt's unified symbol to our market id (BTC/USDT -> BTCUSDT)."""
    fee = t.get("fee") or {}
    what = f"trade {t.get('id') if isinstance(t, dict) else '?'}"
    side = _need(t, "side", what)
    if side not in ("buy", "sell"):
        raise VenueError(f"ccxt {what}: side is {side!r}")
    return VenueTrade(
        id=str(_need(t, "id", "trade")), order_id=str(t.get("order") or ""), client_order_id="",
        symbol=market_id(_need(t, "symbol", what)), side=side,
        price=number(t, "price", error=VenueError, what=f"ccxt {what}"),
        amount=number(t, "amount", error=VenueError, what=f"ccxt {what}"),
        cost=number(t, "cost", error=VenueError, what=f"ccxt {what}", minimum="non_negative", default=Decimal(0)),
        fee=number(fee, "cost", error=VenueError, what=f"ccxt {what} fee", minimum="any", default=Decimal(0)),
        fee_asset=fee.get("currency") or "", is_maker=t.get("takerOrMaker") == "maker",
        ts_ms=int(t.get("timestamp") or 0),
    )  # fmt: skip


def ccxt_order(o: dict, symbol: str, market_id) -> VenueOrder:
    """A ccxt order (from REST or from a websocket update) as our VenueOrder, validated like a trade."""
    what = f"ccxt order {o.get('id') if isinstance(o, dict) else '?'}"
    order_id = _need(o, "id", "order")
    filled = number(o, "filled", error=VenueError, what=what, minimum="non_negative", default=Decimal(0))
    amount = number(o, "amount", error=VenueError, what=what, minimum="non_negative", default=Decimal(0))
    status = STATUS.get(o.get("status") or "open", "OPEN")
    if status == "OPEN" and filled > 0:
        status = "PARTIALLY_FILLED"
    fee = o.get("fee") or {}
    price = number(o, "price", error=VenueError, what=what, minimum="non_negative", default=None)
    return VenueOrder(
        id=str(order_id), client_order_id=o.get("clientOrderId") or "", symbol=symbol, side=_need(o, "side", what),
        type="ioc" if o.get("timeInForce") == "IOC" and o.get("type") == "limit" else _need(o, "type", what),
        price=price or None, amount=amount, filled=filled,
        cost=number(o, "cost", error=VenueError, what=what, minimum="non_negative", default=Decimal(0)),
        fee=number(fee, "cost", error=VenueError, what=f"{what} fee", minimum="any", default=Decimal(0)),
        fee_asset=fee.get("currency") or "", status=status, ts_ms=int(o.get("timestamp") or 0),
        trades=tuple(ccxt_trade(_of_order(t, o), market_id) for t in o.get("trades") or ()),
    )  # fmt: skip


def _of_order(trade: dict, order: dict) -> dict:
    """A trade carried by an order answer, with what ccxt leaves out of it there: Binance's FULL order answer
    lists its `fills` without side, symbol or order id (they are the order's)."""
    return {**trade, "side": trade.get("side") or order.get("side"),
            "symbol": trade.get("symbol") or order.get("symbol"),
            "order": trade.get("order") or order.get("id")}  # fmt: skip


def _filter_rule(message: str) -> str:
    for marker, rule in (("PRICE_FILTER", "tick_size"), ("LOT_SIZE", "lot_size"), ("NOTIONAL", "min_notional")):
        if marker in message:
            return rule
    return ""
