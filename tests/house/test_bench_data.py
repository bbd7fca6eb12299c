"""Benchmarks never touch the platform's data: each suite runs on a database and Redis database of its own."""

import pytest

from bench import run


@pytest.mark.parametrize("suite", [s.removeprefix("bench_") for s in run.SUITES])
def test_every_suite_runs_on_data_of_its_own(suite):
    own = run.own_data(suite)
    if own is None:
        assert suite in run.PRIVATE_SERVERS  # a PostgreSQL cluster and a Redis server of its own, removed after
        return
    database, redis_db = own
    assert database.startswith("tradingsite_bench")
    assert redis_db not in (0, 15)  # the platform's and the tests'
    env = run.own_data_env(database, redis_db)
    assert env["DATABASE_URL"].endswith(f"/{database}")
    assert {env["REDIS_URL"], env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"]} == {
        env["REDIS_URL"].rsplit("/", 1)[0] + f"/{redis_db}"
    }


@pytest.mark.parametrize(("database", "redis_db"), [("tradingsite", 10), ("tradingsite_bench", 0), ("x", 10)])
def test_the_clean_up_refuses_what_is_not_a_bench_s_own(database, redis_db):
    with pytest.raises(SystemExit, match="refusing"):
        run._drop_own_data(database, redis_db)
