"""The whole platform as `make run` starts it (supervisord over the Procfile), for benchmarks that watch it
live: on whatever database and Redis the environment names, with the demo accounts, strategy and wallets."""

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings

from bench.common import Service, wait_until
from bench.private import free_port

ROOT = Path(settings.BASE_DIR)


def prepare_demo() -> None:
    """What `make run` sets up before it starts the processes."""
    from django.core.management import call_command

    quiet = open(os.devnull, "w")  # noqa: SIM115
    call_command("setup_demo", stdout=quiet)
    call_command("load_strategy", str(ROOT / "configs" / "strategies" / "optimized_strategy.yaml"), stdout=quiet)
    call_command("setup_copy_demo", stdout=quiet)


class Platform:
    """supervisord running every Procfile process; `pids()` and `alive()` from supervisorctl."""

    def __init__(self, name: str, env: dict) -> None:
        self.dir = ROOT / "var" / f"bench-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "supervisord.conf"
        self.web_port, sources_port = free_port(), free_port()
        self.env = {**env, "WEB_PORT": str(self.web_port), "WALLET_SOURCES_PORT": str(sources_port),
                    "FLOWER_PORT": str(free_port()), "FLOWER_BASIC_AUTH": f"bench:{secrets.token_urlsafe(12)}",
                    "POLYMARKET_DATA_API_URL": f"http://127.0.0.1:{sources_port}",
                    "ETHERSCAN_API_URL": f"http://127.0.0.1:{sources_port}/v2/api"}  # fmt: skip
        subprocess.run([sys.executable, "scripts/supervisord_conf.py", str(self.conf)], cwd=ROOT, check=True,
                       capture_output=True, env=self.env)  # written for the environment supervisord gets  # fmt: skip
        command = [str(Path(sys.executable).parent / "supervisord"), "-c", str(self.conf)]
        self.service = Service(f"{name}-platform", command, ready="success: worker entered RUNNING", env=self.env)

    def start(self) -> "Platform":
        self.service.start(timeout=120)
        return self

    def stop(self) -> None:
        self.service.stop(timeout=60)

    def status(self) -> dict[str, tuple[str, int | None]]:
        """program -> (state, pid) from supervisorctl."""
        out = subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c", str(self.conf), "status"],
                             capture_output=True, text=True, check=False).stdout  # fmt: skip
        result = {}
        for line in out.splitlines():
            match = re.match(r"(\S+)\s+(\S+)(?:\s+pid (\d+))?", line)
            if match:
                result[match.group(1)] = (match.group(2), int(match.group(3)) if match.group(3) else None)
        return result

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.web_port}/healthz", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def log_text(self) -> str:
        return self.service.log.read_text(errors="replace")


def cycles_completed_since(moment) -> int:
    """Cycles completed after `moment` (0 while the database is away: the bench's own connection drops too)."""
    from core.resilience import INFRASTRUCTURE_OUTAGES, drop_broken_connections
    from cycles.models import Cycle, CycleState

    try:
        return Cycle.objects.filter(state=CycleState.COMPLETED, finished_at__gt=moment).count()
    except INFRASTRUCTURE_OUTAGES:
        drop_broken_connections()
        return 0


def wait_for_cycle(since, timeout: float) -> float | None:
    """Seconds until a cycle opened after `since` completes, or None."""
    started = time.monotonic()
    if wait_until(lambda: cycles_completed_since(since) > 0, timeout=timeout, poll=0.25):
        return time.monotonic() - started
    return None


def start_on_private_servers(name: str, extra_env: dict[str, str], *, seed=None):
    """The demo prepared (and `seed()` run) on the bench's own servers, then the platform started on them."""
    from bench import private

    servers = private.CURRENT
    if servers is None:
        raise SystemExit(f"run it as `bench/run.py {name}`: it runs on servers of its own, which it stops and starts")
    prepare_demo()
    if seed is not None:
        seed()
    return servers, Platform(name, {**os.environ, **servers.env, **extra_env}).start()
