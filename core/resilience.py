"""Riding out outages in long-running processes: a lost PostgreSQL or Redis is waited out, never fatal.

`Outages(name).guard(step)` calls `step()` until it succeeds. When a step meets an outage (PostgreSQL gone, a
pooled connection broken, Redis refusing or LOADING, the venue unreachable), it logs one line as the outage
starts, drops the broken connections (this thread's database connection, the pool, the Redis pools), backs
off with jitter (0.2 s doubling to OUTAGE_BACKOFF_MAX_S), and tries the step again; the first step that
succeeds logs one line with how long it lasted. Anything else (a bug) still propagates: a process exits on
a signal or a bug, never on an outage.
"""

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, reset_queries

from .errors import VenueUnavailable

log = logging.getLogger("tradingsite.outages")

DATABASE_OUTAGES = (OperationalError, InterfaceError)
REDIS_OUTAGES = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
# What no row and no request is to blame for: the database or Redis went away.
INFRASTRUCTURE_OUTAGES = (*DATABASE_OUTAGES, *REDIS_OUTAGES)
OUTAGES = (*INFRASTRUCTURE_OUTAGES, VenueUnavailable)


def is_outage(exc: BaseException) -> bool:
    """A lost service, not a bug: connection failures of PostgreSQL (admin shutdown included), Redis and venues."""
    if isinstance(exc, OUTAGES):
        return True
    from psycopg_pool import PoolTimeout

    return isinstance(exc, PoolTimeout) or (isinstance(exc, DatabaseError) and "terminating connection" in str(exc))


def service_of(exc: BaseException) -> str:
    if isinstance(exc, REDIS_OUTAGES):
        return "redis"
    if isinstance(exc, VenueUnavailable):
        return "venue"
    return "postgres"


def drop_broken_connections(*, pool: bool = True) -> None:
    """Close this thread's database connection (and, with `pool`, the pool behind it: a single-threaded loop
    owns it) and every Redis pool we hold, so the next attempt connects afresh instead of reusing a socket the
    outage broke. The web passes pool=False: its threads share the pool, which health-checks each checkout."""
    for conn in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):  # it is broken already: closing is best effort
            conn.close()
        close_pool = getattr(conn, "close_pool", None) if pool else None
        if close_pool is not None:
            with contextlib.suppress(Exception):  # the pool is rebuilt on its next use either way
                close_pool()
    from core.redis_client import disconnect_all

    disconnect_all()


class Outages:
    """The outage handling of one loop: `guard(step)` runs one step, retried through outages until it works."""

    def __init__(self, name: str, *, stop: threading.Event | None = None) -> None:
        self.name = name
        self.stop = stop or threading.Event()
        self.down_since: float | None = None
        self.down_service = ""
        self.outages = 0
        self.attempts = 0

    def _backoff(self) -> float:
        cap = settings.OUTAGE_BACKOFF_MAX_S
        base = min(cap, 0.2 * 2 ** min(self.attempts, 10))
        return base * random.uniform(0.5, 1.0)  # full-ish jitter: many processes do not retry in step

    def failed(self, exc: BaseException) -> None:
        """Record an outage seen by a step: one log line when it starts; reconnect; back off."""
        if self.down_since is None:
            self.down_since, self.down_service, self.attempts = time.monotonic(), service_of(exc), 0
            self.outages += 1
            log.warning("%s: %s unavailable, waiting for it: %s: %s", self.name, self.down_service,
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")  # fmt: skip
        self.attempts += 1
        drop_broken_connections()
        self.stop.wait(self._backoff())

    def recovered(self) -> None:
        if self.down_since is not None:
            lasted = time.monotonic() - self.down_since
            log.warning("%s: %s back after %.1f s (%d attempts); resuming", self.name, self.down_service, lasted,
                        self.attempts)  # fmt: skip
            self.down_since = None

    def guard(self, step: Callable[[], object]) -> object:
        """`step()`, retried through outages until it succeeds (or the loop is stopped: then None)."""
        while not self.stop.is_set():
            try:
                result = step()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.failed(exc)
                continue
            self.recovered()
            reset_queries()  # DEBUG keeps every query of a connection: a loop forgets them each step, like a request
            return result
        return None


def wait_for_work(find: Callable[[], list], *, outages: Outages, say: Callable[[str], None], nothing: str,
                  once: bool, every_s: float = 30.0) -> list:  # fmt: skip
    """What `find()` returns (through outages). While it finds nothing, a supervised process stays up and looks
    again every `every_s` (it says `nothing` once) rather than exiting to be restarted in a loop; with `once`
    it looks a single time. Empty when stopped meanwhile (Ctrl-C)."""
    found = outages.guard(find) or []
    if found or once:
        if not found:
            say(nothing)
        return found
    say(f"{nothing}; looking again every {every_s:.0f} s")
    with contextlib.suppress(KeyboardInterrupt):
        while not found:
            time.sleep(every_s)
            found = outages.guard(find) or []
    return found


# Celery: a money task that meets an outage (PostgreSQL or Redis away, the venue unreachable) is retried with
# backoff and jitter instead of failing; whatever it did before is on record, so a retry only continues from
# there. What a retry cannot reach (the broker itself away) the sweepers take up: recovery for cycles,
# copies_requeue_stale for copies, orders_sweep_overdue for orders.
def task_retry(*errors: type[BaseException], max_retries: int | None = 40) -> dict:
    return {"autoretry_for": (*errors, *INFRASTRUCTURE_OUTAGES), "retry_backoff": 1, "retry_backoff_max": 30,
            "retry_jitter": True, "max_retries": max_retries}  # fmt: skip
