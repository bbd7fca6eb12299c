"""The chaos harness, short: real workers SIGKILLed at failpoints, recover_cycles, every cent checked.

`bench/run.py chaos --runs 200` is the long version; its docstring says what each run does.
"""

import pytest
from django.db import connections

from bench.bench_chaos import run_chaos


@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_ten_crashes_are_all_recovered_with_nothing_lost_or_placed_twice():
    db = connections["default"].settings_dict
    env = {
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings_test",
        "DATABASE_URL": f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DB_POOL_SIZE": "2",
    }
    result = run_chaos(10, seed=5, env=env)
    assert result["problems"] == {}
    assert (result["duplicate_orders"], result["orphans"], result["balance_mismatches"]) == (0, 0, 0)
    assert result["recovery_rate"] == 1.0, result["cycle_states"]
    assert result["kills"] >= 5, result["kills_by_point"]  # most runs really crash mid-cycle
    assert result["cycles"] == 30
