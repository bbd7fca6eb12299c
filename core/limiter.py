"""One token bucket per venue account in Redis, shared by every process and host.

The bucket is refilled and spent inside one Lua script on the Redis server's
clock, so concurrent workers can never take more than capacity + rate * t in
any interval t. A 429 sets a backoff every caller honours; a 418 halts the
venue until the ban ends.
"""

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from core.redis_client import redis_client

from .clock import from_ms, to_ms
from .errors import Banned, RateLimited

# Both scripts start by refilling the bucket to the present. Numbers are
# written with string.format: Lua's tostring keeps 14 digits, which would round
# a µs timestamp and credit refills for time that never passed. The bucket's
# clock never runs backwards: if the server's wall clock steps back, time
# stands still at the last grant, so no grant is stamped before the one it
# followed and the grant record stays in the order the bucket saw it.
# KEYS[1]: bucket hash. ARGV[1]: capacity, ARGV[2]: refill per second.
_REFILL = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now_us end
if now_us < ts then now_us = ts end
tokens = math.min(capacity, tokens + (now_us - ts) / 1000000 * rate)
local function save()
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', now_us))
end
"""

# KEYS: bucket hash, backoff key, ban key, this minute's usage hash. ARGV: capacity, refill per second, weight.
# Returns {status, wait_ms_or_ban_end_ms, granted_at_us, tokens_left_milli}; status 0 granted, 1 wait, 2 banned.
_ACQUIRE = (
    _REFILL
    + """
local ban_until = tonumber(redis.call('GET', KEYS[3]) or '0')
if ban_until > now_ms then return {2, ban_until, now_us, 0} end
local backoff_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if backoff_until > now_ms then return {1, backoff_until - now_ms, now_us, 0} end
local weight = tonumber(ARGV[3])
if tokens >= weight then
  tokens = tokens - weight
  save()
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
  redis.call('HINCRBY', KEYS[4], 'calls', 1)
  redis.call('HINCRBYFLOAT', KEYS[4], 'weight', weight)
  redis.call('EXPIRE', KEYS[4], 7200)
  return {0, 0, now_us, math.floor(tokens * 1000)}
end
save()
return {1, math.ceil((weight - tokens) / rate * 1000), now_us, math.floor(tokens * 1000)}
"""
)

# Lower the bucket to what the venue says is left (its used-weight header). ARGV[3]: tokens left.
_OBSERVE = (
    _REFILL
    + """
