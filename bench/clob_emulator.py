"""A Polymarket CLOB V2 emulator on 127.0.0.1: what the venue checks, checked here independently of the SDK.

Facts from docs.polymarket.com (v2-migration, resources/contracts, api-reference: authentication, post-a-new-order,
get-single-order-by-id, get-trades, cancel, balance-allowance, the CLOB OpenAPI spec):
- L1 headers POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP, POLY_NONCE: an EIP-712 signature of
  ClobAuth(address address, string timestamp, uint256 nonce, string message) on the domain
  {name "ClobAuthDomain", version "1", chainId 137}, message "This message attests that I control the given wallet".
  POST /auth/api-key creates the key, GET /auth/derive-api-key derives it again (same address and nonce, same key).
- L2 headers POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP, POLY_API_KEY, POLY_PASSPHRASE: POLY_SIGNATURE is the
  url-safe base64 HMAC-SHA256, under the url-safe-base64-decoded secret, of timestamp + method + path + body.
- POST /order {"order": {salt, maker, signer, tokenId, makerAmount, takerAmount, side "BUY"/"SELL", expiration,
  signatureType, timestamp, metadata, builder, signature}, "owner": api key, "orderType": GTC/GTD/FOK/FAK,
  "deferExec", "postOnly"}; the signature is EIP-712 over Order(uint256 salt,address maker,address signer,uint256
  tokenId,uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32
  metadata,bytes32 builder) on {name "Polymarket CTF Exchange", version "2", chainId 137, verifyingContract: the
  CTF Exchange V2, or the Neg Risk CTF Exchange V2 for a neg-risk token}. Signature types: 0 EOA (signer = maker),
  1 proxy and 2 Safe (an EOA signs for the wallet it owns, maker = the wallet), 3 EIP-1271 deposit wallet (signer =
  maker = the wallet; the signature wraps the owner's ECDSA signature of a TypedDataSign digest, ERC-7739).
  Answers {"success", "errorMsg", "orderID" (the order's EIP-712 hash), "status" live/matched/delayed/unmatched,
  "makingAmount", "takingAmount", "transactionsHashes", "tradeIDs"}.
- GET /data/order/{hash}: {id, status LIVE/MATCHED/CANCELED/..., owner, maker_address, market, asset_id, side,
  original_size, size_matched (shares, decimal strings), price, outcome, expiration, order_type, associate_trades,
  created_at}; GET /data/orders and /data/trades page {"data", "next_cursor"} ("LTE=" ends); DELETE /order
  {"orderID"} answers {"canceled": [...], "not_canceled": {...}}.
- GET /balance-allowance?asset_type=COLLATERAL|CONDITIONAL&token_id: {"balance", "allowances"} in 6-decimal units.
- GET /book?token_id: {market, asset_id, timestamp, hash, bids, asks, min_order_size, tick_size, neg_risk,
  last_trade_price}.

Every refusal names what was wrong (signer, domain, version, contract, signature type, HMAC, tick, size, funds), and
`stats` counts them. `lose_answers` (0..1) accepts and executes a posted order, then cuts the connection before the
answer: the client cannot know whether it was placed. A second post of an order it already holds is refused and
counted in `duplicate_posts`.
"""

import base64
import collections
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from bench.loopback import LoopbackServer

CHAIN_ID = 137
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
UNITS = Decimal(10) ** 6
AUTH_MESSAGE = "This message attests that I control the given wallet"
ORDER_FIELDS = [("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"),
                ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("side", "uint8"), ("signatureType", "uint8"),
                ("timestamp", "uint256"), ("metadata", "bytes32"), ("builder", "bytes32")]  # fmt: skip
ORDER_TYPE = "Order(" + ",".join(f"{t} {n}" for n, t in ORDER_FIELDS) + ")"
END_CURSOR = "LTE="


