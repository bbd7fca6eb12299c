"""One pooled Redis client per process and URL, with short timeouts: Redis holds nothing we cannot lose."""

from collections import Counter

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}


def disconnect_all() -> None:
    """Drop every pooled Redis connection of this process (after an outage: the next command reconnects)."""
    for client in list(_clients.values()):
        client.connection_pool.disconnect()


def redis_client() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _clients[url]


def counters_add(key: str, counts: dict[str, int], *, client: redis.Redis | None = None) -> None:
    """Add to named counters in one Redis hash (statistics), in one round trip."""
    pipe = (client or redis_client()).pipeline(transaction=False)
    for name, amount in counts.items():
        if amount:
            pipe.hincrby(key, name, amount)
    pipe.execute()


def counters_read(key: str, *, client: redis.Redis | None = None) -> Counter[str]:
    """The counters of one hash; a name never counted reads 0."""
    return Counter({k.decode(): int(v) for k, v in (client or redis_client()).hgetall(key).items()})
