"""The write-behind buffer: non-critical column updates collected in Redis, flushed in one statement per model.

Progress (last checked, check counts, mark prices) is buffered; transitions
never are. Each buffered update is a set of columns to overwrite (the last
value wins) and of counters to add to. A beat task flushes every second under
a Redis lock, so flushes never overlap. The pending hash is renamed away
atomically before it is read, and the flush's generation number is written
in the same statement as the rows: a flush that dies after committing is not
applied twice. If Redis is down, each update is written directly: slower,
nothing lost.
"""

import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache

import redis
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import F

from core import metrics
from core.redis_client import counters_add, counters_read, redis_client

log = logging.getLogger(__name__)

STATS_KEY = "wb:stats"
LOCK_KEY = "wb:flush-lock"
LOCK_TTL_MS = 30_000
ROWS_PER_STATEMENT = 5_000
_ADD = "+"


@dataclass(frozen=True)
class Buffered:
    model: type[models.Model]
    set_fields: frozenset[str]
    add_fields: frozenset[str]

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def pending_key(self) -> str:
        return f"wb:{self.label}:pending"

    @property
    def flushing_key(self) -> str:
        return f"wb:{self.label}:flushing"


_registry: dict[str, Buffered] = {}


def writebehind_register(model: type[models.Model], *, set_fields: Iterable[str] = (), add_fields: Iterable[str] = ()):
    """Declare which columns of `model` may be buffered (apps call this from AppConfig.ready)."""
    entry = Buffered(model, frozenset(set_fields), frozenset(add_fields))
    for name in entry.set_fields | entry.add_fields:
        model._meta.get_field(name)  # fail at start-up on a typo
    _registry[entry.label] = entry


def _entry(model: type[models.Model]) -> Buffered:
    try:
        return _registry[model._meta.label_lower]
    except KeyError:
        raise ValueError(f"{model._meta.label} is not registered for write-behind updates.") from None


@dataclass
class Update:
    pk: int
    set: dict[str, object] = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)


def buffer_updates(model: type[models.Model], updates: list[Update]) -> str:
    """Buffer non-critical updates of `model` rows; returns "buffered" or "direct" (Redis was unreachable)."""
    if not updates:
        return "buffered"
    entry = _entry(model)
    for update in updates:
        bad = (set(update.set) - entry.set_fields) | (set(update.add) - entry.add_fields)
        if bad:
            raise ValueError(f"{entry.label}: columns {sorted(bad)} are not buffered; write them directly.")
    # Every column set in one HSET (one command however many rows); counters need one HINCRBY each.
    values = {f"{update.pk}|{name}": _dump(value) for update in updates for name, value in update.set.items()}
    try:
        pipe = redis_client().pipeline(transaction=True)
        if values:
            pipe.hset(entry.pending_key, mapping=values)
        for update in updates:
            for name, amount in update.add.items():
                pipe.hincrby(entry.pending_key, f"{update.pk}|{_ADD}{name}", int(amount))
        pipe.hincrby(STATS_KEY, "updates_buffered", len(updates))
        pipe.execute()
        return "buffered"
    except redis.RedisError as exc:
        log.warning("write-behind buffer unavailable, writing %d updates directly: %s", len(updates), exc)
        _write_direct(entry, updates)
        return "direct"


def _dump(value: object) -> str:
    """JSON text of a buffered value; Decimals and datetimes (the common ones) without the generic encoder."""
    if isinstance(value, Decimal):
        return f'"{value}"'  # as DjangoJSONEncoder writes it: the exact digits, as a string
    if isinstance(value, datetime):
        return f'"{value.isoformat()}"'
    return json.dumps(value, default=_encode)


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()  # to the µs (DjangoJSONEncoder would cut it to ms)
    return DjangoJSONEncoder().default(value)


def buffer_update(model: type[models.Model], pk: int, *, set: dict | None = None, add: dict | None = None) -> str:
    return buffer_updates(model, [Update(pk, dict(set or {}), dict(add or {}))])


def _write_direct(entry: Buffered, updates: list[Update]) -> None:
    for update in updates:
        values = dict(update.set)
        values.update({name: F(name) + amount for name, amount in update.add.items()})
        entry.model.objects.filter(pk=update.pk).update(**values)
    with contextlib.suppress(redis.RedisError):
        counters_add(STATS_KEY, {"direct_writes": len(updates)})


# Move the pending hash aside for one flush. If an earlier flush died before
# deleting its hash, the pending updates are merged into it (newer values win,
# counters add up) so that one flush applies both, in order.
# KEYS: pending, flushing, generation counter. Returns the flush's generation (0: nothing to flush).
_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  local pending = redis.call('HGETALL', KEYS[1])
  for i = 1, #pending, 2 do
    local name = pending[i]
    if string.find(name, '|+', 1, true) then
      redis.call('HINCRBY', KEYS[2], name, pending[i + 1])
    else
      redis.call('HSET', KEYS[2], name, pending[i + 1])
    end
  end
  redis.call('DEL', KEYS[1])
  return tonumber(redis.call('HGET', KEYS[2], '__gen'))
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
local gen = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[2], '__gen', gen)
return gen
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@cache
def _script(client: redis.Redis, source: str):
    """A Lua script registered once per client, not on every flush."""
    return client.register_script(source)


@dataclass
class FlushResult:
    rows: int = 0
    updates: int = 0
    statements: int = 0
    skipped: str = ""  # why nothing was flushed: "locked" by another flush, or "redis unavailable"


