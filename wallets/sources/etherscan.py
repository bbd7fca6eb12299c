"""Etherscan API V2 for Polygon (`chainid=137`): outcome-token transfers joined with collateral transfers by hash
(pUSD since Polymarket's CLOB V2 cutover, USDC.e before it).

A Polymarket fill settles as an ERC-1155 transfer of the outcome token
(`token1155tx`) and a USDC transfer the other way (`tokentx`) in the same
transaction; one transaction can carry several fills. The cursor is
`block:<n>` of the newest transfer seen; a scan reads from that block minus
ETHERSCAN_OVERLAP_BLOCKS (reorgs, indexer lag). `tokentx` is asked only when
`token1155tx` shows a transfer not stored yet, for just those blocks, so an
idle wallet costs one call.

Envelope: `{"status", "message", "result"}`. Status "0" with "No transactions
found" is an empty answer, not an error; NOTOK with rate-limit text backs the
whole source off; a spent daily allowance stops the source until it resets
(00:00 UTC); anything else is an error for this scan. Pages hold at most 1,000
records, and Etherscan pages no deeper than page x offset = 10,000: past that
the window restarts from the last block read.
"""

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from core.fields import AMOUNT_MAX

from .base import (
    MAX_TOKEN_ID,
    ScanResult,
    Source,
    SourceDailyLimit,
    SourceError,
    SourceRateLimited,
    SourceTrade,
    address,
    cursor_value,
    next_utc_midnight,
    tx_hash,
    unix_time,
    with_ordinals,
)  # fmt: skip

PAGE = 1000
LATEST_BLOCK = 9_999_999_999  # "up to the newest block" (Polygon passes 99,999,999 in a few years)
MAX_WINDOW = 10_000
_DAILY = re.compile(r"daily|per day", re.IGNORECASE)
_RATE = re.compile(r"rate limit|too many", re.IGNORECASE)


def unwrap(answer: object) -> list[dict]:
    """The rows of an Etherscan answer, or the error it stands for."""
    if not isinstance(answer, dict) or "status" not in answer:
        raise SourceError(f"etherscan: not an API answer: {str(answer)[:200]!r}")
    if str(answer["status"]) == "1":
        result = answer.get("result")
        if not isinstance(result, list):
            raise SourceError(f"etherscan: status 1 without a list: {str(result)[:200]!r}")
        return result
    message, result = str(answer.get("message", "")), answer.get("result")
    if message.startswith("No transactions found") or result == []:
        return []
    text = str(result)
    if _DAILY.search(text):
        raise SourceDailyLimit(f"etherscan: {text}", until=next_utc_midnight())
    if _RATE.search(text):
        raise SourceRateLimited(f"etherscan: {text}", retry_after=1.0)
    raise SourceError(f"etherscan: {message}: {text[:200]}")


def _integer(row: dict, name: str, *, what: str, digits: int = 78) -> int:
    """A non-negative decimal integer field (token amounts are uint256: at most 78 digits)."""
    value = row.get(name)
    if not isinstance(value, str | int) or not str(value).isdigit() or len(str(value)) > digits:
        raise SourceError(f"{what}: {name} is not a whole number ({str(value)[:80]!r})")
    return int(value)


def check_transfer(row: object, n: int, *, cash: bool) -> dict:
    """One `token1155tx` (or, with `cash`, `tokentx`) row validated: the SourceError names the field."""
    what = f"etherscan: {'tokentx' if cash else 'token1155tx'} row {n}"
    if not isinstance(row, dict):
        raise SourceError(f"{what} is not an object")
    tx_hash(row.get("hash"), what=what, field_name="hash")
    address(row.get("from"), what=what, field_name="from")
    address(row.get("to"), what=what, field_name="to")
    if cash:
        address(row.get("contractAddress"), what=what, field_name="contractAddress")
        _integer(row, "value", what=what)
        if not 0 <= _integer(row, "tokenDecimal", what=what, digits=2) <= 36:
            raise SourceError(f"{what}: tokenDecimal is out of range")
    else:
        _integer(row, "blockNumber", what=what, digits=12)
        unix_time(row.get("timeStamp"), what=what, field_name="timeStamp")
        _integer(row, "tokenValue", what=what)
        _integer(row, "tokenID", what=what, digits=MAX_TOKEN_ID)
    return row


