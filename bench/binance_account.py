"""The trading side of the Binance emulator: one account's balances, orders, trades and user-data stream, answered
as Binance spot answers them and checked as Binance checks them.

Facts from developers.binance.com/docs/binance-spot-api-docs:
- rest-api/request-security: SIGNED endpoints carry `signature`, the HMAC SHA256 (hex) of the query string and
  body with the secret key, the API key in the `X-MBX-APIKEY` header, and `timestamp`, accepted while
  timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow (default 5000, at most 60000).
- rest-api/trading-endpoints: POST /api/v3/order (newOrderRespType FULL: the order with its `fills`), GET and
  DELETE /api/v3/order (by orderId or origClientOrderId), GET /api/v3/openOrders, GET /api/v3/myTrades,
  GET /api/v3/account; errors -1022 (signature), -2014/-2015 (API key), -1021 (recvWindow), -2010 (duplicate
  client order id, insufficient balance), -2011/-2013 (unknown order), -1013 (filter failure).
- websocket-api/request-security: the same signature over the request's params sorted by name;
  websocket-api/user-data-stream-requests: `userDataStream.subscribe.signature` (apiKey, timestamp, signature)
  answered {"id", "status": 200, "result": {"subscriptionId": n}} — the listenKey flow is retired (2026-02).
- user-data-stream: events pushed as {"subscriptionId": n, "event": {...}}: `executionReport` (NEW, TRADE with
  the trade's `t`, `l`, `L`, `n`, `N`, cumulative `z` and `Z`, then EXPIRED for an IOC or market remainder,
  CANCELED) and `outboundAccountPosition`.

Orders fill against the emulator's replayed book (TruthBook) at once, level by level; what a limit GTC order does
not fill rests (it is not matched later). Fills do not move the replayed book.
"""

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import time
from decimal import ROUND_DOWN, Decimal
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

FEE = Decimal("0.001")  # Binance's default spot commission, taken from the asset received


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


def _error(code: int, msg: str, status: int = 400) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class SignedError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


