"""The Celery broker transport: kombu's Redis transport with one repair, so a worker rides out a Redis outage.

When a worker's consumer loses the broker, Celery (5.7) collects the connection with a short socket timeout
and then closes it. Collecting closes the default channel, and the Redis channel's close begins by reading the
BRPOP still pending on its socket; when that read times out, kombu's Connection.collect swallows the timeout
and closes the transport (its client set to None) with the channel left open. From then on, whatever that
channel does needs a Redis client built from the closed transport and raises AttributeError ('NoneType' object
has no attribute 'hostname' / 'client'): the close that follows, restoring its unacknowledged messages, and
after the reconnect the acknowledgement of a task that was running meanwhile. AttributeError is not a
connection error, so the worker stopped with "Unrecoverable error" instead of reconnecting (bench/run.py
outages, tests/outages).

Here such a channel raises a connection error instead, which kombu and Celery handle ("Couldn't ack", the
close ignored), and restores nothing itself, since it cannot reach Redis: its unacknowledged messages stay in
the broker's unacked hash and kombu's restore_visible puts them back on their queues once the visibility
timeout has passed, as after a worker that died (acks_late tasks are redelivered then, and find their state
already advanced). Nothing waits for them meanwhile: a task is a trigger, the work is in PostgreSQL, and the
sweepers (cycles.recover, orders.sweep_overdue) dispatch it again within seconds.
"""

from kombu.transport import redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(redis.Channel):
    def _transport_closed(self) -> bool:
        return self.connection is None or self.connection.client is None

    def _connparams(self, asynchronous=False):
        if self._transport_closed():
            raise RedisConnectionError("the broker connection of this channel was closed by the lost broker")
        return super()._connparams(asynchronous=asynchronous)

    def close(self):
        if not self.closed and self._transport_closed():
            self.do_restore = False  # it cannot reach Redis: restore_visible brings the messages back
        super().close()


class Transport(redis.Transport):
    Channel = Channel
