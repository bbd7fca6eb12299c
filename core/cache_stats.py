"""/api/cache-stats/: how the platform's caches and buffers are doing (hits, misses, ages, flushes).

Each app registers its sources from AppConfig.ready with `cache_stats_register`.
"""

from collections.abc import Callable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

SOURCES: dict[str, Callable[[], dict]] = {}


def cache_stats_register(name: str, source: Callable[[], dict]) -> None:
    SOURCES[name] = source


def cache_stats() -> dict:
    return {name: source() for name, source in sorted(SOURCES.items())}


class CacheStatsView(APIView):
    """Staff only (the default permission for a view with no model)."""

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description=(
            "Figures of every cache and buffer the platform keeps, by source: market_data (snapshot hits, misses, "
            "ages), order_status (venue status cache hits and misses), writebehind (updates buffered, flushes, "
            "rows per flush, statements saved)."
        ),
    )
    def get(self, request):
        return Response(cache_stats())
