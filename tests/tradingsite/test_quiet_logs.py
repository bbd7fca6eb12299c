"""Quiet logs: at INFO the ticks beat sends every second leave no line; an event an operator cares about does."""

import io
import logging
from logging.config import dictConfig

import pytest
from celery.app.trace import LOG_SUCCESS
from django.conf import settings

from core.schedule import quiet_tasks
from tradingsite.celery import app as celery_app


@pytest.fixture
def console():
    """The platform's logging as settings.LOGGING configures it, written to a buffer; restored after."""
    stream = io.StringIO()
    dictConfig(settings.LOGGING)
    handler = logging.getLogger("celery").handlers[0]
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def _succeeded(name: str) -> None:
    fields = {"id": "1f0c", "name": name, "return_value": "{}", "runtime": 0.01, "args": "()", "kwargs": "{}"}
    logging.getLogger("celery.app.trace").info(LOG_SUCCESS, fields, extra={"data": fields})


def test_the_high_frequency_ticks_are_quiet_at_info(console):
    celery_app.loader.import_default_modules()
    assert {"wallets.tick", "positions.tick", "orders.monitor", "tradingsite.writebehind_flush"} <= quiet_tasks()
    assert "cycles.execute" not in quiet_tasks()
    for name in ("wallets.tick", "positions.tick", "orders.monitor"):
        _succeeded(name)
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "wallets-tick", "wallets.tick")
    assert console.getvalue() == ""


def test_an_event_still_logs_at_info(console):
    _succeeded("cycles.execute")
    logging.getLogger("cycles.services").info("cycle %s completed: pnl %s %s", 7, "0.12", "USDT")
    lines = console.getvalue().splitlines()
    assert len(lines) == 2
    assert "cycles.execute" in lines[0]
    assert "cycle 7 completed" in lines[1]


def test_at_debug_the_ticks_are_there_again(console):
    logging.getLogger("celery").setLevel(logging.DEBUG)
    try:
        _succeeded("wallets.tick")
    finally:
        logging.getLogger("celery").setLevel(settings.LOG_LEVEL)
    assert '"level": "DEBUG"' in console.getvalue()
    assert "wallets.tick" in console.getvalue()


def test_a_tick_that_retries_still_says_so(console):
    fields = {"id": "1f0c", "name": "orders.monitor", "exc": "Retry in 2s: OperationalError()"}
    logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] %(exc)s", fields, extra={"data": fields})
    assert "Retry in 2s" in console.getvalue()