class Refused(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@dataclass
class Token:
    token_id: str
    tick: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal("5")
    neg_risk: bool = False
    market: str = "0x" + "00" * 32


@dataclass
class Resting:
    hash: str
    owner: str  # api key ("" for the emulator's own liquidity)
    maker: str
    token: str
    side: str  # BUY / SELL
    price: Decimal
    size: Decimal
    matched: Decimal = Decimal(0)
    status: str = "LIVE"
    order_type: str = "GTC"
    created_at: int = field(default_factory=lambda: int(time.time()))
    trades: list = field(default_factory=list)


def _b32(value: str) -> bytes:
    return bytes.fromhex(str(value or "0x0").removeprefix("0x").zfill(64))


def order_typed_data(order: dict, *, contract: str, version: str = "2") -> dict:
    side = {"BUY": 0, "SELL": 1}.get(order["side"], order["side"])  # the body says BUY / SELL, the struct 0 / 1
    message = {n: (_b32(order[n]) if t == "bytes32" else order[n] if t == "address" else int(order[n]))
               for n, t in ORDER_FIELDS if n != "side"} | {"side": int(side)}  # fmt: skip
    return {
        "primaryType": "Order",
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "Order": [{"name": n, "type": t} for n, t in ORDER_FIELDS]},
        "domain": {"name": "Polymarket CTF Exchange", "version": version, "chainId": CHAIN_ID,
                   "verifyingContract": contract},
        "message": message,
    }  # fmt: skip


def order_hash(order: dict, contract: str) -> str:
    encoded = encode_typed_data(full_message=order_typed_data(order, contract=contract))
    return "0x" + keccak(b"\x19" + encoded.version + encoded.header + encoded.body).hex()


def _recover(order: dict, contract: str, version: str = "2") -> str | None:
    try:
        return Account.recover_message(
            encode_typed_data(full_message=order_typed_data(order, contract=contract, version=version)),
            signature=order["signature"],
        )
    except Exception:
        return None


def _recover_1271(order: dict, contract: str) -> str | None:
    """The owner's address behind an ERC-7739 (TypedDataSign) wrapped signature of a deposit wallet."""
    raw = bytes.fromhex(order["signature"].removeprefix("0x"))
    if len(raw) < 65 + 64 + 2:
        return None
    inner, separator, contents = raw[:65], raw[65:97], raw[97:129]
    domain = keccak(abi_encode(["bytes32", "bytes32", "bytes32", "uint256", "address"], [
        keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
        keccak(text="Polymarket CTF Exchange"), keccak(text="2"), CHAIN_ID, contract]))  # fmt: skip
    message = order_typed_data(order, contract=contract)["message"]
    values = [keccak(text=ORDER_TYPE)] + [message[n] for n, _ in ORDER_FIELDS]
    expected_contents = keccak(abi_encode(["bytes32"] + [t for _, t in ORDER_FIELDS], values))
    if separator != domain or contents != expected_contents:
        return None
    sign_type = keccak(text="TypedDataSign(Order contents,string name,string version,uint256 chainId,"
                            "address verifyingContract,bytes32 salt)" + ORDER_TYPE)  # fmt: skip
    struct = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                sign_type,
                contents,
                keccak(text="DepositWallet"),
                keccak(text="1"),
                CHAIN_ID,
                order["signer"],
                b"\0" * 32,
            ],
        )
    )
    try:
        return Account._recover_hash(keccak(b"\x19\x01" + domain + struct), signature=inner)
    except Exception:
        return None


