"""Reads for watched wallets, their trades and copies."""

from django.db.models import QuerySet

from .models import CopyTrade, WalletTrade, WatchedWallet


def wallet_list() -> QuerySet[WatchedWallet]:
    return WatchedWallet.objects.select_related("copy_exchange")


def wallet_trade_list() -> QuerySet[WalletTrade]:
    return WalletTrade.objects.select_related("wallet", "copy")


def copy_trade_list() -> QuerySet[CopyTrade]:
    return CopyTrade.objects.select_related("wallet_trade")


def copied_tokens(exchange) -> set[str]:
    """The outcome tokens (asset ids) that wallets copied onto `exchange` have traded in the last 30 days."""
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=30)
    trades = WalletTrade.objects.filter(wallet__copy_exchange=exchange, wallet__enabled=True, traded_at__gte=since)
    return {asset for asset in trades.values_list("asset", flat=True).distinct() if asset.isdigit()}
