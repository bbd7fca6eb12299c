"""GET /metrics: the Prometheus exposition of every process's counters (multiprocess files) and of the platform's
state read now (core/metrics.py says which is which), behind METRICS_BEARER_TOKEN or METRICS_ALLOWED_NETWORKS."""

import glob
import hmac
import ipaddress
import logging
import os
import time

import redis
from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from core.redis_client import redis_client
from core.schedule import QUEUES
from cycles.models import TERMINAL_STATES, Cycle
from exchanges.models import Exchange
from feeds.health import feed_health
from orders.models import Order
from positions.models import Position, PositionPhase

log = logging.getLogger(__name__)
NS = "tradingsite"
FEED_FIELDS = ("connected", "streams", "messages", "resyncs", "reconnects", "rest_fallbacks", "books_synced")
KOMBU_PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport keeps priorities 1-9 of queue Q in lists "Q\x06\x16N"


class StateCollector:
    """The platform's state as gauges, read from PostgreSQL and Redis at each scrape."""

    def collect(self):
        yield from self._database()
        try:
            yield from self._redis()
        except redis.RedisError as exc:  # the database half is still worth serving
            log.warning("metrics: Redis unreadable: %s", exc)

    def _database(self):
        # Live orders and active cycles by state (their partial indexes keep this cheap at any history); the
        # ended ones are counters (tradingsite_orders_ended_total, tradingsite_cycles_finished_total).
        orders = GaugeMetricFamily(f"{NS}_orders_live", "Orders still working, by status", labels=["status"])
        for status, n in Order.objects.filter(live=True).order_by().values_list("status").annotate(n=Count("id")):
            orders.add_metric([status], n)
        cycles = GaugeMetricFamily(f"{NS}_cycles_active", "Cycles not finished, by state", labels=["state"])
        active = Cycle.objects.exclude(state__in=TERMINAL_STATES).order_by()
        for state, n in active.values_list("state").annotate(n=Count("id")):
            cycles.add_metric([state], n)
        positions = GaugeMetricFamily(f"{NS}_positions_open", "Open positions by urgency tier and phase",
                                      labels=["tier", "phase"])  # fmt: skip
        open_positions = Position.objects.exclude(phase=PositionPhase.CLOSED).order_by()
        for tier, phase, n in open_positions.values_list("tier", "phase").annotate(n=Count("id")):
            positions.add_metric([tier or "-", phase], n)
        yield from (orders, cycles, positions)

    def _redis(self):
        r = redis_client()
        names = list(Exchange.objects.filter(enabled=True).order_by("name").values_list("name", flat=True))
        pipe = r.pipeline(transaction=False)
        for name in names:
            pipe.hmget(f"rl:{name}:bucket", "tokens", "ts")
            pipe.hget(f"cb:{name}", "state")
        answers = pipe.execute()
        capacity, rate = settings.VENUE_RATE_CAPACITY, settings.VENUE_RATE_CAPACITY / 60
        tokens = GaugeMetricFamily(f"{NS}_limiter_tokens", "Rate-limit tokens left in the shared bucket",
                                   labels=["venue"])  # fmt: skip
        breaker = GaugeMetricFamily(f"{NS}_breaker_open", "1 while the venue's circuit is open (or half-open: 0.5)",
                                    labels=["venue"])  # fmt: skip
        now_us = time.time() * 1e6
        for i, name in enumerate(names):
            left, ts = answers[2 * i]
            value = capacity if left is None else min(capacity, float(left) + (now_us - float(ts)) / 1e6 * rate)
            tokens.add_metric([name], value)
            state = (answers[2 * i + 1] or b"closed").decode()
            breaker.add_metric([name], {"open": 1.0, "half_open": 0.5}.get(state, 0.0))
        yield from (tokens, breaker)
        yield self._queues()
        yield self._writebehind(r)
        feed = GaugeMetricFamily(f"{NS}_feed", "Market-data feed health, by account and figure",
                                 labels=["exchange", "figure"])  # fmt: skip
        for name in names:
            health = feed_health(name, client=r)
            if health:
                for field in FEED_FIELDS:
                    feed.add_metric([name, field], float(health.get(field) or 0))
                if health.get("last_message_ms"):
                    feed.add_metric([name, "last_message_age_s"], time.time() - health["last_message_ms"] / 1000)
        yield feed

    @staticmethod
    def _queues() -> GaugeMetricFamily:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            pipe = broker.pipeline(transaction=False)
            for queue in QUEUES:
                pipe.llen(queue)
                for priority in range(1, 10):
                    pipe.llen(f"{queue}{KOMBU_PRIORITY_SEP}{priority}")
            lengths = pipe.execute()
        finally:
            broker.close()
        family = GaugeMetricFamily(f"{NS}_celery_queue_length", "Messages waiting in a Celery queue",
                                   labels=["queue"])  # fmt: skip
        for i, queue in enumerate(QUEUES):
            family.add_metric([queue], sum(lengths[i * 10 : i * 10 + 10]))
        return family

    @staticmethod
    def _writebehind(r) -> GaugeMetricFamily:
        from core.writebehind import pending_fields

        family = GaugeMetricFamily(f"{NS}_writebehind_pending_fields", "Buffered fields not yet flushed",
                                   labels=["model"])  # fmt: skip
        for label, n in pending_fields(r).items():
            family.add_metric([label], n)
        return family


def _allowed(request) -> bool:
    token = settings.METRICS_BEARER_TOKEN
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)


class SamplesCollector(multiprocess.MultiProcessCollector):
    """Every process's samples files, summed; a file a process left empty (killed between creating it and sizing
    it) holds nothing and is passed over, instead of failing every scrape after it."""

    def collect(self):
        files = [f for f in glob.glob(os.path.join(self._path, "*.db")) if os.path.getsize(f) > 0]
        return self.merge(files, accumulate=True)


@require_GET
def metrics_view(request):
    if not _allowed(request):
        return HttpResponse("metrics: a bearer token (METRICS_BEARER_TOKEN) or an allowed network is needed\n",
                            status=401, content_type="text/plain", headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    registry = CollectorRegistry()
    SamplesCollector(registry)
    registry.register(StateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
