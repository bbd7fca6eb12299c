"""manage.py recover_cycles: after a crash, bring every cycle and order back to what the venue says."""

import json
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cycles.models import Cycle, Strategy
from cycles.recovery import RecoveryBusy, recover_cycles

ACTIONS = ("resumed", "unwound", "repaired", "reconciled", "adopted", "waiting", "operator")


class Command(BaseCommand):
    help = (
        "Flush buffered progress, check integrity, reconcile live orders with the venue, resume or unwind "
        "interrupted cycles, and print what was found. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report what would be done; change nothing")
        parser.add_argument("--strategy", help="only this strategy (by name)")
        parser.add_argument("--cycle", type=int, help="only this cycle (by id)")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        parser.add_argument(
            "--wait", type=float, default=None,
            help="seconds to keep resolving orders whose outcome is unknown (default: the grace window)",
        )  # fmt: skip
        parser.add_argument(
            "--stalled-after", type=float, default=0.0,
            help="treat an open cycle as interrupted once it has not moved for this long (default 0: after a "
            "crash nothing is running)",
        )  # fmt: skip

    def handle(self, *args, **opts):
        wait = opts["wait"] if opts["wait"] is not None else settings.ORDER_UNKNOWN_GRACE_S + 2
        progress = None if opts["json"] else _Progress(sys.stderr)
        try:
            report = recover_cycles(
                dry_run=opts["dry_run"], strategy=opts["strategy"], cycle_id=opts["cycle"],
                stall_s=opts["stalled_after"], wait_s=wait, progress=progress,
            )  # fmt: skip
        except (Strategy.DoesNotExist, Cycle.DoesNotExist, RecoveryBusy) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if progress:
                progress.done()
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), default=str))
            return
        title = "recover_cycles (dry run: nothing changed)" if report.dry_run else "recover_cycles"
        self.stdout.write(title)
        rows = [("found", report.found), ("recovered", report.recovered), ("resumed", report.resumed),
                ("unwound", report.unwound), ("repaired", report.repaired),
                ("needing an operator", report.needs_operator), ("waiting for the venue", report.waiting),
                ("orders reconciled", report.orders_reconciled), ("orders adopted", report.orders_adopted),
                ("buffered rows flushed", report.flushed_rows)]  # fmt: skip
        for label, value in rows:
            self.stdout.write(f"  {label:<24}{value:>6}")
        for finding in sorted(report.findings, key=lambda f: ACTIONS.index(f.action)):
            self.stdout.write(f"  {finding.action:<10} {finding.ref:<28} {finding.reason}")
        if report.held_strategies:
            self.stdout.write(f"  held (no new cycles until clean): {', '.join(report.held_strategies)}")
        self.stdout.write("clean" if report.clean else "NOT clean: see the lines above")


class _Progress:
    """One line on a terminal, redrawn; a line per stage otherwise (logs)."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.tty:
            filled = int(30 * done / total) if total else 30
            self.stream.write(f"\r{stage:<10} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}   ")
            self.stream.flush()
        elif stage != self.stage:
            self.stream.write(f"{stage}: {total} to do\n")
        self.stage = stage

    def done(self) -> None:
        if self.tty and self.stage:
            self.stream.write("\n")
