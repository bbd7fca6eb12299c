"""The chaos harness, short: real workers SIGKILLed at failpoints, recover_cycles, every cent checked.

`bench/run.py chaos --runs 200` is the long version; its docstring says what each run does.
"""

import pytest

from bench.bench_chaos import run_chaos


@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_ten_crashes_are_all_recovered_with_nothing_lost_or_placed_twice(worker_env):
    result = run_chaos(10, seed=5, env=worker_env)
    assert result["problems"] == {}
    assert (result["duplicate_orders"], result["orphans"], result["balance_mismatches"]) == (0, 0, 0)
    assert result["recovery_rate"] == 1.0, result["cycle_states"]
    assert result["kills"] >= 5, result["kills_by_point"]  # most runs really crash mid-cycle
    assert result["cycles"] == 30
