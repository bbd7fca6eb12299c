"""Reads for watched wallets, their trades and copies."""

from django.db.models import QuerySet

from .models import CopyTrade, WalletTrade, WatchedWallet


def wallet_list() -> QuerySet[WatchedWallet]:
    return WatchedWallet.objects.select_related("copy_exchange")


def wallet_trade_list() -> QuerySet[WalletTrade]:
    return WalletTrade.objects.select_related("wallet", "copy")


def copy_trade_list() -> QuerySet[CopyTrade]:
    return CopyTrade.objects.select_related("wallet_trade")
