"""Celery tasks for cycles (thin: parse, call a service)."""

import logging

from django.conf import settings

from core.resilience import task_retry
from core.schedule import task
from exchanges.errors import VenueError

from . import reservations, services

log = logging.getLogger(__name__)


@task(
    name="cycles.reservations_expire", queue="maintenance", every=5, ignore_result=True
)  # every 5 s: a stored result would pile up
def reservations_expire() -> int:
    return reservations.reservation_expire_stale()


# A venue that fails to answer (5xx, timeout, 429 before anything was placed) is asked again with backoff;
# whatever was placed is on record already, so a retry only continues from there.
VENUE_RETRY = task_retry(VenueError)


@task(name="cycles.execute", queue="execution", acks_late=True, ignore_result=True, **VENUE_RETRY)
def execute(cycle_id: int) -> str:
    """Advance one cycle; a redelivered or duplicate task finds the step done and does nothing new."""
    return services.cycle_advance(cycle_id=cycle_id)


@task(name="cycles.recover", queue="maintenance", every="RECOVERY_SWEEP_S", ignore_result=True)
def recover() -> dict:
    """The beat sweep of recover_cycles: interrupted cycles (stalled RECOVERY_STALL_S) resumed or unwound."""
    from .recovery import RecoveryBusy, recover_cycles

    try:
        report = recover_cycles(stall_s=settings.RECOVERY_STALL_S, hold_while_running=False)
    except RecoveryBusy:
        return {"skipped": "another recovery is running"}
    if report.found:
        log.warning("recovery sweep: %s found, %s recovered, %s need an operator, %s waiting", report.found,
                    report.recovered, report.needs_operator, report.waiting)  # fmt: skip
    return {"found": report.found, "recovered": report.recovered, "clean": report.clean}
