"""Celery tasks for wallets (thin: call a service)."""

import logging
from functools import partial

from django.conf import settings
from django.utils import timezone

from core.isolation import Loop, record_failure
from core.resilience import task_retry
from core.schedule import task
from exchanges.errors import VenueError

from . import copying, scanning
from .models import WatchedWallet
from .slots import SlotsBusy

log = logging.getLogger(__name__)


@task(name="wallets.tick", queue="scanning", every="WALLET_TICK_S", expires_periods=2, ignore_result=True)
def tick(among: list[int] | None = None) -> dict:
    """Claim due wallets (of `among`, if given) and scan them, their copies queued as found; settle copies."""
    claimed = scanning.wallets_claim_due(limit=settings.WALLET_SCAN_BATCH, among=among)
    found = calls = errors = 0
    loop = Loop("wallet scans")
    for wallet_id in claimed:
        failed = partial(record_failure, WatchedWallet, wallet_id, now=timezone.now(), due_field="next_scan_at")
        with loop.item(f"wallet {wallet_id}", on_error=failed):
            outcome = scanning.wallet_scan(wallet_id=wallet_id)
            found, calls, errors = found + outcome.new_trades, calls + outcome.calls, errors + bool(outcome.error)
    settled = copying.copies_settle_submitted()
    requeued = copying.copies_requeue_stale()
    return {"scanned": len(claimed), "calls": calls, "new_trades": found, "errors": errors + len(loop.failed),
            "settled": settled, "requeued": requeued}  # fmt: skip


@task(name="wallets.copy", queue="execution", bind=True, acks_late=True, ignore_result=True,
             **task_retry(VenueError, max_retries=None))  # fmt: skip
def copy_trade(self, copy_trade_id: int) -> str:
    """Place one copy; with every slot taken it waits its turn (a short countdown), never placing twice."""
    try:
        return copying.copy_trade_execute(copy_trade_id=copy_trade_id)
    except SlotsBusy as exc:
        raise self.retry(countdown=0.2, exc=exc) from exc
