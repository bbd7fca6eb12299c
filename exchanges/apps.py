"""The exchanges app: venues, markets, the paper venue and the market-data snapshot."""

from django.apps import AppConfig


class ExchangesConfig(AppConfig):
    name = "exchanges"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register

        from .marketdata import snapshot_stats

        cache_stats_register("market_data", snapshot_stats)
