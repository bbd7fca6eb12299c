"""A circuit breaker per venue, its state in Redis so every worker sees one circuit.

closed → (N consecutive failures) → open → (cooldown) → half-open: one probe
passes; its success closes the circuit, its failure opens it again.
"""

import redis

from core.redis_client import redis_client

from .errors import CircuitOpen

# KEYS: state hash, probe key. ARGV: cooldown_ms. Returns 0 allowed, 1 allowed as the probe, 2 refused (ms left).
_BEFORE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {0, 0} end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local cooldown = tonumber(ARGV[1])
if now_ms - opened < cooldown then return {2, cooldown - (now_ms - opened)} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', cooldown) then
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  return {1, 0}
end
return {2, cooldown}
"""

# KEYS: state hash, probe key. ARGV: threshold.
_FAILURE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' or failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', tostring(now_ms))
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


class CircuitBreaker:
    def __init__(
        self, venue: str, *, threshold: int = 5, cooldown_s: float = 30.0, client: redis.Redis | None = None
    ) -> None:
        self.venue = venue
        self.threshold = threshold
        self.cooldown_ms = int(cooldown_s * 1000)
        self.r = client or redis_client()
        self.keys = [f"cb:{venue}", f"cb:{venue}:probe"]
        self._before = self.r.register_script(_BEFORE)
        self._failure = self.r.register_script(_FAILURE)

    def before_call(self) -> None:
        status, wait_ms = self._before(keys=self.keys, args=[self.cooldown_ms])
        if int(status) == 2:
            raise CircuitOpen(
                f"{self.venue}: circuit open after repeated failures; next probe in {int(wait_ms) / 1000:.1f}s."
            )

    def record_success(self) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self.keys[0], mapping={"state": "closed", "failures": 0})
        pipe.delete(self.keys[1])
        pipe.execute()

    def record_failure(self) -> bool:
        """Returns True when this failure opened the circuit."""
        return bool(self._failure(keys=self.keys, args=[self.threshold]))

    def state(self) -> str:
        raw = self.r.hget(self.keys[0], "state")
        return raw.decode() if raw else "closed"

    def reset(self) -> None:
        self.r.delete(*self.keys)
