"""manage.py scan_snapshot: score every triangle of a Binance snapshot offline."""

import json
import math
import time
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cycles.detection import TriangleScorer, triangle_table
from exchanges.binance_format import parse_exchange_info, parse_tickers


def _read_json(path: str, what: str):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CommandError(f"{what} file {path} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} file {path} is not JSON: {exc}") from exc


class Command(BaseCommand):
    help = "Score every directed triangle of a Binance exchangeInfo + ticker snapshot at top of book after fees."

    def add_arguments(self, parser):
        parser.add_argument("--exchange-info", required=True, help="a Binance /api/v3/exchangeInfo answer")
        parser.add_argument("--tickers", required=True, help="a Binance /api/v3/ticker/24hr (or bookTicker) answer")
        parser.add_argument("--fee", type=Decimal, default=Decimal("0.001"), help="taker fee per leg (0.001 = 10 bps)")
        parser.add_argument("--start", help="only cycles starting (and ending) at this asset")
        parser.add_argument("--top", type=int, default=20, help="rows in the table (without --json)")
        parser.add_argument("--json", action="store_true", help="one JSON object with every triangle")

    def handle(self, *args, **opts):
        fee = opts["fee"]
        if not 0 <= fee < 1:
            raise CommandError(f"--fee must be between 0 and 1 (0.001 is 10 bps), not {fee}.")
        info = _read_json(opts["exchange_info"], "exchange info")
        tickers_raw = _read_json(opts["tickers"], "tickers")
        if not isinstance(info, dict) or "symbols" not in info:
            raise CommandError(f"{opts['exchange_info']} has no `symbols`: is it an exchangeInfo answer?")
        if not isinstance(tickers_raw, list):
            raise CommandError(f"{opts['tickers']} is not a list of tickers.")
        markets = parse_exchange_info(info, taker_fee=fee)
        tickers = parse_tickers(tickers_raw, ts_ms=0)
        started = time.perf_counter()
        table = triangle_table(markets)
        scorer = TriangleScorer(table)
        scorer.load(tickers)
        elapsed_ms = (time.perf_counter() - started) * 1000
        rows = [int(r) for r in scorer.scores.argsort()[::-1] if math.isfinite(scorer.scores[r])]
        start = opts["start"].upper() if opts["start"] else None
        if start is not None:
            if start not in table.asset_index:
                raise CommandError(f"No triangle can start at {start}: no tradable market of it is in the snapshot.")
            start_id = table.asset_index[start]
            rows = [r for r in rows if table.path[r, 0] == start_id]
        triangles = [dict(table.describe(r), net_rate=round(scorer.net_rate(r), 10)) for r in rows]
        if opts["json"]:
            summary = {
                "markets": len(table.markets), "assets": len(table.assets), "rows": len(table),
                "scored": len(triangles), "fee": float(fee), "start": start, "elapsed_ms": round(elapsed_ms, 2),
            }  # fmt: skip
            self.stdout.write(json.dumps(summary | {"triangles": triangles}))
            return
        self.stdout.write(
            f"{len(triangles)} directed triangles over {len(table.markets)} markets "
            f"({len(table.assets)} assets) scored in {elapsed_ms:.1f} ms; best {opts['top']}:"
        )
        for t in triangles[: opts["top"]]:
            legs = " ".join(f"{side} {symbol}" for side, symbol in zip(t["sides"], t["symbols"], strict=True))
            self.stdout.write(f"  {t['net_rate']:.6f}  {' > '.join(t['path']):<28} {legs}")
