"""The core app: cross-cutting building blocks (errors, fields, the state machine, Redis, write-behind, HTTP,
the rate limiter, API plumbing); it depends on no other app of ours."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "platform"

    def ready(self) -> None:
        from . import schema  # noqa: F401  (registers the OpenAPI field extensions)
        from .cache_stats import cache_stats_register
        from .writebehind import writebehind_stats

        cache_stats_register("writebehind", writebehind_stats)
