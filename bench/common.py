"""Helpers the benchmark suites share."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings


def dsn() -> str:
    """A psycopg connection string for the platform's database (raw baselines bypass Django)."""
    db = settings.DATABASES["default"]
    parts = {"dbname": db["NAME"], "user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT")}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def drop_account(name: str) -> None:
    """Delete a benchmark's exchange account and everything traded on it (a clean start)."""
    from django.db import connection

    from analytics.models import Rebalance
    from cycles.models import Cycle, CycleLeg, Strategy
    from exchanges.models import Exchange
    from liquidation.models import PanicSell
    from orders.models import Fill, Order
    from positions.models import Position, TakeProfitLevel

    exchange = Exchange.objects.filter(name=name).first()
    if exchange is None:
        return
    with connection.cursor() as cursor:  # fills are append-only: the trigger is lifted for the clean-up only
        cursor.execute("ALTER TABLE orders_fill DISABLE TRIGGER USER")
        Fill.objects.filter(exchange=exchange).delete()
        cursor.execute("ALTER TABLE orders_fill ENABLE TRIGGER USER")
    CycleLeg.objects.filter(cycle__strategy__exchange=exchange).update(order=None)
    TakeProfitLevel.objects.filter(position__exchange=exchange).update(order=None)
    Position.objects.filter(exchange=exchange).update(last_exit_order=None)
    Order.objects.filter(exchange=exchange).delete()
    Rebalance.objects.filter(exchange=exchange).delete()  # its trades with it, then the conversions they ran
    PanicSell.objects.filter(exchange=exchange).delete()
    Position.objects.filter(exchange=exchange).delete()
    Cycle.objects.filter(strategy__exchange=exchange).delete()
    Strategy.objects.filter(exchange=exchange).delete()
    exchange.delete()


def wait_until(done, timeout: float, poll: float = 0.1) -> bool:
    """Poll `done()` until it is true or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(poll)
    return done()


class Service:
    """A platform process (Celery worker, scanner, ...) started for a benchmark, its output in a log file.

    `start` returns once `ready` appears in the output; `stop` sends SIGTERM and waits.
    """

    def __init__(self, name: str, command: list[str], *, ready: str, env: dict | None = None) -> None:
        self.name, self.command, self.ready, self.env = name, command, ready, env
        self.log = Path(settings.BASE_DIR) / "var" / f"bench-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "Service":
        self.log.parent.mkdir(exist_ok=True)
        out = self.log.open("w")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.settings", **(self.env or {})}
        self.proc = subprocess.Popen(self.command, cwd=settings.BASE_DIR, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while self.ready not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start; its output is in {self.log}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (a crash: no cleanup)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def celery_worker(
    name: str, queues: str = "execution,monitoring", concurrency: int = 2, env: dict | None = None
) -> Service:
    command = [sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "-Q", queues,
               "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--loglevel", "INFO",
               "--without-mingle", "--without-gossip"]  # fmt: skip
    return Service(name, command, ready="ready.", env=env)


def isolated_broker() -> str:
    """Point this process's Celery app at a broker database of its own (CHAOS_BROKER_URL, else Redis db 13),
    emptied, so a benchmark's tasks never reach a running platform's queues; returns the URL for its workers."""
    from tradingsite.celery import app

    broker = os.environ.get("CHAOS_BROKER_URL") or settings.REDIS_URL.rsplit("/", 1)[0] + "/13"
    if app.conf.broker_url != broker:
        app.conf.broker_url = broker
        # The app keeps the connection and producer pools it opened to send (an earlier part of the run) on the old
        # URL: dropped, its next send opens pools on this one. Without this the bench's beat ticks went on reaching
        # the old broker, where no worker listens, and copies whose task died with a SIGKILLed worker were never
        # queued again. (Not closed: kombu's global registry still hands them out for the old URL.)
        app._pool = None
        app.amqp._producer_pool = None
    # Celery reads CELERY_BROKER_URL from the environment before its configuration (bench/run.py sets it to the
    # bench's Redis database): without this, what this process sends would go there, where no worker listens.
    os.environ["CELERY_BROKER_URL"] = broker
    # Emptied first: messages an earlier run's SIGKILLed workers left unacknowledged come back after the visibility
    # timeout, and thousands of them would stand in front of this run's tasks.
    import redis

    client = redis.Redis.from_url(broker)
    if client.connection_pool.connection_kwargs.get("db", 0) in (0, 15):
        raise SystemExit(f"refusing to empty {broker}: the platform's database (0) or the tests' (15), not a bench's")
    client.flushdb()
    return broker
