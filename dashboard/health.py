"""/healthz: PostgreSQL, Redis and the broker, checked concurrently, each with its latency.

Anyone may ask whether the platform is up (`{"status": "ok"}` 200, `{"status": "fail"}` 503), at most
HEALTH_THROTTLE times a minute per address; the components, account names and error texts are for
logged-in staff only.
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import redis
from django.conf import settings
from django.db import connections, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.redis_client import redis_client
from core.resilience import INFRASTRUCTURE_OUTAGES


def check_postgres(timeout: float, probe: str = "SELECT 1") -> None:
    conn = connections["default"]
    try:
        # SET LOCAL lasts only as long as a transaction: outside one it would not apply to the SELECT.
        with transaction.atomic(), conn.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = %s", [int(timeout * 1000)])
            cursor.execute(probe)
            cursor.fetchone()
    finally:
        conn.close()  # this thread's connection goes back to the pool


def check_redis(timeout: float) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def check_broker(timeout: float) -> None:
    from tradingsite.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        # Some transports connect lazily; a channel proves the broker answers.
        conn.default_channel  # noqa: B018


def venue_components() -> dict[str, dict]:
    """Each enabled venue: banned (418) or circuit open means it takes no orders now."""
    from exchanges.models import Exchange, ExchangeKind
    from exchanges.registry import venue_breaker, venue_limiter
    from feeds.health import feed_health

    components = {}
    try:
        for exchange in Exchange.objects.filter(enabled=True):
            banned_until = venue_limiter(exchange).banned_until()
            circuit = venue_breaker(exchange).state()
            entry = {"ok": banned_until is None and circuit != "open", "circuit": circuit}
            if banned_until is not None:
                entry["error"] = f"banned by the venue until {banned_until.isoformat()}"
            elif circuit == "open":
                entry["error"] = "circuit open after repeated failures"
            if exchange.kind == ExchangeKind.CCXT:  # a real venue trades only on the market data its feed writes
                feed = feed_health(exchange.name)
                entry["feed"] = feed
                if feed is None or not feed.get("connected"):
                    entry["ok"] = False
                    entry.setdefault("error", "no market-data feed running (manage.py run_feed)" if feed is None
                                     else "market-data feed not connected")  # fmt: skip
            components[f"venue:{exchange.name}"] = entry
    finally:
        connections["default"].close()
    return components


CHECKS: dict[str, Callable[[float], None]] = {
    "postgres": check_postgres,
    "redis": check_redis,
    "broker": check_broker,
}


def _timed(check: Callable[[float], None], timeout: float) -> dict:
    started = time.perf_counter()
    try:
        check(timeout)
    except Exception as exc:  # a health check reports every failure, it never raises
        return {
            "ok": False,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "error": f"{type(exc).__name__}: {exc}",
        }
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def run_checks(timeout: float | None = None) -> dict:
    timeout = timeout if timeout is not None else settings.HEALTHCHECK_TIMEOUT_S
    results: dict[str, dict] = {}
    pool = ThreadPoolExecutor(max_workers=len(CHECKS) + 1, thread_name_prefix="healthz")
    futures = {name: pool.submit(_timed, check, timeout) for name, check in CHECKS.items()}
    venues = pool.submit(venue_components)
    deadline = time.monotonic() + timeout + 1.0
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {"ok": False, "latency_ms": None, "error": f"no answer within {timeout:.1f}s"}
    try:
        results.update(venues.result(timeout=max(0.0, deadline - time.monotonic())))
    except Exception as exc:  # PostgreSQL or Redis down: already reported above
        results["venues"] = {"ok": False, "latency_ms": None, "error": f"{type(exc).__name__}: {exc}"}
    pool.shutdown(wait=False, cancel_futures=True)
    healthy = all(r["ok"] for r in results.values())
    return {
        "status": "ok" if healthy else "unavailable",
        "failing": sorted(name for name, r in results.items() if not r["ok"]),
        "components": results,
    }


def _throttled(request) -> bool:
    """Over HEALTH_THROTTLE requests this minute from this address (a fixed window in Redis; Redis away: never)."""
    from rest_framework.throttling import SimpleRateThrottle

    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["health"]
    allowed, period = SimpleRateThrottle.parse_rate(None, rate)  # parse_rate reads only its argument
    window = int(time.time() // period)
    key = f"throttle:healthz:{request.META.get('REMOTE_ADDR', '')}:{window}"
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period)
        count, _ = pipe.execute()
    except redis.RedisError:
        return False  # the check itself reports Redis; the throttle must not turn that into an error
    return count > allowed


@never_cache
@require_GET
def healthz(request):
    if _throttled(request):
        return JsonResponse({"status": "throttled"}, status=429, headers={"Retry-After": "60"})
    report = run_checks()
    code = 200 if report["status"] == "ok" else 503
    try:
        staff = request.user.is_authenticated and request.user.is_staff  # sessions live in PostgreSQL
    except INFRASTRUCTURE_OUTAGES:
        staff = False
    if staff:
        return JsonResponse(report, status=code)
    return JsonResponse({"status": "ok" if code == 200 else "fail"}, status=code)
