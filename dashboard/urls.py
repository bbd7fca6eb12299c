"""The dashboard's pages, its parts and chart data (refreshed in place) and its actions."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("part/<slug:part>/", views.dashboard_part, name="dashboard-part"),
    path("charts/<slug:name>.json", views.dashboard_chart, name="dashboard-chart"),
    path("positions/<int:position_id>/", views.position_page, name="dashboard-position"),
    path("wallets/<int:wallet_id>/", views.wallet_page, name="dashboard-wallet"),
    path("cycles/<int:cycle_id>/", views.cycle_page, name="dashboard-cycle"),
    path("positions/<int:position_id>/close/", views.dashboard_close_position, name="dashboard-close-position"),
    path("positions/close-all/", views.dashboard_close_all, name="dashboard-close-all"),
    path("accounts/<int:exchange_id>/entries/", views.dashboard_entries, name="dashboard-entries"),
    path("cycles/<int:cycle_id>/panic-sell/", views.dashboard_panic_sell, name="dashboard-panic-sell"),
    path("strategies/<int:strategy_id>/enabled/", views.dashboard_strategy, name="dashboard-strategy"),
    path("wallets/<int:wallet_id>/enabled/", views.dashboard_wallet, name="dashboard-wallet-enabled"),
]
