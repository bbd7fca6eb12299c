"""Equity over time: one row per account and snapshot, written by beat (dashboard.snapshot_equity)."""

from django.db import models

from core.fields import amount_field


class EquitySnapshot(models.Model):
    """An account's balances valued in `asset` (DASHBOARD_VALUATION_ASSET) at `taken_at`; what had no price is
    listed in `unvalued`, never counted as zero silently."""

    exchange = models.ForeignKey("exchanges.Exchange", on_delete=models.CASCADE, related_name="equity_snapshots")
    taken_at = models.DateTimeField()
    asset = models.CharField(max_length=32)
    equity = amount_field()
    unvalued = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["exchange_id", "taken_at"]
        indexes = [models.Index(fields=["exchange", "taken_at"], name="equity_snapshot_timeline"),
                   models.Index(fields=["taken_at"], name="equity_snapshot_taken_at")]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.equity} {self.asset} at {self.taken_at:%Y-%m-%d %H:%M}"
