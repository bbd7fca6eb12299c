"""Celery tasks for orders (thin: ids in, a service call)."""

from core.resilience import task_retry
from core.schedule import task

from . import monitoring


@task(name="orders.monitor", queue="monitoring", quiet=True, acks_late=True, ignore_result=True, **task_retry())
def monitor(exchange_id: int, market_id: int) -> int:
    """One monitor tick of a market; a duplicate or redelivered tick finds nothing due and does nothing."""
    return monitoring.orders_monitor_tick(exchange_id=exchange_id, market_id=market_id).claimed


@task(name="orders.sweep_overdue", queue="monitoring", every=5, ignore_result=True)
def sweep_overdue() -> int:
    return monitoring.orders_sweep_overdue()
