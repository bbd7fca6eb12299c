"""The dashboard app: the operator overview page and its API views."""

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
