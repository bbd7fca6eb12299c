"""Celery tasks for the dashboard (thin: call a service)."""

from core.schedule import task

from .equity import equity_snapshot_take


@task(name="dashboard.snapshot_equity", queue="maintenance", every="DASHBOARD_EQUITY_SNAPSHOT_S", ignore_result=True)
def snapshot_equity() -> dict:
    """Every enabled account's equity in DASHBOARD_VALUATION_ASSET, kept DASHBOARD_EQUITY_RETENTION_DAYS."""
    return equity_snapshot_take()
