"""Outage figures: every `make run` process rides out a PostgreSQL and a Redis outage and resumes by itself.

The platform as `make run` starts it (supervisord over the Procfile: web, worker, beat, simulator, scanner,
wallet sources) on a PostgreSQL cluster and a Redis server of the bench's own (bench/private.py), with the
demo accounts, strategy and wallets, and the simulator opening SIMULATOR_MISPRICING_RATE mispricings a minute.
After a warm-up (a cycle completed), PostgreSQL is stopped (fast shutdown: sessions terminated) for
`--outage-s` seconds and started again; then Redis likewise.

processes_started, processes_alive_after, restarts
    Programs RUNNING before; RUNNING after both outages; programs whose pid changed (supervisord restarted them).
recovery_s_postgres, recovery_s_redis
    From the service back to /healthz 200 and a cycle completed after it (the worse of the two).
duplicate_orders, lost_transitions, orphans
    After the platform is stopped and `recover_cycles` has run: venue orders placed twice or two attempts of one
    intent live and filled at once; orders or cycles that had ended before an outage and were not ended the same
    way after it; venue orders with no row here, and live orders left.
"""

import argparse
import time

from django.utils import timezone


def _ended() -> dict[str, tuple[str, str]]:
    from cycles.models import Cycle
    from orders.models import TERMINAL_STATUSES, Order

    ended = {f"order {pk}": ("order", status) for pk, status in
             Order.objects.filter(status__in=TERMINAL_STATUSES).values_list("pk", "status")}  # fmt: skip
    ended |= {f"cycle {pk}": ("cycle", state) for pk, state in
              Cycle.objects.filter(finished_at__isnull=False).values_list("pk", "state")}  # fmt: skip
    return ended


def _outage(server, platform, seconds: float) -> dict:
    before = _ended()
    server.stop()
    time.sleep(seconds)  # the outage itself: its length is what is measured against
    server.start()
    back = timezone.now()
    started = time.monotonic()
    from bench.common import wait_until
    from bench.live import wait_for_cycle

    healthy = wait_until(platform.healthy, timeout=120, poll=0.25)
    health_s = time.monotonic() - started
    cycle_s = wait_for_cycle(back, timeout=180)
    return {"recovery_s": round(max(health_s, cycle_s or 0.0), 2) if healthy and cycle_s is not None else None,
            "health_s": round(health_s, 2), "cycle_s": None if cycle_s is None else round(cycle_s, 2),
            "ended_before": before}  # fmt: skip


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py outages")
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--mispricing-rate", type=float, default=60.0, help="mispricings a minute (simulator)")
    args = parser.parse_args(argv)
    import os

    from bench.bench_chaos import _duplicates, _orphans
    from bench.common import wait_until
    from bench.live import start_on_private_servers, wait_for_cycle
    from exchanges.models import Exchange

    servers, platform = start_on_private_servers("outages", {"SIMULATOR_MISPRICING_RATE": str(args.mispricing_rate)})
    result: dict = {}
    try:
        warm = timezone.now()
        assert wait_until(platform.healthy, timeout=60), "the platform did not come up"
        result["warmup_cycle_s"] = wait_for_cycle(warm, timeout=240)
        before = platform.status()
        result["processes_started"] = sum(1 for state, _ in before.values() if state == "RUNNING")
        pg = _outage(servers.postgres, platform, args.outage_s)
        redis = _outage(servers.redis, platform, args.outage_s)
        after = platform.status()
        result |= {
            "processes_alive_after": sum(1 for state, _ in after.values() if state == "RUNNING"),
            "restarts": sum(1 for name, (_, pid) in after.items() if before.get(name, (None, None))[1] != pid),
            "recovery_s_postgres": pg["recovery_s"], "recovery_s_redis": redis["recovery_s"],
            "postgres": {k: v for k, v in pg.items() if k != "ended_before"},
            "redis": {k: v for k, v in redis.items() if k != "ended_before"},
            "exits_logged": platform.log_text().count(" exited: "),
        }  # fmt: skip
    finally:
        platform.stop()
    from django.core.management import call_command

    call_command("recover_cycles", "--wait", "30", stdout=open(os.devnull, "w"))  # noqa: SIM115
    now = _ended()
    lost = [key for outage in (pg, redis) for key, value in outage["ended_before"].items() if now.get(key) != value]
    duplicates, orphans = [], []
    for exchange in Exchange.objects.all():
        duplicates += _duplicates(exchange)
        orphans += _orphans(exchange)
    from orders.models import Order

    result |= {"duplicate_orders": len(duplicates), "lost_transitions": len(lost), "orphans": len(orphans),
               "orders": Order.objects.count(), "problems": (duplicates + lost + orphans)[:10]}  # fmt: skip
    return result
