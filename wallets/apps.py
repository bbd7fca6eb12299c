"""The wallets app: its market-metadata cache statistics, and the outcome tokens its wallets trade (which a
Polymarket account's sync_markets lists)."""

from django.apps import AppConfig


class WalletsConfig(AppConfig):
    name = "wallets"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register
        from exchanges.services import TOKEN_SOURCES

        from .markets import market_cache_stats
        from .selectors import copied_tokens

        cache_stats_register("wallet_markets", market_cache_stats)
        if copied_tokens not in TOKEN_SOURCES:
            TOKEN_SOURCES.append(copied_tokens)
