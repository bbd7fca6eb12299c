"""The dashboard's pages and actions."""

from django.urls import path

from .views import dashboard, dashboard_close_all, dashboard_close_position, dashboard_entries

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("positions/<int:position_id>/close/", dashboard_close_position, name="dashboard-close-position"),
    path("positions/close-all/", dashboard_close_all, name="dashboard-close-all"),
    path("accounts/<int:exchange_id>/entries/", dashboard_entries, name="dashboard-entries"),
]
