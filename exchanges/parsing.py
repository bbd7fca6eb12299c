"""Validation of outside data at the edge: numbers, fields and headers from venues and sources.

Every answer from another system passes through these before it becomes a value of ours: a missing
field, NaN or Infinity, a negative or zero price, an amount beyond NUMERIC(36, 18) raise the caller's
error class naming the field, so a bad row is refused whole instead of breaking a loop further in.
"""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime

from core.fields import AMOUNT_MAX, AMOUNT_PLACES

MISSING = object()
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)
# A URL's query string (signed requests carry the signature and timestamp there) and bare long secrets.


def number(
    row: dict,
    name: str,
    *,
    error: type[Exception],
    what: str,
    minimum: str = "positive",
    default: object = MISSING,
) -> Decimal:
    """`row[name]` as a finite Decimal that NUMERIC(36, 18) holds.

    `minimum`: "positive" (> 0, prices and sizes), "non_negative" (>= 0), or "any" (fees: a maker rebate is
    a negative fee). A missing or null field takes `default` when one is given, else raises.
    """
    value = row.get(name) if isinstance(row, dict) else None
    if value is None:
        if default is not MISSING:
            return default  # type: ignore[return-value]
        raise error(f"{what}: the field {name!r} is missing")
    return to_decimal(value, name=name, error=error, what=what, minimum=minimum)


def to_decimal(value: object, *, name: str, error: type[Exception], what: str, minimum: str = "positive") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise error(f"{what}: {name} is not a number ({value!r:.40})")
    try:
        number_ = Decimal(str(value).strip())
    except InvalidOperation:
        raise error(f"{what}: {name} is not a number ({value!r:.40})") from None
    if not number_.is_finite():
        raise error(f"{what}: {name} is not finite ({value!r:.40})")
    if minimum == "positive" and number_ <= 0:
        raise error(f"{what}: {name} must be above zero (got {number_})")
    if minimum == "non_negative" and number_ < 0:
        raise error(f"{what}: {name} must not be negative (got {number_})")
    if abs(number_) >= AMOUNT_MAX:
        raise error(f"{what}: {name} is beyond what an amount can hold ({number_:.3E})")
    if number_ != 0 and abs(number_) < _QUANTUM:
        raise error(f"{what}: {name} has more than {AMOUNT_PLACES} decimals ({number_})")
    return number_


def text(row: dict, name: str, *, error: type[Exception], what: str, max_length: int, default: object = MISSING) -> str:
    """`row[name]` as a string of at most `max_length` characters."""
    value = row.get(name) if isinstance(row, dict) else None
    if value is None or value == "":
        if default is not MISSING:
            return default  # type: ignore[return-value]
        raise error(f"{what}: the field {name!r} is missing")
    if not isinstance(value, str | int):
        raise error(f"{what}: {name} is not text ({value!r:.40})")
    value = str(value)
    if len(value) > max_length:
        raise error(f"{what}: {name} is longer than {max_length} characters")
    return value


def parse_retry_after(value: str | None, *, default: float, cap: float, now: datetime | None = None) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 §10.2.3), capped."""
    if value is None or not str(value).strip():
        return default
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return default
    return min(max(seconds, 0.0), cap)
