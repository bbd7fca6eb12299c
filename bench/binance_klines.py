"""The Binance emulator's `GET /api/v3/klines` (weight 2, at most 1000 rows, interval 1m here), its one-minute
klines computed from the recorded `<symbol>@trade` messages by plain grouping: the reference a backfill is checked
against (developers.binance.com, spot REST market data: klines)."""

import json
from decimal import Decimal

from aiohttp import web

MINUTE_MS = 60_000


def klines_of(recording) -> list[list]:
    """Binance's kline rows (open time, OHLC, volume, close time, quote volume, trades, taker buy volumes, 0) for
    every minute the recording printed a trade in."""
    minutes: dict[int, list] = {}
    for _, stream, body in recording.messages:
        if not stream.endswith("@trade"):
            continue
        data = json.loads(body)["data"]
        price, size, minute = Decimal(data["p"]), Decimal(data["q"]), int(data["T"]) // MINUTE_MS * MINUTE_MS
        row = minutes.get(minute)
        if row is None:
            minutes[minute] = [price, price, price, price, size, price * size, 1]
            continue
        row[1], row[2], row[3] = max(row[1], price), min(row[2], price), price
        row[4], row[5], row[6] = row[4] + size, row[5] + price * size, row[6] + 1
    return [[m, str(o), str(h), str(low), str(c), str(v), m + MINUTE_MS - 1, str(qv), n, "0", "0", "0"]
            for m, (o, h, low, c, v, qv, n) in sorted(minutes.items())]  # fmt: skip


def klines_route(recordings: dict):
    """The handler, over the emulator's recordings (symbol -> recording)."""
    rows = {symbol: klines_of(recording) for symbol, recording in recordings.items()}

    async def klines(request: web.Request) -> web.Response:
        symbol, interval = request.query.get("symbol", ""), request.query.get("interval", "")
        if symbol not in rows:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        if interval != "1m":
            return web.json_response({"code": -1120, "msg": "Invalid interval."}, status=400)
        limit = int(request.query.get("limit", 500))
        if not 1 <= limit <= 1000:
            return web.json_response({"code": -1100, "msg": "Illegal characters found in parameter 'limit'."},
                                     status=400)  # fmt: skip
        start = int(request.query.get("startTime", 0))
        picked = [r for r in rows[symbol] if r[0] >= start][:limit]
        return web.json_response(picked, headers={"x-mbx-used-weight-1m": "2"})

    return klines
