"""Per-item isolation for the platform's loops: one bad row never stalls the others.

Every loop over rows (the positions tick, the orders monitor, wallet scans, copy settling, recovery) handles
each row inside `loop.item(...)`. An exception there is recorded on that row (`last_error`), the row is backed
off (`backoff_s`), the failure is counted on the loop and logged once per new error text, and the loop goes on
with the next row. Outages are not a row's fault: a lost database or Redis connection propagates, so the
caller's outage handling (retry, reconnect) applies instead of blaming every row in turn.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import redact
from .resilience import INFRASTRUCTURE_OUTAGES as OUTAGES

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0


def backoff_s(errors_in_a_row: int) -> float:
    """2, 4, 8 … seconds after 1, 2, 3 … failures in a row, at most five minutes."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S ** max(1, min(errors_in_a_row, 16)))


def error_text(exc: BaseException) -> str:
    """What is stored on a row and shown to an operator: the kind and message, secrets and URLs' queries out."""
    return redact(f"{type(exc).__name__}: {exc}")[:1000]


def record_failure(model, pk: int, message: str, now: datetime, *, due_field: str | None) -> int:
    """Store `message` on the row, count it, and push its next attempt back; the row's failures in a row."""
    errors = (model.objects.filter(pk=pk).values_list("errors_in_a_row", flat=True).first() or 0) + 1
    updates = {"last_error": message, "errors_in_a_row": errors}
    if due_field is not None:
        updates[due_field] = now + timedelta(seconds=backoff_s(errors))
    model.objects.filter(pk=pk).update(**updates)
    return errors


def clear_failures(model, pk: int) -> None:
    """A row handled again after failures: its error is cleared (only rows that had one are written)."""
    model.objects.filter(pk=pk, errors_in_a_row__gt=0).update(last_error="", errors_in_a_row=0)


@dataclass
class Loop:
    """One pass of a loop over rows: `failed` holds (row, error) for each row that raised."""

    name: str
    failed: list[tuple[object, str]] = field(default_factory=list)

    @contextmanager
    def item(self, key: object, *, on_error: Callable[[str], None], previous: str = "") -> Iterator[None]:
        """Run one row's work; an exception becomes `on_error(message)` and the loop goes on.

        `previous`: the row's stored last_error; the same error again is logged at DEBUG, not again as a warning.
        """
        try:
            yield
        except OUTAGES:
            raise
        except Exception as exc:
            message = error_text(exc)
            self.failed.append((key, message))
            level = logging.DEBUG if message == previous else logging.WARNING
            log.log(level, "%s: %s failed and is backed off: %s", self.name, key, message,
                    exc_info=level == logging.WARNING)  # fmt: skip
            try:
                on_error(message)
            except OUTAGES:
                raise
            except Exception:
                log.exception("%s: %s: its failure could not be recorded", self.name, key)
