"""The feeds app: each real venue's market data streamed into the snapshot; its health in /api/cache-stats/."""

from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "feeds"

    def ready(self) -> None:
        from core.cache_stats import cache_stats_register

        from .health import feed_stats

        cache_stats_register("feeds", feed_stats)
