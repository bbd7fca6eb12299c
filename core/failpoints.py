"""Failpoints: named places where a fault-injection harness may crash this process on purpose.

Off unless the FAILPOINTS environment variable is set when the process starts
(production never sets it; the check is one dict lookup). `FAILPOINTS=name@N`
(several joined by commas) kills this process's whole process group with
SIGKILL the Nth time this process reaches `name`: a Celery worker and its
pool children die at once, as on a power cut, with no cleanup, no ack and no
rollback hook. The chaos harness (`bench/run.py chaos`) uses it.

Points: `order.before_submit` (the order row committed, the venue not yet
called), `order.after_submit` (the venue answered, the answer not recorded),
`cycle.between_legs` (a leg ended, the next not placed), `panic.between_hops`,
`position.after_exit` (a position's TP or stop sold, not yet accounted),
`position.before_entry` (a position recorded, its entry order not yet),
`wallet.before_commit` (a scan's fills and copies inserted, not committed),
`wallet.stream_before_commit` (the same for fills the wallet stream saw), `rebalance.between_trades` (a
rebalance's trade done, the next not started).
"""

import os
import signal

POINTS = (
    "order.before_submit",
    "order.after_submit",
    "cycle.between_legs",
    "panic.between_hops",
    "position.after_exit",
    "position.before_entry",
    "wallet.before_commit",
    "wallet.stream_before_commit",
    "rebalance.between_trades",
)


def _parse(spec: str) -> dict[str, int]:
    armed = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition("@")
        if name not in POINTS:
            raise ValueError(f"FAILPOINTS: unknown point {name!r}; known: {', '.join(POINTS)}")
        armed[name] = int(nth or 1)
    return armed


_armed: dict[str, int] = _parse(os.environ.get("FAILPOINTS", ""))
_hits: dict[str, int] = {}


def failpoint(name: str) -> None:
    if not _armed or name not in _armed:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _armed[name]:
        os.killpg(os.getpgid(0), signal.SIGKILL)
