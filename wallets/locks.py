"""Ordered lock querysets for wallets and copy trades."""

from django.db.models import QuerySet

from .models import CopyTrade, WatchedWallet


def wallets_for_update(*, skip_locked: bool = False) -> QuerySet[WatchedWallet]:
    return WatchedWallet.objects.order_by("pk").select_for_update(of=("self",), skip_locked=skip_locked)


def copy_trades_for_update() -> QuerySet[CopyTrade]:
    return CopyTrade.objects.order_by("pk").select_for_update(of=("self",), no_key=True)
