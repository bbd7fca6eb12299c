"""Celery tasks for panic sells (thin: call a service)."""

from core.resilience import task_retry
from core.schedule import task
from exchanges.errors import VenueError

from . import services


@task(name="liquidation.advance", queue="execution", acks_late=True, ignore_result=True, **task_retry(VenueError))
def advance(panic_sell_id: int) -> str:
    """Account the last hop and place the next; a redelivered or duplicate task finds the step done."""
    return services.panic_sell_advance(panic_sell_id=panic_sell_id)


# The name this task had before it moved here: messages already queued under it still run (one release).
@task(name="cycles.panic_sell_advance", queue="execution", acks_late=True, ignore_result=True, **task_retry(VenueError))
def advance_by_old_name(panic_sell_id: int) -> str:
    return services.panic_sell_advance(panic_sell_id=panic_sell_id)
