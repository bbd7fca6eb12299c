"""Top-level URLs: admin, dashboard, API, schema and docs, health check."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from analytics.api import PerformanceView
from core.cache_stats import CacheStatsView
from dashboard.health import healthz
from dashboard.metrics import metrics_view
from dashboard.views import AccountsView, StatsView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/cache-stats/", CacheStatsView.as_view(), name="cache-stats"),
    path("api/accounts/", AccountsView.as_view(), name="accounts"),
    path("api/stats/", StatsView.as_view(), name="stats"),
    path("api/performance/", PerformanceView.as_view(), name="performance"),
    path("dashboard/", include("dashboard.urls")),
    path("api/", include("tradingsite.api_router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]
