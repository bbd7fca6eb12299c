"""Celery tasks for cycles (thin: parse, call a service)."""

from celery import shared_task

from . import services


@shared_task(name="cycles.reservations_expire", ignore_result=False)
def reservations_expire() -> int:
    return services.reservation_expire_stale()
