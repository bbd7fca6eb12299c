"""Celery tasks for positions (thin: call a service)."""

from celery import shared_task

from . import events, monitor


@shared_task(name="positions.tick", ignore_result=True)
def tick() -> dict:
    """Claim due positions, price them with one tickers call per venue, act, reschedule."""
    result = monitor.positions_monitor_tick()
    return {"claimed": result.claimed, "evaluated": result.evaluated, "venue_calls": result.venue_calls}


@shared_task(name="positions.flush_events", ignore_result=True)
def flush_events() -> int:
    return events.flush()
