import pytest
from django.conf import settings
from django.db import connections

from .proxy import TcpProxy


@pytest.fixture
def pg_proxy():
    db = connections["default"].settings_dict
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def redis_proxy():
    from urllib.parse import urlsplit

    url = urlsplit(settings.REDIS_URL)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 6379).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def through_proxies(worker_env, pg_proxy, redis_proxy):
    """The environment of a process that reaches PostgreSQL and Redis only through the proxies."""
    from urllib.parse import urlsplit, urlunsplit

    db, redis_url = urlsplit(worker_env["DATABASE_URL"]), urlsplit(settings.REDIS_URL)
    return worker_env | {
        "DATABASE_URL": urlunsplit(db._replace(netloc=f"{db.username or ''}@127.0.0.1:{pg_proxy.port}")),
        "TEST_REDIS_URL": urlunsplit(redis_url._replace(netloc=f"127.0.0.1:{redis_proxy.port}")),
        "OUTAGE_BACKOFF_MAX_S": "0.5",
        "DB_POOL_TIMEOUT": "2",
    }
