"""manage.py run_scanner: detect triangles on one venue account and open cycles for its strategies."""

import signal

from django.core.management.base import BaseCommand, CommandError

from core.memory import freeze_loaded_objects
from core.resilience import Outages
from cycles.scanner import Scanner
from exchanges.models import Exchange


class Command(BaseCommand):
    help = "Hold the venue's market data in memory, re-score on every update, open cycles that pass."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", default="paper")
        parser.add_argument("--interval", type=float, default=0.1, help="seconds between passes")
        parser.add_argument("--passes", type=int, default=0, help="stop after this many passes (0: run until stopped)")

    def handle(self, *args, **opts):
        signal.signal(signal.SIGTERM, _stop)  # a supervisor's stop ends the run like Ctrl-C: statistics printed
        outages = Outages("scanner")  # PostgreSQL or Redis away at start-up too: waited for, never fatal
        exchange = outages.guard(lambda: Exchange.objects.filter(name=opts["exchange"]).first())
        if exchange is None:
            raise CommandError(f"No exchange account named {opts['exchange']!r}; run `make run` or setup_demo first.")
        scanner = outages.guard(lambda: Scanner(exchange))
        if not scanner.table.markets:
            raise CommandError(f"{exchange.name} has no markets; run `manage.py sync_markets {exchange.name}`.")
        strategies = outages.guard(scanner.strategies)
        outages.guard(scanner.warm_up)
        freeze_loaded_objects()  # no full collection walks them again between a tick and its order
        self.stdout.write(
            f"scanning {len(scanner.table)} directed triangles over {len(scanner.table.markets)} markets of "
            f"{exchange.name} for {len(strategies)} strategies: {', '.join(s.name for s in strategies) or 'none'}"
        )
        try:
            stats = scanner.run(interval=opts["interval"], passes=opts["passes"], outages=outages)
        except KeyboardInterrupt:
            stats = scanner.stats
        self.stdout.write(
            f"{stats.passes} passes, {stats.updates} ticker updates, {stats.candidates} candidates, "
            f"{stats.stale} too old, {stats.walked_out} refused by the depth walk, {stats.limited} at the slot limit, "
            f"{len(stats.cycles)} cycles opened"
        )


def _stop(signum, frame):
    raise KeyboardInterrupt
