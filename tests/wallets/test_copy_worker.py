"""Copies through real Celery workers SIGKILLed mid-scan and mid-copy: every fill stored once, copied at most once.

`bench/run.py wallets` is the long version; its docstring says what a run does.
"""

import pytest
from django.conf import settings

from bench.bench_wallets import copies_across_kills


@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_worker_kills_lose_no_fill_and_copy_none_twice(shared_data, worker_env):
    from tradingsite.celery import app

    eager, app.conf.task_always_eager = app.conf.task_always_eager, False
    try:
        result = copies_across_kills(4, 3, seed=3, broker=settings.CELERY_BROKER_URL, log=print, extra_env=worker_env)
    finally:
        app.conf.task_always_eager = eager
    assert result["duplicate_copies"] == 0
    assert result["orphan_venue_orders"] == 0
    assert result["copy_positions_without_their_copy"] == 0
    assert result["fills_missed"] == 0
    assert result["settled"] is True, result
    assert result["fills_made"] > 10
    assert result["copies_by_status"].get("FILLED", 0) > 0
