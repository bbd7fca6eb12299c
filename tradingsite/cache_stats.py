"""/api/cache-stats/: how the platform's caches are doing (hits, misses, ages)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exchanges.marketdata import snapshot_stats

# Each source returns a dict of figures; later apps register theirs here.
SOURCES = {"market_data": snapshot_stats}


def cache_stats() -> dict:
    return {name: source() for name, source in SOURCES.items()}


class CacheStatsView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        responses=inline_serializer("CacheStats", fields={name: serializers.DictField() for name in SOURCES}),
        description="Hit, miss and age statistics of every cache the platform keeps.",
    )
    def get(self, request):
        return Response(cache_stats())
