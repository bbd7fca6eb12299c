"""manage.py rebalance: load target weights from YAML, plan an account's rebalance (a dry run), execute it."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics import rebalance_targets, rebalancing
from analytics.models import Rebalance, RebalanceState
from core.cli import read_yaml
from core.errors import DomainError
from exchanges.errors import VenueError
from exchanges.models import Exchange


class Command(BaseCommand):
    help = (
        "Load target weights (--targets FILE, see configs/rebalance/), then plan the account's rebalance and show "
        "its trades and expected cost without placing anything; --execute places them and follows them to the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("--targets", metavar="FILE", help="a YAML file of accounts' target weights to load")
        parser.add_argument("--exchange", metavar="NAME", help="the account to plan (and execute) a rebalance of")
        parser.add_argument("--execute", action="store_true", help="place the planned trades (default: dry run)")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to follow an execution for")

    def handle(self, *args, targets=None, exchange=None, execute=False, timeout=600.0, **opts):
        if not targets and not exchange:
            raise CommandError("Give --targets FILE, --exchange NAME, or both.")
        try:
            if targets:
                self._load(targets)
            if exchange:
                account = Exchange.objects.filter(name=exchange).first()
                if account is None:
                    raise CommandError(f"{exchange}: no such account.")
                rebalance = rebalancing.rebalance_plan(exchange=account, requested_by="manage.py rebalance")
                self._show(rebalance)
                if execute:
                    rebalancing.rebalance_execute(rebalance_id=rebalance.pk, requested_by="manage.py rebalance")
                    self._follow(rebalance.pk, timeout)
        except (DomainError, VenueError) as exc:
            raise CommandError(str(getattr(exc, "message", exc))) from exc

    def _load(self, path: str) -> None:
        data = read_yaml(path, what="a targets file")
        for target in rebalance_targets.rebalance_targets_load(
            data, updated_by=f"manage.py rebalance --targets {path}"
        ):
            weights = ", ".join(f"{a} {w}" for a, w in target.weights.items())
            self.stdout.write(f"targets of {target.exchange.name}: {weights} (the rest {target.quote}); "
                              f"tolerance {target.tolerance}, aim {target.aim}")  # fmt: skip

    def _show(self, rebalance: Rebalance) -> None:
        self.stdout.write(f"rebalance {rebalance.pk} of {rebalance.exchange.name} planned: {rebalance.value:.2f} "
                          f"{rebalance.quote} in the portfolio")  # fmt: skip
        for asset, before in rebalance.before.items():
            target = rebalance.weights.get(asset, "the rest")
            self.stdout.write(f"  {asset:>8} {before['weight']:>9.4f} now, target {target}, "
                              f"{rebalance.expected_after.get(asset, 0):.4f} after")  # fmt: skip
        trades = list(rebalance.trades.all())
        for t in trades:
            what = (
                f"{t.amount.normalize()} {t.asset}" if t.side == "sell" else f"{t.amount.normalize()} {rebalance.quote}"
            )
            orders = f"{t.orders} order" + ("s" if t.orders != 1 else "")
            cost = f"expected cost {t.expected_cost:.4f} {rebalance.quote}"
            self.stdout.write(f"  {t.seq}. {t.side} {t.asset}: {what} via {' > '.join(t.route)} ({orders}), {cost}")
        total = f"expected cost {rebalance.expected_cost:.4f} {rebalance.quote}"
        self.stdout.write(
            f"{len(trades)} trades, {rebalance.orders} orders, {total}" + ("" if trades else ": nothing to do")
        )

    def _follow(self, rebalance_id: int, timeout: float) -> None:
        """Advance the rebalance here (the workers may too: a step is never taken twice) until it ends."""
        deadline, shown = time.monotonic() + timeout, {}
        while True:
            rebalancing.rebalance_advance(rebalance_id=rebalance_id)
            rebalance = Rebalance.objects.get(pk=rebalance_id)
            for t in rebalance.trades.all():
                if shown.get(t.seq) != t.state:
                    shown[t.seq] = t.state
                    self.stdout.write(
                        f"  trade {t.seq} ({t.side} {t.asset}): {t.state}" + (f", {t.note}" if t.note else "")
                    )
            if rebalance.state != RebalanceState.EXECUTING:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"rebalance {rebalance_id} still executing after {timeout:.0f} s; the workers "
                                   "carry on with it")  # fmt: skip
            time.sleep(settings.REBALANCE_POLL_S)
        if rebalance.state != RebalanceState.COMPLETED:
            raise CommandError(f"rebalance {rebalance_id} {rebalance.state}: {rebalance.error}")
        after = ", ".join(f"{a} {w:.4f}" for a, w in (rebalance.after or {}).items())
        self.stdout.write(f"rebalance {rebalance_id} completed; weights now {after}")
