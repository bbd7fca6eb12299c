"""Celery tasks for cycles (thin: parse, call a service)."""

from celery import shared_task

from . import services


@shared_task(name="cycles.reservations_expire", ignore_result=False)
def reservations_expire() -> int:
    return services.reservation_expire_stale()


@shared_task(name="cycles.execute", acks_late=True, ignore_result=True)
def execute(cycle_id: int) -> str:
    """Advance one cycle; a redelivered or duplicate task finds the step done and does nothing new."""
    return services.cycle_advance(cycle_id=cycle_id)


@shared_task(name="cycles.panic_sell_advance", acks_late=True, ignore_result=True)
def panic_sell_advance(panic_sell_id: int) -> str:
    return services.panic_sell_advance(panic_sell_id=panic_sell_id)
