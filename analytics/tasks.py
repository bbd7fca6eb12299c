"""Celery tasks for analytics (thin: call a service)."""

import logging

from core.isolation import Loop
from core.resilience import task_retry
from core.schedule import task
from exchanges.errors import VenueError
from exchanges.models import Exchange

from . import rebalancing, services

log = logging.getLogger(__name__)


@task(name="analytics.assess_risk", queue="maintenance", every="ANALYTICS_RISK_S", ignore_result=True)
def assess_risk(exchange_id: int | None = None) -> dict:
    """Risk of every enabled account (or one), its strategies and its copied wallets; the account's limits
    enforced. An account whose venue cannot be read is skipped this time, and said so."""
    accounts = Exchange.objects.filter(enabled=True)
    if exchange_id is not None:
        accounts = accounts.filter(pk=exchange_id)
    loop, breaches = Loop("risk assessments"), {}
    for exchange in accounts.order_by("pk"):
        with loop.item(f"account {exchange.name}", on_error=lambda message: None):  # tried again next time
            report = services.risk_assess_account(exchange=exchange)
            services.risk_assess_strategies(exchange=exchange)
            services.risk_assess_wallets(exchange=exchange)
            if report.breaches:
                breaches[exchange.name] = report.breaches
    pruned = services.risk_prune()
    return {"assessed": accounts.count() - len(loop.failed), "failed": len(loop.failed), "breaches": breaches,
            "pruned": pruned}  # fmt: skip


@task(name="analytics.prune_candles", queue="maintenance", every=3600.0, ignore_result=True)
def prune_candles() -> dict:
    """Candles past their timeframe's retention (ANALYTICS_CANDLE_RETENTION_DAYS) deleted."""
    return services.candles_prune()


@task(name="analytics.rebalance_advance", queue="execution", acks_late=True, ignore_result=True,
      **task_retry(VenueError))  # fmt: skip
def rebalance_advance(rebalance_id: int) -> str:
    """Start the rebalance's next trade or drive the working one; a duplicate finds the step taken."""
    return rebalancing.rebalance_advance(rebalance_id=rebalance_id)


@task(name="analytics.resume_rebalances", queue="maintenance", every="REBALANCE_STALL_S", ignore_result=True)
def resume_rebalances() -> int:
    """Executing rebalances nobody advanced for REBALANCE_STALL_S (a worker died) advanced again."""
    return rebalancing.rebalances_resume()


@task(name="analytics.auto_rebalance", queue="maintenance", every="REBALANCE_AUTO_S", ignore_result=True)
def auto_rebalance() -> list[int]:
    """Accounts whose targets say `auto` rebalanced when a weight has drifted out of tolerance."""
    return rebalancing.rebalances_auto()