def writebehind_flush() -> FlushResult:
    """Apply every buffered update: one statement per model (per 5,000 rows). Never overlaps another flush."""
    from .models import WriteBehindMark

    result = FlushResult()
    try:
        r = redis_client()
        token = secrets.token_hex(8)
        if not r.set(LOCK_KEY, token, nx=True, px=LOCK_TTL_MS):
            result.skipped = "locked"
            return result
    except redis.RedisError:
        result.skipped = "redis unavailable"
        return result
    started = time.perf_counter()
    try:
        take = _script(r, _TAKE)
        for entry in list(_registry.values()):
            leftover = r.hget(entry.flushing_key, "__gen")
            if (
                leftover is not None
                and WriteBehindMark.objects.filter(label=entry.label, generation=int(leftover)).exists()
            ):
                r.delete(entry.flushing_key)  # that flush committed and died before cleaning up
            generation = int(take(keys=[entry.pending_key, entry.flushing_key, f"wb:{entry.label}:gen"]))
            if not generation:
                continue
            raw = r.hgetall(entry.flushing_key)
            rows = _decode(raw)
            statements = _apply(entry, rows, generation)
            r.delete(entry.flushing_key)
            result.rows += len(rows)
            result.statements += statements
        if result.rows:
            counters_add(STATS_KEY, {"flushes": 1, "rows_flushed": result.rows, "statements": result.statements})
            metrics.observe(metrics.writebehind_flush, time.perf_counter() - started)
    except redis.RedisError as exc:
        log.warning("write-behind flush interrupted, Redis unavailable: %s", exc)
        result.skipped = "redis unavailable"
    finally:
        with contextlib.suppress(redis.RedisError):  # else the lock expires by itself
            _script(r, _RELEASE)(keys=[LOCK_KEY], args=[token])
    return result


def _decode(raw: dict[bytes, bytes]) -> dict[int, dict[str, object]]:
    rows: dict[int, dict[str, object]] = {}
    for key, value in raw.items():
        name = key.decode()
        if name == "__gen":
            continue
        pk, column = name.split("|", 1)
        rows.setdefault(int(pk), {})[column] = int(value) if column.startswith(_ADD) else json.loads(value)
    return rows


def _apply(entry: Buffered, rows: dict[int, dict[str, object]], generation: int) -> int:
    """One UPDATE … FROM (VALUES …) per chunk; the flush mark rides in the last one."""
    meta = entry.model._meta
    table = connection.ops.quote_name(meta.db_table)
    pk_column = meta.pk.column
    columns = sorted({c for values in rows.values() for c in values})
    casts = [f"CAST(%s AS {meta.pk.db_type(connection)})"]
    assignments = []
    aliases = ["pk"]
    for i, column in enumerate(columns):
        name = column.removeprefix(_ADD)
        model_field = meta.get_field(name)
        db_column = connection.ops.quote_name(model_field.column)
        alias = f"c{i}"
        aliases.append(alias)
        casts.append(f"CAST(%s AS {model_field.db_type(connection)})")
        if column.startswith(_ADD):
            assignments.append(f"{db_column} = t.{db_column} + COALESCE(v.{alias}, 0)")
        else:
            assignments.append(f"{db_column} = COALESCE(v.{alias}, t.{db_column})")
    row_sql = "(" + ", ".join(casts) + ")"
    items = sorted(rows.items())
    chunks = [items[i : i + ROWS_PER_STATEMENT] for i in range(0, len(items), ROWS_PER_STATEMENT)]
    from .models import WriteBehindMark

    mark_table = connection.ops.quote_name(WriteBehindMark._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        for n, chunk in enumerate(chunks):
            params: list[object] = []
            for pk, values in chunk:
                params.append(pk)
                for column in columns:
                    params.append(_db_value(meta, column, values.get(column)))
            mark = ""
            if n == len(chunks) - 1:
                mark = (
                    f"WITH mark AS (INSERT INTO {mark_table} (label, generation, flushed_at) "  # noqa: S608
                    "VALUES (%s, %s, now()) "
                    "ON CONFLICT (label) DO UPDATE SET generation = EXCLUDED.generation, "
                    "flushed_at = EXCLUDED.flushed_at) "
                )
                params = [entry.label, generation, *params]
            sql = (
                f"{mark}UPDATE {table} AS t SET {', '.join(assignments)} "  # noqa: S608 - names come from model meta
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v({', '.join(aliases)}) "
                f"WHERE t.{connection.ops.quote_name(pk_column)} = v.pk"
            )
            cursor.execute(sql, params)
    return len(chunks)


def _db_value(meta, column: str, value: object) -> object:
    if value is None or column.startswith(_ADD):
        return value
    return meta.get_field(column).to_python(value)  # JSON text back to a datetime, Decimal…


def pending_fields(client: redis.Redis | None = None) -> dict[str, int]:
    """Buffered rows not yet flushed, by model."""
    pipe = (client or redis_client()).pipeline(transaction=False)
    for entry in _registry.values():
        pipe.hlen(entry.pending_key)
    return dict(zip(_registry, pipe.execute(), strict=True))


def writebehind_stats() -> dict:
    """Figures for /api/cache-stats/."""
    raw = counters_read(STATS_KEY)
    buffered, flushes, statements = raw["updates_buffered"], raw["flushes"], raw["statements"]
    pending = sum(pending_fields().values())
    return {
        "updates_buffered": buffered,
        "direct_writes": raw["direct_writes"],
        "flushes": flushes,
        "rows_flushed": raw["rows_flushed"],
        "rows_per_flush": round(raw["rows_flushed"] / flushes, 2) if flushes else 0.0,
        "statements": statements,
        "statements_saved": max(0, buffered - statements),
        "pending_fields": pending,
    }
