"""The core app: cross-cutting building blocks; it has no models of its own and depends on no other app."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