class ClobEmulator(LoopbackServer):
    """The CLOB in a thread of its own. `wallets` maps a proxy / Safe / deposit-wallet address to its owner EOA."""

    def __init__(self, *, tokens: list[Token], balances: dict[str, Decimal] | None = None,
                 wallets: dict[str, str] | None = None, lose_answers: float = 0.0, seed: int = 1,
                 port: int = 0) -> None:  # fmt: skip
        self.tokens = {t.token_id: t for t in tokens}
        self.wallets = {k.lower(): v.lower() for k, v in (wallets or {}).items()}
        self.collateral: dict[str, Decimal] = collections.defaultdict(Decimal)  # maker -> pUSD
        self.shares: dict[tuple[str, str], Decimal] = collections.defaultdict(Decimal)  # (maker, token) -> shares
        for maker, amount in (balances or {}).items():
            self.collateral[maker.lower()] = Decimal(amount)
        self.keys: dict[str, dict] = {}  # api key -> {"address", "secret", "passphrase"}
        self.resolved: dict[str, str] = {}  # condition id -> the winning token id, or "50-50"
        self.orders: dict[str, Resting] = {}
        self.trades: list[dict] = []
        self.lose_answers = lose_answers
        self.rng = random.Random(seed)
        self.stats = collections.Counter()
        self.posts: collections.Counter = collections.Counter()  # hash -> posts seen
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        self.middlewares = [self._refusals]
        self.bind_port = port
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- liquidity and balances -------------------------------------------------------------------
    def add_liquidity(self, token_id: str, side: str, price, size) -> None:
        """A resting order of the emulator's own market maker (no owner, nobody's balance)."""
        with self.lock:
            h = f"0xmm{next(self._ids):062x}"
            self.orders[h] = Resting(h, "", "0x" + "11" * 20, token_id, side, Decimal(str(price)), Decimal(str(size)))

    def requote(self, token_id: str, levels: list[tuple[str, object, object]]) -> None:
        """Replace the market maker's resting orders on one token by `levels` [(side, price, size)]."""
        with self.lock:
            for h in [
                h for h, o in self.orders.items() if o.token == token_id and o.owner == "" and o.status == "LIVE"
            ]:
                del self.orders[h]
        for side, price, size in levels:
            self.add_liquidity(token_id, side, price, size)

    def fund(self, maker: str, *, pusd=None, token: str | None = None, shares=None) -> None:
        with self.lock:
            if pusd is not None:
                self.collateral[maker.lower()] += Decimal(str(pusd))
            if token is not None:
                self.shares[(maker.lower(), token)] += Decimal(str(shares))

    def resolve(self, condition: str, winner: str) -> None:
        """The market `condition` resolves for token `winner` ("50-50": half each): its books close and the orders
        resting in it are canceled (CANCELED_MARKET_RESOLVED), as the CLOB does."""
        with self.lock:
            self.resolved[condition] = winner
            for o in self.orders.values():
                if o.status == "LIVE" and self.tokens[o.token].market == condition:
                    o.status = "CANCELED_MARKET_RESOLVED"

    # --- the server --------------------------------------------------------------------------------
    what = "the CLOB emulator"

    def routes(self, app: web.Application) -> None:
        for method, path, handler in [
            ("GET", "/time", self._time), ("GET", "/version", self._version), ("GET", "/ok", self._ok),
            ("POST", "/auth/api-key", self._create_key), ("GET", "/auth/derive-api-key", self._derive_key),
            ("GET", "/book", self._book), ("POST", "/books", self._books), ("GET", "/tick-size", self._tick_size),
            ("GET", "/neg-risk", self._neg_risk), ("POST", "/order", self._post_order),
            ("DELETE", "/order", self._cancel), ("GET", "/data/order/{hash}", self._get_order),
            ("GET", "/data/orders", self._open_orders), ("GET", "/data/trades", self._trades),
            ("GET", "/balance-allowance", self._balance), ("GET", "/markets/{condition}", self._get_market),
            ("GET", "/markets-by-token/{token}", self._market_by_token),
        ]:  # fmt: skip
            app.router.add_route(method, path, handler)

    @web.middleware
    async def _refusals(self, request, handler):
        try:
            return await handler(request)
        except Refused as exc:
            self.stats[f"refused_{exc.kind}"] += 1
            return web.json_response({"error": exc.message}, status=exc.status)

    # --- authentication ------------------------------------------------------------------------------
    def _l1(self, request) -> tuple[str, int]:
        h = request.headers
        address, signature, ts, nonce = (h.get(k) for k in ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP",
                                                             "POLY_NONCE"))  # fmt: skip
        if not (address and signature and ts):
            raise Refused(401, "L1 authentication needs POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP", "l1")
        typed = {
            "primaryType": "ClobAuth",
            "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                       {"name": "chainId", "type": "uint256"}],
                      "ClobAuth": [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                                   {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}]},
            "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
            "message": {"address": address, "timestamp": ts, "nonce": int(nonce or 0), "message": AUTH_MESSAGE},
        }  # fmt: skip
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
        except Exception:
            signer = None
        if signer is None or signer.lower() != address.lower():
            raise Refused(401, "Invalid L1 Request headers: the ClobAuth signature is not POLY_ADDRESS's", "l1")
        return address.lower(), int(nonce or 0)

    def _key_for(self, address: str, nonce: int) -> dict:
        seed = hashlib.sha256(f"{address}:{nonce}".encode()).digest()
        key = str(uuid.UUID(bytes=seed[:16]))
        record = {"apiKey": key, "secret": base64.urlsafe_b64encode(seed).decode(),
                  "passphrase": hashlib.sha256(seed).hexdigest()[:32]}  # fmt: skip
        self.keys[key] = {"address": address, "secret": record["secret"], "passphrase": record["passphrase"]}
        return record

    async def _create_key(self, request):
        address, nonce = self._l1(request)
        self.stats["keys_created"] += 1
        return web.json_response(self._key_for(address, nonce))

    async def _derive_key(self, request):
        address, nonce = self._l1(request)
        return web.json_response(self._key_for(address, nonce))

    async def _l2(self, request) -> tuple[str, dict, str]:
        h = request.headers
        key = h.get("POLY_API_KEY", "")
        record = self.keys.get(key)
        if record is None:
            raise Refused(401, "Unauthorized/Invalid api key", "api_key")
        if (
            h.get("POLY_PASSPHRASE") != record["passphrase"]
            or (h.get("POLY_ADDRESS") or "").lower() != record["address"]
        ):
            raise Refused(401, "Unauthorized: the passphrase or address does not match the API key", "api_key")
        body = await request.text()
        message = f"{h.get('POLY_TIMESTAMP', '')}{request.method}{request.path}{body}"
        expected = base64.urlsafe_b64encode(
            hmac.new(base64.urlsafe_b64decode(record["secret"]), message.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, h.get("POLY_SIGNATURE", "")):
            raise Refused(401, "Unauthorized: the L2 HMAC signature does not match the request", "hmac")
        return key, record, body

    # --- market data -----------------------------------------------------------------------------------
    def _token(self, token_id: str) -> Token:
        token = self.tokens.get(str(token_id))
        if token is None or token.market in self.resolved:
            raise Refused(404, f"No orderbook exists for the requested token id {token_id}", "token")
        return token

    async def _market_by_token(self, request):
        token = self.tokens.get(request.match_info["token"])
        if token is None:
            raise Refused(404, "market not found", "market")
        pair = [t.token_id for t in self.tokens.values() if t.market == token.market]
        return web.json_response({"condition_id": token.market, "primary_token_id": pair[0],
                                  "secondary_token_id": pair[-1]})  # fmt: skip

    async def _get_market(self, request):
        """GET /markets/{condition_id}, the fields a resolution is read from (closed, tokens[].winner)."""
        condition = request.match_info["condition"]
        tokens = [t for t in self.tokens.values() if t.market == condition]
        if not tokens:
            raise Refused(404, "market not found", "market")
        with self.lock:
            winner = self.resolved.get(condition)
        closed = winner is not None
        return web.json_response({
            "condition_id": condition, "active": not closed, "closed": closed, "accepting_orders": not closed,
            "is_50_50_outcome": winner == "50-50", "neg_risk": tokens[0].neg_risk,
            "minimum_tick_size": float(tokens[0].tick), "minimum_order_size": float(tokens[0].min_size),
            "tokens": [{"token_id": t.token_id, "outcome": "Yes" if i == 0 else "No",
                        "price": (1 if winner == t.token_id else 0) if closed and winner != "50-50" else 0.5,
                        "winner": winner == t.token_id} for i, t in enumerate(tokens)],
        })  # fmt: skip

    def _summary(self, token: Token) -> dict:
        live = [o for o in self.orders.values() if o.token == token.token_id and o.status == "LIVE"]

        def levels(side):
            book = collections.defaultdict(Decimal)
            for o in live:
                if o.side == side:
                    book[o.price] += o.size - o.matched
            return [{"price": str(p), "size": str(s)} for p, s in sorted(book.items(), reverse=side == "SELL") if s]

        return {"market": token.market, "asset_id": token.token_id, "timestamp": str(int(time.time() * 1000)),
                "hash": "", "bids": levels("BUY"), "asks": levels("SELL"), "min_order_size": str(token.min_size),
                "tick_size": str(token.tick), "neg_risk": token.neg_risk, "last_trade_price": "0.5"}  # fmt: skip

    async def _book(self, request):
        with self.lock:
            return web.json_response(self._summary(self._token(request.query.get("token_id", ""))))

    async def _books(self, request):
        wanted = json.loads(await request.text() or "[]")
        with self.lock:
            return web.json_response([self._summary(self._token(p["token_id"])) for p in wanted])

    async def _tick_size(self, request):
        return web.json_response({"minimum_tick_size": float(self._token(request.query.get("token_id", "")).tick)})

    async def _neg_risk(self, request):
        return web.json_response({"neg_risk": self._token(request.query.get("token_id", "")).neg_risk})

    async def _time(self, request):
        return web.json_response(int(time.time()))

    async def _version(self, request):
        return web.json_response({"version": 2})

    async def _ok(self, request):
        return web.json_response("OK")

    # --- orders ------------------------------------------------------------------------------------------
    def _check_signature(self, order: dict, token: Token) -> None:
        for stale in ("nonce", "feeRateBps", "taker"):
            if stale in order:
                raise Refused(400, f"order_version_mismatch: a V1 order ({stale!r}); sign a CTF Exchange V2 order",
                              "version")  # fmt: skip
        contract = NEG_RISK_EXCHANGE_V2 if token.neg_risk else EXCHANGE_V2
        other = EXCHANGE_V2 if token.neg_risk else NEG_RISK_EXCHANGE_V2
        kind = int(order.get("signatureType", -1))
        signer, maker = str(order["signer"]).lower(), str(order["maker"]).lower()
        if kind not in (0, 1, 2, 3):
            raise Refused(400, f"invalid signature type {kind}", "signature_type")
        if kind == 3:
            owner = _recover_1271(order, contract)
            if signer != maker or self.wallets.get(maker) is None:
                raise Refused(
                    400, "invalid signature: a deposit-wallet order is signed by the wallet it spends", "signer"
                )
            if owner is None or owner.lower() != self.wallets[maker]:
                raise Refused(400, "invalid signature: the deposit wallet's owner did not sign this order", "signature")
            return
        recovered = (_recover(order, contract) or "").lower()
        if recovered != signer:
            for version, where, what in (
                ("1", contract, "version 1 of the domain"),
                ("2", other, "the other exchange"),
            ):
                if (_recover(order, where, version) or "").lower() == signer:
                    raise Refused(400, f"invalid signature: signed for {what}, not {contract} version 2", "domain")
            raise Refused(400, "invalid signature: the EIP-712 signer is not the order's signer", "signature")
        if kind == 0 and signer != maker:
            raise Refused(400, "invalid signature type: an EOA order has signer = maker", "signature_type")
        if kind in (1, 2) and self.wallets.get(maker) != signer:
            raise Refused(
                400, f"invalid signature type {kind}: {maker} is not a wallet the signer owns", "signature_type"
            )

    async def _post_order(self, request):
        key, _record, body = await self._l2(request)
        posted = json.loads(body)
        order, order_type = posted["order"], posted.get("orderType", "GTC")
        if posted.get("owner") != key:
            raise Refused(400, "the order's owner is not the API key that posts it", "owner")
        token = self._token(order["tokenId"])
        self._check_signature(order, token)
        h = order_hash(order, NEG_RISK_EXCHANGE_V2 if token.neg_risk else EXCHANGE_V2)
        with self.lock:
            self.posts[h] += 1
            if h in self.orders:
                self.stats["duplicate_posts"] += 1
                raise Refused(400, f"order {h} is already placed", "duplicate")
            answer = self._execute(h, key, order, order_type, token)
        self.stats["orders_accepted"] += 1
        if self.rng.random() < self.lose_answers:
            self.stats["answers_lost"] += 1
            request.transport.close()  # executed, and the answer never leaves
            raise web.HTTPServiceUnavailable()
        return web.json_response(answer)

    def _execute(self, h: str, key: str, order: dict, order_type: str, token: Token) -> dict:
        side = order["side"]
        maker_amount, taker_amount = Decimal(order["makerAmount"]) / UNITS, Decimal(order["takerAmount"]) / UNITS
        size = taker_amount if side == "BUY" else maker_amount
        price = (maker_amount / taker_amount) if side == "BUY" else (taker_amount / maker_amount)
        if price % token.tick:
            raise Refused(400, f"invalid price ({price}): not a multiple of the tick size {token.tick}", "tick")
        if size < token.min_size:
            raise Refused(400, f"order size {size} below the minimum of {token.min_size}", "size")
        maker = str(order["maker"]).lower()
        if side == "BUY" and self.collateral[maker] < maker_amount:
            raise Refused(400, f"not enough balance / allowance: {self.collateral[maker]} pUSD, {maker_amount} needed",
                          "funds")  # fmt: skip
        if side == "SELL" and self.shares[(maker, token.token_id)] < size:
            raise Refused(400, "not enough balance / allowance of the outcome token", "funds")
        resting = Resting(h, key, maker, token.token_id, side, price, size, order_type=order_type)
        opposite = sorted((o for o in self.orders.values() if o.token == token.token_id and o.status == "LIVE"
                           and o.side != side and (o.price <= price if side == "BUY" else o.price >= price)),
                          key=lambda o: (o.price if side == "BUY" else -o.price, o.created_at))  # fmt: skip
        if order_type == "FOK" and sum(o.size - o.matched for o in opposite) < size:
            return {"success": False, "errorMsg": "order couldn't be fully filled. FOK orders are fully filled or "
                    "killed.", "orderID": h, "status": "unmatched"}  # fmt: skip
        trade_ids, making, taking = [], Decimal(0), Decimal(0)
        for other in opposite:
            left = size - resting.matched
            if left <= 0:
                break
            qty = min(left, other.size - other.matched)
            trade_id = str(uuid.uuid4())
            self._trade(trade_id, resting, other, qty)
            trade_ids.append(trade_id)
            cost = qty * other.price
            making, taking = (making + cost, taking + qty) if side == "BUY" else (making + qty, taking + cost)
        filled = resting.matched
        if filled >= size:
            resting.status, status = "MATCHED", "matched"
        elif order_type in ("FAK", "FOK"):
            resting.status, status = ("CANCELED", "matched") if filled else ("CANCELED", "unmatched")
        else:
            status = "matched" if filled else "live"
        self.orders[h] = resting
        return {"success": True, "errorMsg": "", "orderID": h, "status": status, "makingAmount": str(making),
                "takingAmount": str(taking), "transactionsHashes": [], "tradeIDs": trade_ids}  # fmt: skip

    def _trade(self, trade_id: str, taker: Resting, maker: Resting, qty: Decimal) -> None:
        price = maker.price
        taker.matched += qty
        maker.matched += qty
        if maker.matched >= maker.size:
            maker.status = "MATCHED"
        for o, buys in ((taker, taker.side == "BUY"), (maker, maker.side == "BUY")):
            if o.owner:  # our users' balances move; the emulator's own liquidity is bottomless
                self.collateral[o.maker] += -qty * price if buys else qty * price
                self.shares[(o.maker, o.token)] += qty if buys else -qty
            o.trades.append(trade_id)
        token = self.tokens[taker.token]
        self.trades.append({
            "id": trade_id, "taker_order_id": taker.hash, "market": token.market, "asset_id": taker.token,
            "side": taker.side, "size": str(qty), "fee_rate_bps": "0", "price": str(price), "status": "CONFIRMED",
            "match_time": str(int(time.time())), "last_update": str(int(time.time())), "outcome": "Yes",
            "owner": taker.owner, "maker_address": taker.maker, "bucket_index": 0, "trader_side": "TAKER",
            "transaction_hash": "0x" + hashlib.sha256(trade_id.encode()).hexdigest(),
            "maker_orders": [{"order_id": maker.hash, "owner": maker.owner, "maker_address": maker.maker,
                              "matched_amount": str(qty), "price": str(price), "fee_rate_bps": "0",
                              "asset_id": maker.token, "outcome": "Yes", "side": maker.side}],
        })  # fmt: skip

    def _order_json(self, o: Resting) -> dict:
        token = self.tokens[o.token]
        return {"id": o.hash, "status": o.status, "owner": o.owner, "maker_address": o.maker, "market": token.market,
                "asset_id": o.token, "side": o.side, "original_size": str(o.size), "size_matched": str(o.matched),
                "price": str(o.price), "outcome": "Yes", "expiration": "0", "order_type": o.order_type,
                "associate_trades": list(o.trades), "created_at": o.created_at}  # fmt: skip

    async def _get_order(self, request):
        key, _, _ = await self._l2(request)
        with self.lock:
            o = self.orders.get(request.match_info["hash"])
            if o is None or o.owner != key:
                raise Refused(404, "order not found", "order")
            return web.json_response(self._order_json(o))

    async def _open_orders(self, request):
        key, _, _ = await self._l2(request)
        asset = request.query.get("asset_id")
        with self.lock:
            data = [self._order_json(o) for o in self.orders.values()
                    if o.owner == key and o.status == "LIVE" and (not asset or o.token == asset)]  # fmt: skip
        return web.json_response({"data": data, "next_cursor": END_CURSOR, "limit": 500, "count": len(data)})

    async def _trades(self, request):
        key, _record, _ = await self._l2(request)
        q = request.query
        with self.lock:
            data = []
            for t in self.trades:
                ours = t["owner"] == key
                as_maker = any(m["owner"] == key for m in t["maker_orders"])
                if not (ours or as_maker) or (q.get("asset_id") and t["asset_id"] != q["asset_id"]):
                    continue
                if q.get("after") and int(t["match_time"]) < int(q["after"]):
                    continue
                data.append({**t, "trader_side": "TAKER" if ours else "MAKER"})
        return web.json_response({"data": data, "next_cursor": END_CURSOR, "limit": 500, "count": len(data)})

    async def _cancel(self, request):
        key, _, body = await self._l2(request)
        order_id = json.loads(body or "{}").get("orderID", "")
        with self.lock:
            o = self.orders.get(order_id)
            if o is None or o.owner != key:
                return web.json_response({"canceled": [], "not_canceled": {order_id: "order not found"}})
            if o.status != "LIVE":
                return web.json_response({"canceled": [], "not_canceled": {order_id: "order already " + o.status}})
            o.status = "CANCELED"
        return web.json_response({"canceled": [order_id], "not_canceled": {}})

    async def _balance(self, request):
        _key, record, _ = await self._l2(request)
        q = request.query
        with self.lock:
            owned = [wallet for wallet, owner in self.wallets.items() if owner == record["address"]]
            wallet = q.get("signature_type", "0") not in ("0", "-1") and owned
            maker = owned[0] if wallet else record["address"]  # signature type 0: the key's own address holds it
            if q.get("asset_type") == "CONDITIONAL":
                balance = self.shares[(maker, q.get("token_id", ""))]
            else:
                balance = self.collateral[maker]
        units = str(int(balance * UNITS))
        return web.json_response({"balance": units, "allowances": {EXCHANGE_V2: str(2**256 - 1),
                                                                   NEG_RISK_EXCHANGE_V2: str(2**256 - 1)}})  # fmt: skip
