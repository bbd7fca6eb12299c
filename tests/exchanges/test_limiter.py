"""The shared limiter and circuit breaker, against real Redis and real processes."""

import multiprocessing
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import redis

from core.limiter import RateLimiter, bucket_violations, hammer
from exchanges.breaker import CircuitBreaker
from exchanges.errors import Banned, RateLimited, VenueUnavailable
from exchanges.guarded import GuardedVenue


@pytest.fixture
def r(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def test_four_processes_sharing_one_bucket_never_exceed_it(settings):
    capacity, rate, seconds = 50, 400, 3.0
    RateLimiter("hammered", capacity=capacity, refill_per_s=rate, client=redis.Redis.from_url(settings.REDIS_URL))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(hammer, [(settings.REDIS_URL, "hammered", capacity, rate, seconds)] * 4)
    grants = [t for worker in results for t in worker]
    assert all(results), "every process got tokens"
    assert bucket_violations(grants, capacity=capacity, refill_per_s=rate) == 0
    # And the bucket was really the limit: close to capacity + rate * time, not far below.
    span = (max(grants) - min(grants)) / 1e6
    assert len(grants) > 0.8 * (rate * span)
    assert len(grants) <= capacity + rate * span + 1


def test_violation_counter_catches_an_overdrawn_bucket():
    burst = [1_000_000 + i for i in range(20)]  # 20 grants within 20 µs
    assert bucket_violations(burst, capacity=10, refill_per_s=1) == 10
    assert bucket_violations(burst, capacity=20, refill_per_s=1) == 0


def test_violation_counter_accepts_grants_on_the_buckets_edge_at_real_timestamps():
    # An exact (rational) bucket drained as fast as it refills, stamped with
    # present-day µs times: every grant is legal, many sit exactly on the edge.
    rng = random.Random(7)
    capacity, rate = 100, 500
    tokens, last, now, grants = Fraction(capacity), 1_763_700_000_123_457, 1_763_700_000_123_457, []
    for _ in range(50_000):
        now += rng.randint(0, 700)
        tokens = min(Fraction(capacity), tokens + Fraction(now - last) * rate / 1_000_000)
        last = now
        if tokens >= 1:
            tokens -= 1
            grants.append(now)
    assert bucket_violations(grants, capacity=capacity, refill_per_s=rate) == 0


def test_bucket_clock_never_runs_backwards(r):
    limiter = RateLimiter("clock", capacity=10, refill_per_s=1, client=r, jitter=0.0)
    limiter.acquire(1)
    future_us = (time.time() + 60) * 1_000_000  # as if the server clock had since stepped back a minute
    r.hset(limiter.keys[0], mapping={"tokens": "0", "ts": f"{future_us:.0f}"})
    status, _, granted_at_us, _ = limiter.try_acquire(1)
    assert status == 1  # no refill for time that has not passed on the bucket's clock
    assert granted_at_us >= int(future_us)


def test_weights_spend_more_tokens(r):
    limiter = RateLimiter("w", capacity=100, refill_per_s=0.001, client=r)
    limiter.acquire(80)
    with pytest.raises(RateLimited) as info:
        limiter.acquire(limiter.weight("fetch_open_orders_all"), timeout=0.05)
    assert info.value.retry_after > 1000  # at 0.001 token/s, 60 tokens take hours


def test_a_429_makes_every_caller_wait_retry_after(r):
    one = RateLimiter("v429", capacity=100, refill_per_s=100, client=r, jitter=0.0)
    other = RateLimiter("v429", capacity=100, refill_per_s=100, client=r, jitter=0.0)
    one.backoff(0.3)
    grant = other.acquire(1, timeout=2)
    assert grant.waited_s >= 0.25


def test_a_418_halts_the_venue_until_the_ban_ends(r):
    limiter = RateLimiter("v418", capacity=100, refill_per_s=100, client=r)
    limiter.ban(datetime.now(UTC) + timedelta(seconds=0.5))
    with pytest.raises(Banned, match="banned until"):
        limiter.acquire(1)
    assert limiter.banned_until() is not None
    time.sleep(0.6)
    limiter.acquire(1)
    assert limiter.banned_until() is None


def test_used_weight_header_lowers_the_bucket(r):
    limiter = RateLimiter("hdr", capacity=1000, refill_per_s=1, client=r)
    left = limiter.observe_used_weight(900, 1000)
    assert 99 <= left <= 101
    assert limiter.budget_fraction() < 0.11


def test_breaker_opens_after_n_failures_then_probes_once(r):
    a = CircuitBreaker("cb", threshold=3, cooldown_s=0.3, client=r)
    b = CircuitBreaker("cb", threshold=3, cooldown_s=0.3, client=r)  # another worker
    for _ in range(2):
        a.before_call()
        a.record_failure()
    a.before_call()
    assert a.record_failure() is True
    with pytest.raises(VenueUnavailable, match="circuit open"):
        b.before_call()
    time.sleep(0.35)
    b.before_call()  # the one probe
    assert a.state() == "half_open"
    with pytest.raises(VenueUnavailable):
        a.before_call()  # only one probe at a time
    b.record_success()
    assert a.state() == "closed"
    a.before_call()


def test_failed_probe_opens_the_circuit_again(r):
    breaker = CircuitBreaker("cb2", threshold=1, cooldown_s=0.2, client=r)
    breaker.record_failure()
    time.sleep(0.25)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state() == "open"


@pytest.mark.django_db
def test_guarded_paper_venue_halts_on_418_without_calling_the_venue(paper, faults, r):
    limiter = RateLimiter(paper.name, capacity=1000, refill_per_s=100, client=r)
    guarded = GuardedVenue(paper, limiter=limiter, breaker=CircuitBreaker(paper.name, client=r))
    faults.ban_p, faults.ban_s = 1, 60
    faults.save()
    with pytest.raises(Banned):
        guarded.fetch_balance()
    faults.enabled = False
    faults.save()
    with pytest.raises(Banned):
        guarded.create_order(
            symbol="BTCUSDT", side="buy", type="market", amount=Decimal("0.01"), client_order_id="after-ban"
        )
    assert not paper.exchange.paper_orders.exists()  # nothing reached the venue


@pytest.mark.django_db
def test_guarded_venue_opens_the_circuit_on_repeated_5xx(paper, faults, r):
    breaker = CircuitBreaker(paper.name, threshold=3, cooldown_s=60, client=r)
    guarded = GuardedVenue(
        paper, limiter=RateLimiter(paper.name, capacity=100, refill_per_s=100, client=r), breaker=breaker
    )
    faults.server_error_p = 1
    faults.save()
    for _ in range(3):
        with pytest.raises(VenueUnavailable, match="503"):
            guarded.fetch_tickers()
    with pytest.raises(VenueUnavailable, match="circuit open"):
        guarded.fetch_tickers()
