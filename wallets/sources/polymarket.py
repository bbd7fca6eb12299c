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
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from .base import ScanResult, Source, SourceError, SourceTrade, cursor_value, with_ordinals

V1_PAGE = 500
V1_MAX_OFFSET = 10_000
V2_PAGE = 1000


def _field(row: dict, camel: str, snake: str, default=None):
    """v1 rows are camelCase; the v2 rows may use snake_case names for the same fields."""
    if camel in row:
        return row[camel]
    return row.get(snake, default)


def parse_activity(address: str, rows: list[dict]) -> list[SourceTrade]:
    """The TRADE rows of `address`'s activity as fills (rewards, redeems, rebates… are not trades).

    A row has no id of its own: its key is the wallet, the transaction and the
    fill's content, with an ordinal for identical fills in one transaction.
    """
    trades, keys = [], []
    for row in rows:
        if str(row.get("type", "TRADE")).upper() != "TRADE":
            continue
        side = str(row.get("side", "")).lower()
        if side not in ("buy", "sell"):
            raise SourceError(f"polymarket: a TRADE row without a side: {row!r:.200}")
        tx = _field(row, "transactionHash", "transaction_hash", "")
        asset = str(row.get("asset") or _field(row, "tokenId", "token_id", ""))
        size, price = Decimal(str(row["size"])), Decimal(str(row["price"]))
        if size <= 0:
            continue
        timestamp = int(_field(row, "timestamp", "block_timestamp"))
        keys.append(f"pm:{address.lower()}:{tx.lower()}:{asset}:{side}:{size.normalize()}:{price.normalize()}")
        trades.append(
            SourceTrade(
                dedup_key="",
                tx_hash=tx,
                block_number=None,
                traded_at=datetime.fromtimestamp(timestamp, tz=UTC),
                market=_field(row, "conditionId", "condition_id", ""),
                asset=asset,
                title=row.get("title", "")[:300],
                side=side,
                price=price,
                size=size,
                raw=row,
            )
        )
    return [replace(trade, dedup_key=key) for trade, key in zip(trades, with_ordinals(keys), strict=True)]


def _advance(cursor: str, trades: list[SourceTrade]) -> str:
    newest = max((int(t.traded_at.timestamp()) for t in trades), default=None)
    current = cursor_value(cursor, "ts")
    if newest is None:
        return cursor
    return f"ts:{max(newest, current or 0)}"


class PolymarketActivity(Source):
    name = "polymarket"

    def present_cursor(self, address: str) -> str:
        return f"ts:{int(time.time())}"

    def _start(self, cursor: str) -> int:
        since = cursor_value(cursor, "ts")
        return max(0, (since if since is not None else int(time.time())) - settings.POLYMARKET_OVERLAP_S)

    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        start, offset, rows = self._start(cursor), 0, []
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
            offset += V1_PAGE
            if offset > V1_MAX_OFFSET - V1_PAGE:  # the API pages no deeper: go on from the newest second read
                start, offset = int(_field(page[-1], "timestamp", "block_timestamp")), 0
                rows = [r for r in rows if int(_field(r, "timestamp", "block_timestamp")) < start]
        trades = parse_activity(address, rows)
        return ScanResult(trades=trades, cursor=_advance(cursor, trades))


class PolymarketActivityV2(PolymarketActivity):
    name = "polymarket_v2"

    def scan(self, address: str, cursor: str, known: Callable[[list[str]], set[str]]) -> ScanResult:
        params = {"user": address, "type": "TRADE", "start": self._start(cursor), "sort_direction": "ASC",
                  "limit": V2_PAGE}  # fmt: skip
        rows, page_cursor = [], None
        while True:
            answer = self.get_json(
                f"{self.base_url}/v2/activity", params | ({"cursor": page_cursor} if page_cursor else {})
            )
            if not isinstance(answer, dict) or "data" not in answer:
                raise SourceError(f"polymarket v2: expected a {{data, pagination}} envelope, got {str(answer)[:200]!r}")
            rows.extend(answer["data"] or [])
            page_cursor = (answer.get("pagination") or {}).get("next_cursor")
            if not page_cursor:
                break
        trades = parse_activity(address, rows)
        return ScanResult(trades=trades, cursor=_advance(cursor, trades))