def _legs(address: str, transfers: list[dict]) -> list[tuple[dict, str, Decimal, str]]:
    """(row, side, size, dedup key) of each outcome-token transfer to or from `address`, in the order read."""
    me = address.lower()
    token_scale = Decimal(10) ** settings.POLYMARKET_TOKEN_DECIMALS
    legs, keys = [], []
    for n, row in enumerate(transfers):
        check_transfer(row, n, cash=False)
        if row["to"].lower() == me:
            side = "buy"
        elif row["from"].lower() == me:
            side = "sell"
        else:
            continue
        size = Decimal(row["tokenValue"]) / token_scale
        if size <= 0:
            continue
        if size >= AMOUNT_MAX:
            raise SourceError(f"etherscan: token1155tx row {n}: tokenValue is beyond what an amount can hold")
        legs.append((row, side, size))
        keys.append(f"es:{me}:{row['hash'].lower()}:{row['tokenID']}:{row['from'].lower()}:{row['to'].lower()}:"
                    f"{row['tokenValue']}")  # fmt: skip
    return [(row, side, size, key) for (row, side, size), key in zip(legs, with_ordinals(keys), strict=True)]


def join_fills(address: str, transfers: list[dict], cash: list[dict], logs: list[dict] = ()) -> list[SourceTrade]:
    """Fills of `address`: each outcome-token transfer priced by the USDC that moved the other way in its tx."""
    return _priced(address, _legs(address, transfers), cash, logs)


def ambiguous(legs: list[tuple[dict, str, Decimal, str]]) -> set[str]:
    """Transactions in which one direction moved more than one outcome token: one collateral sum against several
    tokens, which a pro-rata share would price at one average instead of each token's own price."""
    tokens: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row, side, _, _ in legs:
        tokens[(row["hash"].lower(), side)].add(str(row["tokenID"]))
    return {tx for (tx, _), ids in tokens.items() if len(ids) > 1}


def _log_prices(address: str, logs: list[dict]) -> dict[tuple[str, str, str], Decimal]:
    """(tx, side, token) -> price, from the V2 exchanges' OrderFilled logs of the wallet's own orders."""
    from .orderfilled import fill_of

    cash: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    shares: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for raw in logs:
        fill = fill_of(address, raw)
        if fill is None:
            continue
        key = (fill.tx_hash, fill.side, fill.asset)
        cash[key] += fill.price * fill.size
        shares[key] += fill.size
    return {key: (cash[key] / shares[key]).quantize(Decimal("0.000001")) for key in shares}


def _priced(address: str, legs: list[tuple[dict, str, Decimal, str]], cash: list[dict],
            logs: list[dict] = ()) -> list[SourceTrade]:  # fmt: skip
    """The legs as fills, each priced by its transaction's collateral legs: pUSD from the CLOB V2 cutover on
    (POLYMARKET_V2_CUTOVER_TS), USDC.e or native USDC before it.

    Several fills in one direction in one transaction share its USDC pro rata
    (one price for them all). A token transfer with no USDC against it is not a
    trade (a split, merge, redemption or gift) and is left out. Where one direction of a transaction moved
    several tokens (`ambiguous`), the wallet's OrderFilled logs of it, when given, price each token.
    """
    me = address.lower()
    pusd, usdc = {settings.POLYGON_PUSD_CONTRACT.lower()}, {c.lower() for c in settings.POLYGON_USDC_CONTRACTS}
    v2_era = {row["hash"].lower(): int(row["timeStamp"]) >= settings.POLYMARKET_V2_CUTOVER_TS for row, *_ in legs}
    paid: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # (tx, side) -> collateral
    for n, row in enumerate(cash):
        check_transfer(row, n, cash=True)
        tx = row["hash"].lower()
        # The collateral of the transaction's era only: after the cutover a USDC.e leg beside a pUSD one is a wrap
        # into pUSD (the onramp), not the price.
        if row["contractAddress"].lower() not in (pusd if v2_era.get(tx, True) else usdc):
            continue
        value = Decimal(row["value"]) / Decimal(10) ** int(row.get("tokenDecimal") or 6)
        if row["from"].lower() == me:
            paid[(tx, "buy")] += value
        elif row["to"].lower() == me:
            paid[(tx, "sell")] += value
    tokens: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row, side, size, _ in legs:
        tokens[(row["hash"].lower(), side)] += size
    by_log = _log_prices(address, list(logs)) if logs else {}
    unclear = ambiguous(legs)
    trades = []
    for row, side, size, key in legs:
        tx = row["hash"].lower()
        cash_total = paid.get((tx, side))
        if not cash_total:
            continue
        price = (cash_total / tokens[(tx, side)]).quantize(Decimal("0.000001"))
        if tx in unclear and (tx, side, str(row["tokenID"])) in by_log:
            price = by_log[(tx, side, str(row["tokenID"]))]
        if not 0 < price < AMOUNT_MAX:
            raise SourceError(f"etherscan: transaction {tx} prices its fill at {price}")
        trades.append(SourceTrade(
            dedup_key=key, tx_hash=tx, block_number=int(row["blockNumber"]),
            traded_at=datetime.fromtimestamp(int(row["timeStamp"]), tz=UTC), market=row.get("contractAddress", ""),
            asset=str(row["tokenID"]), title=row.get("tokenName", "")[:300], side=side,
            price=price, size=size, raw=row,
        ))  # fmt: skip
    return trades


