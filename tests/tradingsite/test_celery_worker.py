"""A task goes through a real Celery worker over the Redis broker, end to end."""

from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from cycles.models import Reservation
from cycles.tasks import reservations_expire
from tests import factories as f
from tradingsite.celery import app as celery_app


@pytest.fixture
def celery_worker(settings):
    """A worker thread consuming every queue over the real Redis broker."""
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            perform_ping_check=False,
            queues=["execution", "monitoring", "scanning", "maintenance"],
            shutdown_timeout=10,
        ) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_task_runs_in_a_real_worker_over_the_broker(celery_worker):
    strategy = f.StrategyFactory()
    stale = f.ReservationFactory(strategy=strategy)
    Reservation.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(minutes=2), expires_at=timezone.now() - timedelta(minutes=1)
    )
    live = f.ReservationFactory(strategy=strategy)

    result = reservations_expire.apply_async()
    assert result.get(timeout=30) == 1
    assert result.status == "SUCCESS"
    assert not Reservation.objects.filter(pk=stale.pk).exists()
    assert Reservation.objects.filter(pk=live.pk).exists()


def test_tasks_are_routed_to_their_queues():
    router = celery_app.amqp.router
    assert router.route({}, "cycles.execute")["queue"].name == "execution"
    assert router.route({}, "orders.monitor")["queue"].name == "monitoring"
    assert router.route({}, "wallets.scan")["queue"].name == "scanning"
    assert router.route({}, "cycles.reservations_expire")["queue"].name == "maintenance"


def test_every_beat_entry_expires_and_names_a_queue(settings):
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["options"].get("expires"), name
        assert entry["options"].get("queue"), name
        assert entry["task"] in celery_app.tasks, f"{name}: {entry['task']} is not a registered task"