local left = tonumber(ARGV[3])
if left < tokens then tokens = left end
save()
return math.floor(tokens * 1000)
"""
)

# Binance spot request weights (docs: /api/v3 endpoints) as our method names.
DEFAULT_WEIGHTS = {
    "load_markets": 20,
    "fetch_tickers": 4,
    "fetch_order_book": 5,
    "fetch_klines": 2,
    "create_order": 1,
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "fetch_open_orders_all": 80,
    "cancel_order": 1,
    "fetch_balance": 20,
    "fetch_my_trades": 20,
}


def usage_key(venue: str, minute: int) -> str:
    """The hash of what the venue's bucket granted in one minute (calls, weight), kept two hours: the dashboard's
    calls-per-minute against the budget."""
    return f"rl:{venue}:used:{minute}"


def usage_per_minute(venues: list[str], minutes: int = 60, client: redis.Redis | None = None) -> dict[str, list]:
    """Each venue's last `minutes` minutes, oldest first: [minute start (epoch ms), calls, weight]."""
    now = int(time.time() // 60)
    span = range(now - minutes + 1, now + 1)
    pipe = (client or redis_client()).pipeline(transaction=False)
    for venue in venues:
        for minute in span:
            pipe.hmget(usage_key(venue, minute), "calls", "weight")
    answers = iter(pipe.execute())
    return {
        venue: [[m * 60_000, int(c or 0), float(w or 0)] for m, (c, w) in zip(span, answers, strict=False)]
        for venue in venues
    }


@dataclass(frozen=True)
class Grant:
    waited_s: float
    granted_at_us: int
    tokens_left: float


class RateLimiter:
    def __init__(
        self,
        venue: str,
        *,
        capacity: float,
        refill_per_s: float,
        client: redis.Redis | None = None,
        weights: dict[str, int] | None = None,
        jitter: float = 0.2,
    ) -> None:
        self.venue = venue
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self.r = client or redis_client()
        self.weights = weights or DEFAULT_WEIGHTS
        self.jitter = jitter
        self.keys = [f"rl:{venue}:bucket", f"rl:{venue}:backoff", f"rl:{venue}:ban"]
        self._acquire = self.r.register_script(_ACQUIRE)
        self._observe = self.r.register_script(_OBSERVE)

    def weight(self, endpoint: str) -> int:
        return self.weights.get(endpoint, 1)

    def try_acquire(self, weight: float = 1) -> tuple[int, float, int, float]:
        keys = [*self.keys, usage_key(self.venue, int(time.time() // 60))]
        status, value, now_us, left = self._acquire(keys=keys, args=[self.capacity, self.refill_per_s, weight])
        return int(status), float(value), int(now_us), int(left) / 1000

    def acquire(self, weight: float = 1, *, timeout: float = 30.0) -> Grant:
        """Block until `weight` tokens are ours; RateLimited past `timeout`, Banned if banned."""
        started = time.monotonic()
        while True:
            status, value, now_us, left = self.try_acquire(weight)
            if status == 0:
                return Grant(time.monotonic() - started, now_us, left)
            if status == 2:
                until = from_ms(value)
                raise Banned(f"{self.venue} is banned until {until.isoformat()}; no request goes out.", until=until)
            wait = value / 1000 * (1 + random.uniform(0, self.jitter))
            if time.monotonic() - started + wait > timeout:
                raise RateLimited(
                    f"{self.venue}: the shared request budget is spent; retry in {wait:.2f}s.", retry_after=wait
                )
            time.sleep(wait)

    def observe_used_weight(self, used: float, window_limit: float) -> float:
        """The venue reported `used` of `window_limit` (e.g. X-MBX-USED-WEIGHT-1M): never spend beyond it."""
        left = max(0.0, self.capacity * (1 - used / window_limit))
        return int(self._observe(keys=self.keys[:1], args=[self.capacity, self.refill_per_s, left])) / 1000

    def backoff(self, retry_after: float) -> float:
        """After a 429: every caller waits Retry-After plus jitter."""
        wait = retry_after * (1 + random.uniform(0, self.jitter))
        until_ms = int((time.time() + wait) * 1000)
        self.r.set(self.keys[1], until_ms, px=max(1, int(wait * 1000)) + 1000)
        return wait

    def ban(self, until: datetime) -> None:
        """After a 418: halt the venue until the ban ends."""
        until_ms = to_ms(until)
        ttl = until_ms - int(time.time() * 1000)
        if ttl > 0:
            self.r.set(self.keys[2], until_ms, px=ttl)

    def banned_until(self) -> datetime | None:
        raw = self.r.get(self.keys[2])
        if raw is None:
            return None
        until = from_ms(int(raw))
        return until if until > datetime.now(UTC) else None

    def budget_fraction(self) -> float:
        """Share of the bucket left now (1.0 full): callers stretch their delays as it runs low."""
        status, _, _, left = self.try_acquire(0)
        return max(0.0, min(1.0, left / self.capacity)) if status == 0 else 0.0

    def reset(self) -> None:
        self.r.delete(*self.keys)


def bucket_violations(grants_us: list[int], *, capacity: float, refill_per_s: float, weight: float = 1) -> int:
    """How many grants broke the bucket: in any interval t, at most capacity + rate * t may be granted.

    For grants sorted by time, grant j breaks it if some i <= j has
    (j - i + 1) * weight > capacity + rate * (t_j - t_i); tracking the minimum
    of (i * weight - rate * t_i) makes this one pass. Times are taken relative
    to the first grant: rate * (seconds since 1970) is ~1e12, where a double's
    rounding (~1e-4) is larger than the tolerance and would flag grants that
    sat exactly on the bucket's edge.
    """
    times = sorted(grants_us)
    violations = 0
    best = float("inf")
    for j, t in enumerate(times):
        seconds = (t - times[0]) / 1_000_000
        best = min(best, j * weight - refill_per_s * seconds)
        if (j + 1) * weight - refill_per_s * seconds - best > capacity + 1e-6:
            violations += 1
    return violations


def hammer(redis_url: str, venue: str, capacity: float, refill_per_s: float, seconds: float) -> list[int]:
    """Take weight-1 tokens as fast as possible for `seconds`; returns grant times (Redis clock, µs).

    Run in several processes at once to test (and benchmark) the shared bucket.
    """
    client = redis.Redis.from_url(redis_url)
    limiter = RateLimiter(venue, capacity=capacity, refill_per_s=refill_per_s, client=client, jitter=0.0)
    grants: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, value, now_us, _ = limiter.try_acquire(1)
        if status == 0:
            grants.append(now_us)
        else:
            time.sleep(min(value / 1000, 0.005))
    return grants