class EtherscanPolygon(Source):
    name = "etherscan"

    def _params(self, **params) -> dict:
        base = {"chainid": settings.ETHERSCAN_CHAIN_ID}
        if settings.ETHERSCAN_API_KEY:
            base["apikey"] = settings.ETHERSCAN_API_KEY
        return base | params

    def present_cursor(self, address: str) -> str:
        answer = self.get_json(self.base_url, self._params(module="proxy", action="eth_blockNumber"))
        if isinstance(answer, dict) and "status" in answer:
            unwrap(answer)  # an error envelope instead of the JSON-RPC answer
        try:
            return f"block:{int(answer['result'], 16)}"
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"etherscan: no block number in {str(answer)[:200]!r}") from exc

    def _walk(self, action: str, address: str, start: int, end: int | None) -> tuple[list[dict], bool]:
        """Every row from block `start` (to `end`), and whether all were read (False: the scan's budget ran out)."""
        rows, page = [], 1
        while True:
            batch = unwrap(self.get_json(self.base_url, self._params(
                module="account", action=action, address=address, startblock=start,
                endblock=end if end is not None else LATEST_BLOCK, page=page, offset=PAGE, sort="asc",
            )))  # fmt: skip
            rows.extend(batch)
            if len(batch) < PAGE:
                return rows, True
            if self.scan_budget_spent():
                return rows, False
            page += 1
            if page * PAGE > MAX_WINDOW:  # Etherscan pages no deeper: go on from the last block read
                last = _integer(batch[-1], "blockNumber", what=f"etherscan: {action}", digits=12)
                if last <= start:
                    raise SourceError(f"etherscan: more than {MAX_WINDOW} {action} rows in block {last}: "
                                      "Etherscan pages no deeper, so they cannot all be read")  # fmt: skip
                start, page = last, 1
                rows = [r for r in rows if int(r["blockNumber"]) < start]

    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        last = cursor_value(cursor, "block")
        if last is None:
            return ScanResult(cursor=self.present_cursor(address))
        self.begin_scan()
        transfers, complete = self._walk("token1155tx", address, max(0, last - settings.ETHERSCAN_OVERLAP_BLOCKS), None)
        legs = _legs(address, transfers)  # validates every row first
        newest = max((int(r["blockNumber"]) for r in transfers), default=last)
        if not complete:  # cut short by the scan's budget: only blocks before the last one were read whole
            newest -= 1
            if newest <= last:
                raise SourceError(f"etherscan: more transfers since block {last} than one scan may read "
                                  "(WALLET_SCAN_MAX_PAGES, WALLET_SCAN_MAX_BYTES): raise them")  # fmt: skip
        if not transfers:
            return ScanResult(cursor=f"block:{max(last, newest)}")
        keys = [key for *_, key in legs]
        stored = known(keys)
        fresh = {row["hash"].lower() for row, _, _, key in legs if key not in stored}
        if not fresh:
            return ScanResult(cursor=f"block:{max(last, newest)}")
        blocks = [int(r["blockNumber"]) for r in transfers if r["hash"].lower() in fresh]
        cash, cash_complete = self._walk("tokentx", address, min(blocks), max(blocks))
        if not cash_complete:
            raise SourceError("etherscan: the USDC legs of the new fills are more than one scan may read")
        new_legs = [leg for leg in legs if leg[0]["hash"].lower() in fresh]
        logs = self._order_filled(address, new_legs) if ambiguous(new_legs) else []
        return ScanResult(trades=_priced(address, new_legs, cash, logs), cursor=f"block:{max(last, newest)}")

    def _order_filled(self, address: str, legs: list) -> list[dict]:
        """The wallet's OrderFilled logs (topic 2: the order's maker) over the ambiguous transactions' blocks."""
        from .orderfilled import TOPIC, topic_of

        blocks = [int(row["blockNumber"]) for row, *_ in legs if row["hash"].lower() in ambiguous(legs)]
        return unwrap(self.get_json(self.base_url, self._params(
            module="logs", action="getLogs", fromBlock=min(blocks), toBlock=max(blocks), topic0=TOPIC,
            topic2=topic_of(address), topic0_2_opr="and",
        )))  # fmt: skip
