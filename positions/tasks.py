"""Celery tasks for positions (thin: call a service)."""

from core.schedule import task

from . import events, monitor, resolution


@task(name="positions.tick", queue="monitoring", every="POSITION_TICK_S", ignore_result=True)
def tick() -> dict:
    """Claim due positions, price them with one tickers call per venue, act, reschedule."""
    result = monitor.positions_monitor_tick()
    return {"claimed": result.claimed, "evaluated": result.evaluated, "venue_calls": result.venue_calls}


@task(name="positions.flush_events", queue="maintenance", every="POSITION_EVENT_FLUSH_S", ignore_result=True)
def flush_events() -> int:
    return events.flush()


@task(name="positions.settle_resolved", queue="monitoring", every="POSITION_RESOLUTION_CHECK_S", ignore_result=True)
def settle_resolved() -> dict:
    """Close positions whose prediction market resolved, at the payout (positions/resolution.py)."""
    return resolution.positions_settle_resolved()
