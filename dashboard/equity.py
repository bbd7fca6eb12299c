"""Equity snapshots: beat values every enabled account every DASHBOARD_EQUITY_SNAPSHOT_S and keeps
DASHBOARD_EQUITY_RETENTION_DAYS of them (the dashboard's equity chart)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from exchanges.models import Exchange

from .models import EquitySnapshot
from .overview import account_overview

log = logging.getLogger(__name__)


def equity_snapshot_take(*, venue_for=None) -> dict:
    """One snapshot per enabled account (an account whose venue cannot be read is skipped, and said so), then the
    snapshots past retention deleted."""
    now = timezone.now()
    taken, skipped = [], {}
    for exchange in Exchange.objects.filter(enabled=True).order_by("name"):
        overview = account_overview(exchange, venue_for(exchange) if venue_for else None)
        if overview["equity"] is None:
            skipped[exchange.name] = overview["error"] or "no balances"
            continue
        if not overview["equity"] and overview["unvalued_assets"]:  # a zero would be a lie: nothing had a price
            skipped[exchange.name] = f"nothing valued in {overview['valuation_asset']} (unvalued: " \
                                     f"{', '.join(overview['unvalued_assets'][:5])})"  # fmt: skip
            continue
        taken.append(EquitySnapshot(exchange=exchange, taken_at=now, asset=overview["valuation_asset"],
                                    equity=overview["equity"], unvalued=overview["unvalued_assets"]))  # fmt: skip
    EquitySnapshot.objects.bulk_create(taken)
    cutoff = now - timedelta(days=settings.DASHBOARD_EQUITY_RETENTION_DAYS)
    pruned, _ = EquitySnapshot.objects.filter(taken_at__lt=cutoff).delete()
    if skipped:
        log.warning("equity snapshot: not valued: %s", "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    return {"taken": len(taken), "skipped": skipped, "pruned": pruned}