class Account:
    """One API key's account on the emulator. `books` maps a symbol to its TruthBook; `markets` holds the
    exchangeInfo entries of those symbols (their filters are enforced)."""

    def __init__(self, *, api_key: str, secret: str, books: dict, markets: dict[str, dict],
                 balances: dict[str, str]) -> None:  # fmt: skip
        self.api_key, self.secret = api_key, secret
        self.books, self.markets = books, markets
        self.free = {asset: Decimal(v) for asset, v in balances.items()}
        self.orders: dict[int, dict] = {}
        self.by_client_id: dict[tuple[str, str], int] = {}
        self.trades: list[dict] = []
        self._order_ids = itertools.count(1000)
        self._trade_ids = itertools.count(50_000)
        self._subscription_ids = itertools.count(0)
        self.sessions: dict[int, web.WebSocketResponse] = {}  # subscriptionId -> the ws-api connection
        self.event_times_ns: dict[str, int] = {}  # trade id -> when its TRADE event was sent (benchmarks)
        self.signature_failures = 0
        self.subscriptions = 0
        self.placed = 0
        self._sending: set[asyncio.Future] = set()
        self.calls: collections.Counter = collections.Counter()  # "GET /api/v3/order" -> how many (tests)

    # --- request security -----------------------------------------------------------------------------
    def _signature_ok(self, payload: str, signature: str) -> bool:
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())

    def _check_time(self, params: dict) -> None:
        now = int(time.time() * 1000)
        try:
            timestamp = int(params["timestamp"])
            recv_window = int(params.get("recvWindow", 5000))
        except (KeyError, ValueError):
            raise SignedError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            ) from None
        if recv_window > 60000:
            raise SignedError(-1131, "recvWindow must be less than 60000")
        if not (timestamp < now + 1000 and now - timestamp <= recv_window):
            raise SignedError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def check_rest(self, request: web.Request, body: str) -> dict:
        """The request's params once its API key, signature and timestamp pass, as Binance checks them."""
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise SignedError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        query = request.query_string
        total = query + body if query and body else query or body
        pairs = parse_qsl(total, keep_blank_values=True)
        params = {k: v for k, v in pairs if k != "signature"}
        signature = dict(pairs).get("signature")
        payload = total[: total.rindex("&signature=")] if "&signature=" in total else ""
        if not signature or not self._signature_ok(payload, signature):
            self.signature_failures += 1
            raise SignedError(-1022, "Signature for this request is not valid.")
        self._check_time(params)
        return params

    def check_ws(self, params: dict) -> None:
        if params.get("apiKey") != self.api_key:
            raise SignedError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
        if not self._signature_ok(payload, str(params.get("signature", ""))):
            self.signature_failures += 1
            raise SignedError(-1022, "Signature for this request is not valid.")
        self._check_time(params)

    # --- trading ---------------------------------------------------------------------------------------
    def _filters(self, symbol: str) -> dict[str, dict]:
        return {f["filterType"]: f for f in self.markets[symbol]["filters"]}

    def place(self, params: dict) -> dict:
        symbol = params.get("symbol", "")
        if symbol not in self.markets or symbol not in self.books:
            raise SignedError(-1121, "Invalid symbol.")
        side, type_ = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL") or type_ not in ("LIMIT", "MARKET"):
            raise SignedError(-1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or f"emu{next(self._order_ids)}"
        if (symbol, client_id) in self.by_client_id and self.orders[self.by_client_id[(symbol, client_id)]][
            "status"
        ] in ("NEW", "PARTIALLY_FILLED"):
            raise SignedError(-2010, "Duplicate order sent.")
        filters = self._filters(symbol)
        quantity = Decimal(params.get("quantity", "0"))
        step, min_qty = Decimal(filters["LOT_SIZE"]["stepSize"]), Decimal(filters["LOT_SIZE"]["minQty"])
        if quantity < min_qty or (quantity - min_qty) % step:
            raise SignedError(-1013, "Filter failure: LOT_SIZE")
        price = Decimal(params["price"]) if type_ == "LIMIT" else None
        if price is not None:
            tick = Decimal(filters["PRICE_FILTER"]["tickSize"])
            if price <= 0 or price % tick:
                raise SignedError(-1013, "Filter failure: PRICE_FILTER")
        book = self.books[symbol]
        bids, asks = book.top(1000)
        levels = [(Decimal(p), Decimal(q)) for p, q in (asks if side == "BUY" else bids)]
        reference = price if price is not None else (levels[0][0] if levels else Decimal(0))
        notional_filter = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        if reference * quantity < Decimal(notional_filter.get("minNotional", "0")):
            raise SignedError(-1013, "Filter failure: NOTIONAL")
        market = self.markets[symbol]
        base, quote = market["baseAsset"], market["quoteAsset"]
        fills, left = [], quantity
        for level_price, level_qty in levels:
            if left <= 0 or (price is not None and (level_price > price if side == "BUY" else level_price < price)):
                break
            take = min(left, level_qty)
            fills.append((level_price, take))
            left -= take
        spend_asset = quote if side == "BUY" else base
        need = sum((p * q for p, q in fills), Decimal(0)) if side == "BUY" else sum((q for _, q in fills), Decimal(0))
        if type_ == "LIMIT" and params.get("timeInForce", "GTC") == "GTC" and left > 0:
            need += left * price if side == "BUY" else left  # the resting part is locked
        if self.free.get(spend_asset, Decimal(0)) < need:
            raise SignedError(-2010, "Account has insufficient balance for requested action.")
        now = int(time.time() * 1000)
        order_id = next(self._order_ids)
        order = {"symbol": symbol, "orderId": order_id, "orderListId": -1, "clientOrderId": client_id,
                 "price": _s(price or Decimal(0)), "origQty": _s(quantity), "executedQty": _s(Decimal(0)),
                 "cummulativeQuoteQty": _s(Decimal(0)), "status": "NEW",
                 "timeInForce": params.get("timeInForce", "GTC"), "type": type_, "side": side,
                 "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": now, "updateTime": now,
                 "isWorking": True, "workingTime": now, "origQuoteOrderQty": "0.00000000",
                 "selfTradePreventionMode": "EXPIRE_MAKER", "transactTime": now}  # fmt: skip
        self.orders[order_id] = order
        self.by_client_id[(symbol, client_id)] = order_id
        self.placed += 1
        events = [self._report(order, "NEW")]
        order_fills = []
        for fill_price, fill_qty in fills:
            trade = self._execute(order, fill_price, fill_qty, maker=False)
            order_fills.append({"price": trade["price"], "qty": trade["qty"], "commission": trade["commission"],
                                "commissionAsset": trade["commissionAsset"], "tradeId": trade["id"]})  # fmt: skip
            events.append(self._report(order, "TRADE", trade=trade))
        executed = Decimal(order["executedQty"])
        if executed < quantity and (type_ == "MARKET" or params.get("timeInForce") in ("IOC", "FOK")):
            order["status"] = "EXPIRED"
            events.append(self._report(order, "EXPIRED"))
        elif executed < quantity:  # a GTC limit rests: its remainder is locked
            self.free[spend_asset] -= left * price if side == "BUY" else left
        events.append(self._account_position(now, {base, quote}))
        self._push(events)
        return {**order, "fills": order_fills}

    def find(self, params: dict) -> dict:
        symbol = params.get("symbol", "")
        if "orderId" in params:
            order = self.orders.get(int(params["orderId"]))
        else:
            order = self.orders.get(self.by_client_id.get((symbol, params.get("origClientOrderId", "")), -1))
        if order is None or order["symbol"] != symbol:
            raise SignedError(-2013, "Order does not exist.")
        return order

    def cancel(self, params: dict) -> dict:
        try:
            order = self.find(params)
        except SignedError:
            raise SignedError(-2011, "Unknown order sent.") from None
        if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise SignedError(-2011, "Unknown order sent.")
        market = self.markets[order["symbol"]]
        left = Decimal(order["origQty"]) - Decimal(order["executedQty"])
        if order["side"] == "BUY":
            self.free[market["quoteAsset"]] += left * Decimal(order["price"])
        else:
            self.free[market["baseAsset"]] += left
        order["status"] = "CANCELED"
        order["updateTime"] = int(time.time() * 1000)
        self._push([self._report(order, "CANCELED"), self._account_position(order["updateTime"],
                                                                            {market["baseAsset"],
                                                                             market["quoteAsset"]})])  # fmt: skip
        return {**order, "origClientOrderId": order["clientOrderId"]}

    def account(self) -> dict:
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "accountType": "SPOT",
                "updateTime": int(time.time() * 1000),
                "balances": [{"asset": a, "free": _s(v), "locked": "0.00000000"} for a, v in self.free.items()],
                "permissions": ["SPOT"]}  # fmt: skip

    # --- the user-data stream ----------------------------------------------------------------------------
    def _report(self, order: dict, execution: str, trade: dict | None = None) -> dict:
        event = {"e": "executionReport", "E": int(time.time() * 1000), "s": order["symbol"],
                 "c": order["clientOrderId"], "S": order["side"], "o": order["type"], "f": order["timeInForce"],
                 "q": order["origQty"], "p": order["price"], "P": "0.00000000", "F": "0.00000000", "g": -1,
                 "C": order["clientOrderId"] if execution == "CANCELED" else "", "x": execution,
                 "X": order["status"], "r": "NONE", "i": order["orderId"],
                 "l": trade["qty"] if trade else "0.00000000", "z": order["executedQty"],
                 "L": trade["price"] if trade else "0.00000000", "n": trade["commission"] if trade else "0",
                 "N": trade["commissionAsset"] if trade else None, "T": order["updateTime"],
                 "t": trade["id"] if trade else -1, "v": 0, "I": next(self._trade_ids), "w": True,
                 "m": bool(trade and trade["isMaker"]), "M": bool(trade), "O": order["time"],
                 "Z": order["cummulativeQuoteQty"],
                 "Y": trade["quoteQty"] if trade else "0.00000000", "Q": "0.00000000", "W": order["workingTime"],
                 "V": "EXPIRE_MAKER"}  # fmt: skip
        return event

    def _account_position(self, now: int, assets: set[str]) -> dict:
        return {
            "e": "outboundAccountPosition",
            "E": now,
            "u": now,
            "B": [{"a": a, "f": _s(self.free.get(a, Decimal(0))), "l": "0.00000000"} for a in sorted(assets)],
        }

    def _push(self, events: list[dict]) -> None:
        """Send the events, in order, to every subscribed session (on the emulator's loop)."""
        for subscription_id, ws in list(self.sessions.items()):
            task = asyncio.ensure_future(self._send_all(ws, subscription_id, events))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_all(self, ws: web.WebSocketResponse, subscription_id: int, events: list[dict]) -> None:
        for event in events:
            if ws.closed:
                return
            if event.get("x") == "TRADE":
                self.event_times_ns[str(event["t"])] = time.time_ns()
            await ws.send_str(json.dumps({"subscriptionId": subscription_id, "event": event}))

    def take(self, order_id: int, quantity: str | None = None) -> None:
        """A counterparty takes a resting order (all of what is left, or `quantity`): its TRADE is pushed."""
        order = self.orders[order_id]
        left = Decimal(order["origQty"]) - Decimal(order["executedQty"])
        trade = self._execute(order, Decimal(order["price"]), min(left, Decimal(quantity)) if quantity else left,
                              maker=True)  # fmt: skip
        market = self.markets[order["symbol"]]
        self._push([self._report(order, "TRADE", trade=trade),
                    self._account_position(trade["time"], {market["baseAsset"], market["quoteAsset"]})])  # fmt: skip

    def _execute(self, order: dict, price: Decimal, qty: Decimal, *, maker: bool) -> dict:
        """One trade of `order`: the balances moved (a taker pays now; a resting maker's part was locked when it
        was placed), the commission taken from the asset received, the order's totals and status; the trade."""
        market = self.markets[order["symbol"]]
        buying = order["side"] == "BUY"
        base, quote = market["baseAsset"], market["quoteAsset"]
        if not maker:
            spent, paid = (quote, price * qty) if buying else (base, qty)
            self.free[spent] = self.free.get(spent, Decimal(0)) - paid
        received_asset, received = (base, qty) if buying else (quote, price * qty)
        fee = (received * FEE).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        self.free[received_asset] = self.free.get(received_asset, Decimal(0)) + received - fee
        now = int(time.time() * 1000)
        trade = {"symbol": order["symbol"], "id": next(self._trade_ids), "orderId": order["orderId"],
                 "orderListId": -1, "price": _s(price), "qty": _s(qty), "quoteQty": _s(price * qty),
                 "commission": _s(fee), "commissionAsset": received_asset, "time": now, "isBuyer": buying,
                 "isMaker": maker, "isBestMatch": True}  # fmt: skip
        self.trades.append(trade)
        executed = Decimal(order["executedQty"]) + qty
        order["executedQty"] = _s(executed)
        order["cummulativeQuoteQty"] = _s(Decimal(order["cummulativeQuoteQty"]) + price * qty)
        order["status"] = "FILLED" if executed == Decimal(order["origQty"]) else "PARTIALLY_FILLED"
        order["updateTime"] = now
        return trade

    async def ws_api(self, request: web.Request) -> web.WebSocketResponse:
        """/ws-api/v3: userDataStream.subscribe.signature, session.subscriptions, ping; anything else refused."""
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        mine: list[int] = []
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                body = json.loads(message.data)
                request_id, method, params = body.get("id"), body.get("method"), body.get("params") or {}
                if method == "userDataStream.subscribe.signature":
                    try:
                        self.check_ws(params)
                    except SignedError as exc:
                        await ws.send_str(json.dumps({"id": request_id, "status": exc.status,
                                                      "error": {"code": exc.code, "msg": exc.msg}}))  # fmt: skip
                        continue
                    subscription_id = next(self._subscription_ids)
                    self.subscriptions += 1
                    mine.append(subscription_id)
                    self.sessions[subscription_id] = ws
                    await ws.send_str(json.dumps({"id": request_id, "status": 200,
                                                  "result": {"subscriptionId": subscription_id}}))  # fmt: skip
                elif method == "session.subscriptions":
                    await ws.send_str(json.dumps({"id": request_id, "status": 200,
                                                  "result": [{"subscriptionId": s} for s in mine]}))  # fmt: skip
                elif method == "ping":
                    await ws.send_str(json.dumps({"id": request_id, "status": 200, "result": {}}))
                else:
                    refused = {"code": -1020, "msg": "Unsupported operation."}
                    await ws.send_str(json.dumps({"id": request_id, "status": 400, "error": refused}))
        finally:
            for subscription_id in mine:
                self.sessions.pop(subscription_id, None)
        return ws

    def drop_sessions(self) -> None:
        """Every user-data connection closes (the caller runs this on the emulator's loop)."""
        for ws in set(self.sessions.values()):
            task = asyncio.ensure_future(ws.close(code=1006))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    # --- REST handlers ---------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v3/order", self._rest(self.place))
        app.router.add_get("/api/v3/order", self._rest(self.find))
        app.router.add_delete("/api/v3/order", self._rest(self.cancel))
        app.router.add_get("/api/v3/openOrders", self._rest(self._open_orders))
        app.router.add_get("/api/v3/myTrades", self._rest(self._my_trades))
        app.router.add_get("/api/v3/account", self._rest(lambda params: self.account()))
        app.router.add_get("/ws-api/v3", self.ws_api)

    def _open_orders(self, params: dict) -> list[dict]:
        symbol = params.get("symbol")
        live = [o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        return [o for o in live if symbol is None or o["symbol"] == symbol]

    def _my_trades(self, params: dict) -> list[dict]:
        symbol = params.get("symbol")
        if not symbol:
            raise SignedError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        since = int(params.get("startTime", 0))
        rows = [t for t in self.trades if t["symbol"] == symbol and t["time"] >= since]
        if "orderId" in params:
            rows = [t for t in rows if t["orderId"] == int(params["orderId"])]
        return rows[-int(params.get("limit", 500)) :]

    def _rest(self, handler):
        async def respond(request: web.Request) -> web.Response:
            self.calls[f"{request.method} {request.path}"] += 1
            body = await request.text()
            try:
                params = self.check_rest(request, body)
                return web.json_response(handler(params), headers={"x-mbx-used-weight-1m": "10"})
            except SignedError as exc:
                return _error(exc.code, exc.msg, exc.status)

        return respond
