"""The Celery application: configuration from Django settings, tasks from every app."""

import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs) -> None:
    """Workers and beat log through settings.LOGGING (one JSON object a line), like the web."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@task_postrun.connect
def _forget_queries(**kwargs) -> None:
    """With DEBUG on, Django keeps every query of a connection (up to 9,000): a worker forgets them after each
    task, as the web does after each request, so its memory stays flat."""
    from django.db import reset_queries

    reset_queries()


@worker_init.connect
def _freeze_before_forking(**kwargs) -> None:
    """Everything the parent has loaded (Django, the apps, ccxt) moves to the permanent generation before the
    pool's children are forked: their garbage collector then never writes to those shared pages, which would
    copy them one by one into each child (the children's memory grew by that, bench/run.py soak)."""
    from core.memory import freeze_loaded_objects

    freeze_loaded_objects()
