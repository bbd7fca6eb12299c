"""The wallets app: its market-metadata cache statistics."""

from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register

        from .markets import market_cache_stats

        cache_stats_register("wallet_markets", market_cache_stats)
