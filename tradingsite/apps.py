"""The tradingsite app: the project's own models (write-behind marks) and commands."""

from django.apps import AppConfig


class TradingsiteConfig(AppConfig):
    name = "tradingsite"
    verbose_name = "platform"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI field extensions)
        from .cache_stats import cache_stats_register
        from .writebehind import writebehind_stats

        cache_stats_register("writebehind", writebehind_stats)
