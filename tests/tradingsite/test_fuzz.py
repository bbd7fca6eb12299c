"""A short schemathesis run inside the suite: a live server of the project (gunicorn and the simulator) on the
test database, every operation fuzzed and walked statefully, and no answer of 500 or more.

`bench/run.py fuzz` is the long version (thousands of cases, every phase)."""

import pytest

from bench.fuzz import fuzz, live_platform, operator_token, prepare, seed
from bench.private import free_port


@pytest.mark.timeout(600)
@pytest.mark.django_db(transaction=True)
def test_a_short_fuzz_run_gets_no_server_error(worker_env, shared_data):
    prepare()
    port = free_port()
    services = live_platform(worker_env, port)
    try:
        result = fuzz(port=port, token=operator_token(), ids=seed(), max_examples=4, seed=7,
                      phases="fuzzing,stateful")  # fmt: skip
    finally:
        for service in services:
            service.stop()
    assert result["fuzz_operations"] >= 50
    assert result["fuzz_cases"] >= 200, result
    assert result["fuzz_server_errors"] == 0, result["fuzz_server_error_samples"]
    assert result["fuzz_failures"] == [], result
