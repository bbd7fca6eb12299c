"""tradingsite: a trading operations platform (Django + Celery)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
