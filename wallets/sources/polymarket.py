"""Polymarket Data API: `/activity?user=…&type=TRADE` and its keyset-paginated `/v2/activity`.

The cursor is `ts:<unix seconds>` of the newest fill seen. A scan asks for
fills from that second minus POLYMARKET_OVERLAP_S, oldest first: all the fills
of one transaction share its timestamp, so they are always read together and
their ordinals (identical fills in one transaction) are stable from scan to
scan. v1 pages by offset (at most 500 a page, offsets up to 10,000; past that
the window restarts from the newest second seen); v2 follows
`pagination.next_cursor`, re-sending the same filters, until it is null.
"""

import time
from collections.abc import Callable
from dataclasses import replace

from django.conf import settings

from exchanges.parsing import number, text

from .base import (
    MAX_TOKEN_ID,
    ScanResult,
    Source,
    SourceError,
    SourceTrade,
    cursor_value,
    tx_hash,
    unix_time,
    with_ordinals,
)  # fmt: skip

V1_PAGE = 500
V1_MAX_OFFSET = 10_000
V2_PAGE = 1000


def _field(row: dict, camel: str, snake: str, default=None):
    """v1 rows are camelCase; the v2 rows may use snake_case names for the same fields."""
    if camel in row:
        return row[camel]
    return row.get(snake, default)


def parse_activity(watched: str, rows: list[dict]) -> list[SourceTrade]:
    """The TRADE rows of `watched`'s activity as fills (rewards, redeems, rebates… are not trades).

    Every row is validated before any is used: a row with no type, of another wallet, or with a missing,
    non-finite, non-positive or oversized field is a SourceError naming the field (the scan keeps its cursor).
    A row has no id of its own: its key is the wallet, the transaction and the fill's content, with an
    ordinal for identical fills in one transaction.
    """
    me = watched.lower()
    trades, keys = [], []
    for n, row in enumerate(rows):
        what = f"polymarket: activity row {n}"
        if not isinstance(row, dict):
            raise SourceError(f"{what} is not an object ({str(row)[:80]!r})")
        kind = row.get("type")
        if not isinstance(kind, str) or not kind:
            raise SourceError(f"{what} has no 'type'")
        owner = _field(row, "proxyWallet", "proxy_wallet")
        if owner is not None and str(owner).lower() != me:
            raise SourceError(f"{what}: proxyWallet {str(owner)[:42]} is not the watched wallet {watched}")
        if kind.upper() != "TRADE":
            continue
        side = str(row.get("side", "")).lower()
        if side not in ("buy", "sell"):
            raise SourceError(f"{what}: side is {str(row.get('side'))[:20]!r}, not BUY or SELL")
        tx = tx_hash(_field(row, "transactionHash", "transaction_hash"), what=what)
        asset = text(row, "asset", error=SourceError, what=what, max_length=MAX_TOKEN_ID, default="") or text(
            row, "tokenId" if "tokenId" in row else "token_id", error=SourceError, what=what, max_length=MAX_TOKEN_ID
        )
        size = number(row, "size", error=SourceError, what=what)
        price = number(row, "price", error=SourceError, what=what)
        if price > 1:
            raise SourceError(f"{what}: price {price} is above 1 (an outcome pays at most 1 USDC)")
        traded_at = unix_time(_field(row, "timestamp", "block_timestamp"), what=what, field_name="timestamp")
        market = _field(row, "conditionId", "condition_id", "") or ""
        if not isinstance(market, str) or len(market) > 200:
            raise SourceError(f"{what}: conditionId is not a market id")
        title = row.get("title") or ""
        keys.append(f"pm:{me}:{tx}:{asset}:{side}:{size.normalize()}:{price.normalize()}")
        trades.append(
            SourceTrade(
                dedup_key="", tx_hash=tx, block_number=None, traded_at=traded_at, market=market, asset=asset,
                title=str(title)[:300], side=side, price=price, size=size, raw=row,
            )
        )  # fmt: skip
    return [replace(trade, dedup_key=key) for trade, key in zip(trades, with_ordinals(keys), strict=True)]


