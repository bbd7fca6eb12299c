"""Shared fixtures: real PostgreSQL (pytest-django) and real Redis."""

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory


@pytest.fixture
def operator(db):
    return UserFactory(username="operator-test", is_staff=True, is_superuser=True)


@pytest.fixture
def viewer(db):
    """Logged in, but no model permissions: may read, may not write."""
    return UserFactory(username="viewer-test")


@pytest.fixture
def api(operator):
    client = APIClient()
    client.force_authenticate(operator)
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture(autouse=True)
def _clean_test_redis(settings):
    """Each test starts with an empty test Redis database (never the platform's)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pass  # tests that need Redis fail on their own with a clear error
    finally:
        client.close()
