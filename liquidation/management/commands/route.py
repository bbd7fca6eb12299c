"""manage.py route: the liquidation route a panic sell would take now, with expected proceeds and slippage."""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.cli import positive_float
from exchanges.models import Exchange
from exchanges.registry import get_venue
from liquidation.services import route_policy, venue_router


class Command(BaseCommand):
    help = "Show the best route from an asset to a base currency (books read from the venue)."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", required=True)
        parser.add_argument("--asset", required=True)
        parser.add_argument("--amount", type=positive_float, required=True, help="a finite number above zero")
        parser.add_argument("--base", nargs="+", default=None, help=f"default {settings.PANIC_BASE_CURRENCIES}")
        parser.add_argument("--max-hops", type=int, default=settings.PANIC_MAX_HOPS)
        parser.add_argument("--prefer", nargs="*", default=["BTC", "ETH", "BNB"])
        parser.add_argument("--max-slippage-bps", type=positive_float, default=settings.PANIC_MAX_SLIPPAGE_BPS)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        exchange = Exchange.objects.filter(name=opts["exchange"]).first()
        if exchange is None:
            raise CommandError(f"No exchange account named {opts['exchange']!r}.")
        if not 1 <= opts["max_hops"] <= 6:
            raise CommandError(f"--max-hops must be from 1 to 6, not {opts['max_hops']}.")
        asset = opts["asset"].upper()
        policy = route_policy(
            base_currencies=[b.upper() for b in (opts["base"] or settings.PANIC_BASE_CURRENCIES)],
            max_hops=opts["max_hops"], preferred_intermediaries=[p.upper() for p in opts["prefer"]],
            max_total_slippage_bps=opts["max_slippage_bps"],
        )  # fmt: skip
        started = time.perf_counter()
        try:
            router = venue_router(exchange, get_venue(exchange))
        except Exception as exc:
            raise CommandError(f"{exchange.name}: market data unavailable: {exc}") from exc
        result = router.route(asset, opts["amount"], policy, volatility_bps=router.spread_bps(asset))
        elapsed_ms = (time.perf_counter() - started) * 1000
        body = {
            "ok": result.ok, "reason": result.reason, "allowed_slippage_bps": round(result.allowed_slippage_bps, 2),
            "route": result.route.as_dict() if result.route else None,
            "best_refused": result.best_refused.as_dict() if result.best_refused else None,
            "books_read": len(router.books), "elapsed_ms": round(elapsed_ms, 1),
        }  # fmt: skip
        if opts["json"]:
            self.stdout.write(json.dumps(body))
        elif result.ok:
            r = result.route
            self.stdout.write(
                f"{' > '.join(r.path)}: {opts['amount']} {asset} -> {r.proceeds:.8f} {r.target} "
                f"(slippage {r.slippage_bps:.1f} bps, allowed {result.allowed_slippage_bps:.0f})"
            )
            for h in r.hops:
                self.stdout.write(
                    f"  {h.side} {h.symbol}: {h.amount_in:.8f} {h.from_asset} -> {h.amount_out:.8f} {h.to_asset}"
                )
        if not result.ok:
            raise CommandError(f"No route: {result.reason}")
