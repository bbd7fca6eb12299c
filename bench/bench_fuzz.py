"""Hardening figures: the API fuzzed, and exits racing to sell the same positions.

fuzz_cases, fuzz_server_errors
    schemathesis (coverage, fuzzing and stateful phases; `--checks not_a_server_error`) against a live server of
    the project: gunicorn and the simulator, as `make run` starts them, throttling lifted for the run, on the
    bench's own database and Redis database. Every detail route points at a row that exists (bench/fuzz.py
    seeds them). Figures: the cases generated, and the distinct requests answered with 500 or more.
oversell_trials, oversold
    bench/oversell.py: N positions of 1 BTC, each wanted by a stop-loss, an operator close, close-all and a copy's
    reduce, raced by four processes against real PostgreSQL on a paper ledger holding twice what the positions
    hold (so the venue itself would let an oversell through). Figures: positions raced, and positions whose sells
    took more than they held; `ledger_agrees` says the venue's trades and our fills are the same.
"""

import argparse


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="bench/run.py fuzz")
    parser.add_argument("--examples", type=int, default=40, help="schemathesis cases per operation and phase")
    parser.add_argument("--oversell", type=int, default=200, help="positions raced")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--parts", default="fuzz,oversell")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    result: dict = {}
    import os

    from django.conf import settings

    env = {key: os.environ[key] for key in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
           if key in os.environ}  # fmt: skip
    if "fuzz" in parts:
        from django.core.management import call_command

        from bench.fuzz import fuzz, live_platform, operator_token, prepare, seed
        from core.redis_client import redis_client

        redis_client().flushdb()  # the bench's own Redis database,
        call_command("flush", interactive=False, verbosity=0)  # and its own database: what a last run left
        prepare()
        from bench.private import free_port

        port = free_port()
        services = live_platform(env, port)
        try:
            ids = seed()
            result |= fuzz(port=port, token=operator_token(), ids=ids, max_examples=args.examples, seed=args.seed)
        finally:
            for service in services:
                service.stop()
    if "oversell" in parts:
        from bench.oversell import run_oversell

        oversell = run_oversell(args.oversell, env=env, seed=args.seed)
        result |= {k: v for k, v in oversell.items() if k != "race_outcomes"}
        result["oversell_outcomes"] = oversell["race_outcomes"]
    result["database"] = settings.DATABASES["default"]["NAME"]
    return result
