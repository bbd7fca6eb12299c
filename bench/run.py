"""Benchmarks: `python bench/run.py SUITE [--json]`; `all` runs every suite.

Each suite measures against its baseline in the same run and prints a table,
or with --json one JSON object as its last line.
"""

import argparse
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = [p.stem for p in sorted((ROOT / "bench").glob("bench_*.py"))]
# Every suite runs on a database and a Redis database of its own, never the platform's or the tests': created
# and migrated at the start, dropped and flushed at the end (--keep-data keeps them to look at).
BENCH_DATA = ("tradingsite_bench", 10)
OWN_DATA = {"fuzz": ("tradingsite_bench_fuzz", 11)}  # suite -> (database, Redis db), where not BENCH_DATA
# Suites that stop and start PostgreSQL and Redis: they run on a cluster and a Redis server of their own.
PRIVATE_SERVERS = {"outages", "soak"}


def own_data(suite: str) -> tuple[str, int] | None:
    """The database and Redis database a suite runs on (None: servers of its own, removed after)."""
    if suite in PRIVATE_SERVERS:
        return None
    return OWN_DATA.get(suite, BENCH_DATA)


def own_data_env(database: str, redis_db: int) -> dict[str, str]:
    """DATABASE_URL, REDIS_URL and the broker pointed at `database` and `redis_db` on the configured servers."""
    from urllib.parse import urlsplit, urlunsplit

    db = urlsplit(os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/tradingsite"))
    redis_url = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    redis_own = urlunsplit(redis_url._replace(path=f"/{redis_db}"))
    return {"DATABASE_URL": urlunsplit(db._replace(path=f"/{database}")), "REDIS_URL": redis_own,
            "CELERY_BROKER_URL": redis_own, "CELERY_RESULT_BACKEND": redis_own}  # fmt: skip


def main() -> int:
    names = [s.removeprefix("bench_") for s in SUITES]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suite", choices=[*names, "all"])
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--keep-data", action="store_true", help="keep the bench's database and Redis database")
    args, rest = parser.parse_known_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    own = own_data(args.suite)
    if own is not None:
        os.environ.update(own_data_env(*own))
    # The bench's processes count their metrics apart from the platform's (core/metrics.py), from zero.
    metrics_dir = ROOT / "var" / "bench-prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    private = None
    try:
        if own is None:  # the bench stops and starts them: servers of its own
            from bench.private import start_private_servers

            private = start_private_servers()
            os.environ.update(private.env)
        import django

        django.setup()
        return _run(args, rest, chosen_names=names)
    finally:
        if private is not None:  # whatever happened, the servers it started go with it
            private.remove()
        elif own is not None and not args.keep_data:
            _drop_own_data(*own)


def _drop_own_data(database: str, redis_db: int) -> None:
    """The bench's database dropped and its Redis database flushed (never the platform's: the names say so)."""
    import psycopg
    import redis
    from psycopg import sql

    if not database.startswith("tradingsite_bench") or redis_db in (0, 15):
        raise SystemExit(f"refusing to drop {database} / Redis db {redis_db}: not a benchmark's own")
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: S110 - Django may not be set up; nothing is open then
        pass
    env = own_data_env(database, redis_db)
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    with psycopg.connect(own_data_env("postgres", redis_db)["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def _run(args, rest, *, chosen_names) -> int:
    names = chosen_names
    from django.core.management import call_command

    call_command("ensure_database", stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("migrate", verbosity=0)

    # `all` leaves out the suites that stop servers and take long (outages, soak): run those by name.
    chosen = [n for n in names if n not in PRIVATE_SERVERS] if args.suite == "all" else [args.suite]
    if not chosen:
        print("no benchmark suites are defined yet")
        return 0
    results = {}
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        results[name] = module.run(rest)
        if not args.json:
            print(f"\n== {name}")
            for key, value in results[name].items():
                print(f"  {key:32} {value}")
    if args.json:
        print(json.dumps(results[chosen[0]] if len(chosen) == 1 else results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
