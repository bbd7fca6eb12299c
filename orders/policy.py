"""How often to look at an open order, and what to call it: pure functions, no Django.

Two phases. Right after placement (or after the order last changed) checks
come fast: the first after `initial_delay_ms`. Each later delay is the last
one times `backoff_multiplier`, up to `max_delay_ms`, with ±`jitter_factor`
so that orders placed together do not stay in lockstep. The delay is computed
from the order's age rather than a stored counter, so it is the same after a
restart or a redelivered task: with geometric delays d_k = d_0 * m^k the age
at check k is d_0 * (m^k - 1) / (m - 1), hence d = d_0 + age * (m - 1).

As the shared rate budget runs low, every delay is stretched, so the
platform slows itself down before the venue has to answer 429.
"""

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal

STRETCH_BELOW = 0.5  # budget share left under which delays start to stretch
MAX_STRETCH = 10.0


@dataclass(frozen=True)
class MonitoringPolicy:
    initial_delay_ms: int = 100
    max_delay_ms: int = 5000
    backoff_multiplier: float = 2.0
    jitter_factor: float = 0.3
    cache_ttl_ms: int = 500

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_ms <= self.max_delay_ms:
            raise ValueError("initial_delay_ms must be above 0 and at most max_delay_ms")
        if self.backoff_multiplier < 1:
            raise ValueError("backoff_multiplier must be at least 1")
        if not 0 <= self.jitter_factor < 1:
            raise ValueError("jitter_factor must be in [0, 1)")

    def base_delay_ms(self, age_ms: float) -> float:
        """The delay before the next check of an order last changed `age_ms` ago (no jitter)."""
        grown = self.initial_delay_ms + max(0.0, age_ms) * (self.backoff_multiplier - 1)
        return min(float(self.max_delay_ms), grown)

    def delay_ms(self, age_ms: float, *, budget_left: float = 1.0, rng: random.Random | None = None) -> float:
        jitter = 1 + (rng or random).uniform(-self.jitter_factor, self.jitter_factor)
        jittered = min(float(self.max_delay_ms), self.base_delay_ms(age_ms) * jitter)
        return jittered * rate_stretch(budget_left)


def monitoring_policy_of(source) -> MonitoringPolicy:
    """The policy a row with the order-monitoring fields holds (an order, a strategy, an account)."""
    return MonitoringPolicy(
        initial_delay_ms=source.monitor_initial_delay_ms,
        max_delay_ms=source.monitor_max_delay_ms,
        backoff_multiplier=float(source.monitor_backoff_multiplier),
        jitter_factor=float(source.monitor_jitter_factor),
        cache_ttl_ms=source.monitor_cache_ttl_ms,
    )


def monitoring_fields(policy: MonitoringPolicy) -> dict:
    """The order-monitoring fields that keep `policy` on a row."""
    return {
        "monitor_initial_delay_ms": policy.initial_delay_ms, "monitor_max_delay_ms": policy.max_delay_ms,
        "monitor_backoff_multiplier": Decimal(repr(policy.backoff_multiplier)),
        "monitor_jitter_factor": Decimal(repr(policy.jitter_factor)), "monitor_cache_ttl_ms": policy.cache_ttl_ms,
    }  # fmt: skip


def rate_stretch(budget_left: float) -> float:
    """1 while at least half the budget is left; then grows as it empties (x2 at 25%, x10 at 5% or less)."""
    if budget_left >= STRETCH_BELOW:
        return 1.0
    return min(MAX_STRETCH, STRETCH_BELOW / max(budget_left, STRETCH_BELOW / MAX_STRETCH))


def client_order_id(prefix: str, intent: str, attempt: int, *, max_length: int = 36) -> str:
    """`<prefix>-<intent>-a<attempt>`: deterministic, within the venue's limit (Binance: 36, [.A-Za-z0-9:/_-]).

    An intent too long to fit is replaced by a digest of itself, still deterministic.
    """
    suffix = f"-a{attempt}"
    candidate = f"{prefix}-{intent}{suffix}"
    if len(candidate) <= max_length:
        return candidate
    room = max_length - len(prefix) - len(suffix) - 1
    if room < 8:
        raise ValueError(f"prefix {prefix!r} leaves no room for an intent within {max_length} characters")
    return f"{prefix}-{hashlib.sha256(intent.encode()).hexdigest()[:room]}{suffix}"
