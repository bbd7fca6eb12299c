"""Each task declared once, with its name, its queue and, if beat sends it, its period: the Celery app routes by
these declarations, beat schedules from them, and the quiet-log filter reads them (tradingsite/celery.py)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task
from celery.beat import PersistentScheduler

QUEUES = ("execution", "monitoring", "scanning", "maintenance")
QUIET_UP_TO_S = 60.0  # a task beat sends this often or more logs its routine lines at DEBUG


@dataclass(frozen=True, slots=True)
class Declared:
    queue: str
    every: str | float | None  # seconds, or the name of the setting that holds them
    expires_periods: float  # a beat message not taken within this many periods is dropped (the next one comes)
    quiet: bool | None  # None: quiet if beat sends it at least every QUIET_UP_TO_S


DECLARED: dict[str, Declared] = {}


def task(
    name: str,
    *,
    queue: str,
    every: str | float | None = None,
    expires_periods: float = 1.0,
    quiet: bool | None = None,
    **options,
) -> Callable:
    """`shared_task(name=…)` on `queue`; with `every`, beat sends it that often (each message expiring)."""
    if queue not in QUEUES:
        raise ValueError(f"task {name}: no queue {queue!r} (one of {', '.join(QUEUES)})")

    def declare(fn: Callable):
        DECLARED[name] = Declared(queue, every, expires_periods, quiet)
        return shared_task(name=name, **options)(fn)  # routed by `route` (a task's own `queue` is deprecated)

    return declare


def period_s(declared: Declared) -> float | None:
    if declared.every is None or isinstance(declared.every, int | float):
        return declared.every
    from django.conf import settings

    return float(getattr(settings, declared.every))


def route(name: str, args, kwargs, options, task=None, **extra) -> dict | None:
    """A Celery router (task_routes): the queue the task was declared with."""
    declared = DECLARED.get(name)
    return {"queue": declared.queue} if declared else None


def beat_schedule() -> dict[str, dict]:
    """Beat's entries, one per periodic task, named after it (`wallets.tick` -> `wallets-tick`)."""
    schedule = {}
    for name, declared in sorted(DECLARED.items()):
        if (seconds := period_s(declared)) is not None:
            schedule[name.replace(".", "-")] = {
                "task": name,
                "schedule": timedelta(seconds=seconds),
                "options": {"queue": declared.queue, "expires": seconds * declared.expires_periods},
            }
    return schedule


def quiet_tasks() -> frozenset[str]:
    """Tasks whose received / succeeded / sent lines log at DEBUG (core.logging.QuietTicks)."""
    quiet = set()
    for name, declared in DECLARED.items():
        seconds = period_s(declared)
        if declared.quiet or (declared.quiet is None and seconds is not None and seconds <= QUIET_UP_TO_S):
            quiet.add(name)
    return frozenset(quiet)


class DeclaredScheduler(PersistentScheduler):
    """Beat's scheduler, its entries those the tasks declared (every app's tasks module imported first)."""

    def setup_schedule(self) -> None:
        self.app.loader.import_default_modules()
        self.app.conf.beat_schedule = beat_schedule()
        super().setup_schedule()
