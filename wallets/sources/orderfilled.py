"""The CTF Exchange V2 `OrderFilled` log, decoded into the fills of the wallet whose order it fills.

The event of both V2 exchanges (CTF Exchange V2 0xE111180000d2663C0091e4f400237545B87B996B, Neg Risk CTF Exchange
V2 0xe2222d279d744050d28e00520010520000310F59; docs.polymarket.com/resources/contracts):

    OrderFilled(bytes32 indexed orderHash, address indexed maker, address indexed taker, uint8 side,
                uint256 tokenId, uint256 makerAmountFilled, uint256 takerAmountFilled, uint256 fee,
                bytes32 builder, bytes32 metadata)

One log per order filled: `maker` is the order's owner (the source of its funds), `side` the order's side (0 BUY:
it gives pUSD, makerAmountFilled, for takerAmountFilled outcome tokens; 1 SELL: the other way round), amounts in
6-decimal units (docs.polymarket.com, onchain order info). A taker order that fills several resting orders gets
one log of its own (its taker is the exchange) beside one per resting order (their taker is the taker order's
maker), so a wallet's fills are exactly the logs whose `maker` is the wallet: topic 2 filters them on the node.
"""

from datetime import UTC, datetime
from decimal import Decimal

from eth_abi import decode as abi_decode
from eth_utils import keccak

from core.fields import AMOUNT_MAX

from .base import SourceError, SourceTrade, tx_hash

SIGNATURE = "OrderFilled(bytes32,address,address,uint8,uint256,uint256,uint256,uint256,bytes32,bytes32)"
TOPIC = "0x" + keccak(text=SIGNATURE).hex()
EXCHANGES_V2 = ("0xE111180000d2663C0091e4f400237545B87B996B", "0xe2222d279d744050d28e00520010520000310F59")
DATA_TYPES = ["uint8", "uint256", "uint256", "uint256", "uint256", "bytes32", "bytes32"]
UNITS = Decimal(10) ** 6


def topic_of(address: str) -> str:
    """An address as an indexed topic (left-padded to 32 bytes)."""
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def _int(value, what: str) -> int:
    try:
        return int(value, 16) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise SourceError(f"{what} is not a number ({str(value)[:40]!r})") from None


def decode(log: dict) -> dict:
    """One log's fields, validated: the SourceError says what is wrong with it."""
    what = f"OrderFilled log {log.get('transactionHash', '?')}:{log.get('logIndex', '?')}"
    topics = log.get("topics") or []
    if len(topics) != 4 or str(topics[0]).lower() != TOPIC:
        raise SourceError(f"{what}: not an OrderFilled of the V2 exchanges")
    if str(log.get("address", "")).lower() not in {a.lower() for a in EXCHANGES_V2}:
        raise SourceError(f"{what}: emitted by {log.get('address')!r}, not a V2 exchange")
    try:
        side, token, maker_amount, taker_amount, fee, _builder, _metadata = abi_decode(
            DATA_TYPES, bytes.fromhex(str(log.get("data", "")).removeprefix("0x"))
        )
    except Exception as exc:
        raise SourceError(f"{what}: its data does not decode ({exc})") from None
    if side not in (0, 1) or not maker_amount or not taker_amount:
        raise SourceError(f"{what}: side {side}, amounts {maker_amount} / {taker_amount}")
    return {
        "tx": tx_hash(log.get("transactionHash"), what=what), "log_index": _int(log.get("logIndex"), what),
        "block": _int(log.get("blockNumber"), what), "order_hash": str(topics[1]).lower(),
        "maker": "0x" + str(topics[2])[-40:].lower(), "taker": "0x" + str(topics[3])[-40:].lower(),
        "side": "buy" if side == 0 else "sell", "token": str(token), "maker_amount": maker_amount,
        "taker_amount": taker_amount, "fee": fee, "removed": bool(log.get("removed")),
    }  # fmt: skip


def fill_of(wallet: str, log: dict, *, block_time: datetime | None = None, decoded: dict | None = None,
            ) -> SourceTrade | None:  # fmt: skip
    """The wallet's fill in `log` (None when the log fills someone else's order, or a reorg removed it);
    `decoded` is `decode(log)` when the caller has it already."""
    f = decoded or decode(log)
    if f["maker"] != wallet.lower() or f["removed"]:
        return None
    shares, cash = (
        (f["taker_amount"], f["maker_amount"]) if f["side"] == "buy" else (f["maker_amount"], f["taker_amount"])
    )
    size = Decimal(shares) / UNITS
    price = (Decimal(cash) / Decimal(shares)).quantize(Decimal("0.000001"))
    if not 0 < size < AMOUNT_MAX or not 0 < price < 1:
        raise SourceError(f"OrderFilled {f['tx']}:{f['log_index']}: size {size}, price {price}")
    return SourceTrade(
        dedup_key=f"of:{wallet.lower()}:{f['tx']}:{f['log_index']}", tx_hash=f["tx"], block_number=f["block"],
        traded_at=block_time or datetime.now(UTC), market=str(log.get("address", "")).lower(), asset=f["token"],
        title="", side=f["side"], price=price, size=size,
        raw={"order_hash": f["order_hash"], "taker": f["taker"], "fee": str(f["fee"]), "log_index": f["log_index"]},
    )  # fmt: skip


def log_of(
    *,
    tx: str,
    log_index: int,
    block: int,
    maker: str,
    taker: str,
    side: str,
    token: str,
    shares: int,
    cash: int,
    fee: int = 0,
    exchange: str = EXCHANGES_V2[0],
    order_hash: str | None = None,
) -> dict:
    """An OrderFilled log as a node answers it (eth_getLogs, eth_subscribe): the samples and the emulator's."""
    from eth_abi import encode as abi_encode

    maker_amount, taker_amount = (cash, shares) if side == "buy" else (shares, cash)
    data = abi_encode(DATA_TYPES, [0 if side == "buy" else 1, int(token), maker_amount, taker_amount, fee,
                                   b"\0" * 32, b"\0" * 32])  # fmt: skip
    order_hash = order_hash or "0x" + keccak(text=f"{tx}:{log_index}").hex()
    return {"address": exchange, "topics": [TOPIC, order_hash, topic_of(maker), topic_of(taker)],
            "data": "0x" + data.hex(), "blockNumber": hex(block), "transactionHash": tx, "logIndex": hex(log_index),
            "blockHash": "0x" + f"{block:064x}", "transactionIndex": "0x0", "removed": False}  # fmt: skip
