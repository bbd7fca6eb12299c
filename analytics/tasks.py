"""Celery tasks for analytics (thin: call a service)."""

import logging

from core.isolation import Loop
from core.schedule import task
from exchanges.models import Exchange

from . import services

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
