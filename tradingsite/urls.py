"""Top-level URLs: admin, dashboard, API, schema and docs, health check."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .cache_stats import CacheStatsView
from .health import healthz
from .views import AccountsView, StatsView, dashboard, dashboard_close_all, dashboard_close_position, dashboard_entries

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/cache-stats/", CacheStatsView.as_view(), name="cache-stats"),
    path("api/accounts/", AccountsView.as_view(), name="accounts"),
    path("api/stats/", StatsView.as_view(), name="stats"),
    path("dashboard/", dashboard, name="dashboard"),
    path("dashboard/positions/<int:position_id>/close/", dashboard_close_position, name="dashboard-close-position"),
    path("dashboard/positions/close-all/", dashboard_close_all, name="dashboard-close-all"),
    path("dashboard/accounts/<int:exchange_id>/entries/", dashboard_entries, name="dashboard-entries"),
    path("api/", include("tradingsite.api_router")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
]