def _advance(cursor: str, trades: list[SourceTrade], *, complete: bool = True) -> str:
    """The newest second read; after a scan cut short by its budget, the last second read whole (the one before)."""
    newest = max((int(t.traded_at.timestamp()) for t in trades), default=None)
    current = cursor_value(cursor, "ts")
    if newest is None:
        return cursor
    if not complete:
        newest -= 1
        if current is not None and newest <= current:
            raise SourceError(
                f"polymarket: more fills since {current} than one scan may read (WALLET_SCAN_MAX_PAGES "
                f"{settings.WALLET_SCAN_MAX_PAGES}, WALLET_SCAN_MAX_BYTES {settings.WALLET_SCAN_MAX_BYTES}): raise them"
            )
    return f"ts:{max(newest, current or 0)}"


class PolymarketActivity(Source):
    name = "polymarket"

    def present_cursor(self, address: str) -> str:
        return f"ts:{int(time.time())}"

    def _start(self, cursor: str) -> int:
        since = cursor_value(cursor, "ts")
        return max(0, (since if since is not None else int(time.time())) - settings.POLYMARKET_OVERLAP_S)

    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        self.begin_scan()
        start, offset, rows, complete = self._start(cursor), 0, [], True
        while True:
            page = self.get_json(f"{self.base_url}/activity", {
                "user": address, "type": "TRADE", "start": start, "sortBy": "TIMESTAMP", "sortDirection": "ASC",
                "limit": V1_PAGE, "offset": offset,
            })  # fmt: skip
            if not isinstance(page, list):
                raise SourceError(f"polymarket: expected a list of activity rows, got {str(page)[:200]!r}")
            rows.extend(page)
            if len(page) < V1_PAGE:
                break
            if self.scan_budget_spent():
                complete = False
                break
            offset += V1_PAGE
            if offset > V1_MAX_OFFSET - V1_PAGE:  # the API pages no deeper: go on from the newest second read
                newest = _row_second(page[-1])
                if newest <= start:
                    raise SourceError(
                        f"polymarket: more than {V1_MAX_OFFSET} fills at {newest} (one second): the API pages "
                        "no deeper, so they cannot all be read"
                    )
                start, offset = newest, 0
                rows = [r for r in rows if _row_second(r) < start]
        trades = parse_activity(address, rows)
        return ScanResult(trades=trades, cursor=_advance(cursor, trades, complete=complete))


def _row_second(row: object) -> int:
    value = _field(row, "timestamp", "block_timestamp") if isinstance(row, dict) else None
    try:
        return int(str(value))
    except ValueError:
        raise SourceError(f"polymarket: a row's timestamp is not a unix time ({str(value)[:40]!r})") from None


class PolymarketActivityV2(PolymarketActivity):
    name = "polymarket_v2"

    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        params = {"user": address, "type": "TRADE", "start": self._start(cursor), "sort_direction": "ASC",
                  "limit": V2_PAGE}  # fmt: skip
        self.begin_scan()
        rows, page_cursor, complete = [], None, True
        while True:
            answer = self.get_json(
                f"{self.base_url}/v2/activity", params | ({"cursor": page_cursor} if page_cursor else {})
            )
            if not isinstance(answer, dict) or not isinstance(answer.get("data", []), list):
                raise SourceError(f"polymarket v2: expected a {{data, pagination}} envelope, got {str(answer)[:200]!r}")
            if "data" not in answer:
                raise SourceError("polymarket v2: the envelope has no 'data'")
            rows.extend(answer["data"] or [])
            page_cursor = (answer.get("pagination") or {}).get("next_cursor")
            if not page_cursor:
                break
            if not isinstance(page_cursor, str) or len(page_cursor) > 1000:
                raise SourceError("polymarket v2: pagination.next_cursor is not a cursor")
            if self.scan_budget_spent():  # the rest is read by the next scan, from the last whole second
                complete = False
                break
        trades = parse_activity(address, rows)
        return ScanResult(trades=trades, cursor=_advance(cursor, trades, complete=complete))
