"""Slot reservations: at most `max_open_cycles` cycles per strategy, counted and held under the strategy row's lock
in one pipelined round trip; given back when an opportunity does not survive, deleted when they expire unused."""

import functools
from datetime import datetime

import psycopg
from django.db import connection, transaction
from django.utils import timezone

from core.sql import raw_connection
from exchanges.errors import EntriesHalted
from exchanges.models import Exchange

from .errors import ReservationLimitReached, StrategyDisabled, StrategyOnHold
from .locks import reservations_for_update
from .models import OPEN_STATES, Cycle, Reservation, Strategy


def reservation_expire_stale(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete unconsumed reservations past their expiry; returns how many.

    Rows a consumer holds locked right now are skipped, not waited for.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            reservations_for_update(skip_locked=True)
            .filter(consumed_at__isnull=True, expires_at__lte=now)
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return 0
        deleted, _ = Reservation.objects.filter(pk__in=ids).delete()
    return deleted


# --- slot reservations ----------------------------------------------------------------
# The reservation is two statements sent together in one pipeline: the first
# locks the strategy row; the server runs the second as soon as the lock is
# granted and, under read committed, that second statement's snapshot sees
# every slot committed by the previous holder. It counts, checks the limit and
# inserts, so the lock is held for one statement, one reply and the commit.
_LOCK_SQL = "SELECT name FROM {strategy} WHERE id = %(strategy)s FOR UPDATE"
_RESERVE_SQL = """
WITH s AS (
    SELECT st.id, st.enabled, st.recovery_hold, st.max_open_cycles, st.reservation_ttl_s,
           e.enabled AS account_enabled, e.entries_halted_by AS halted
      FROM {strategy} st JOIN {exchange} e ON e.id = st.exchange_id WHERE st.id = %(strategy)s
), held AS (
    SELECT (SELECT count(*) FROM {cycle} WHERE strategy_id = %(strategy)s AND state = ANY(%(open)s)) AS open_cycles,
           (SELECT count(*) FROM {reservation}
             WHERE strategy_id = %(strategy)s AND consumed_at IS NULL AND expires_at > %(now)s) AS reserved
), granted AS (
    INSERT INTO {reservation} (strategy_id, created_at, expires_at)
    SELECT s.id, %(now)s, %(now)s + make_interval(secs => s.reservation_ttl_s) FROM s, held
     WHERE s.enabled AND s.recovery_hold = '' AND s.account_enabled AND s.halted = ''
       AND held.open_cycles + held.reserved < s.max_open_cycles
    RETURNING id, expires_at
)
SELECT s.enabled, s.recovery_hold, s.account_enabled, s.halted, s.max_open_cycles, held.open_cycles, held.reserved,
       granted.id, granted.expires_at
  FROM s CROSS JOIN held LEFT JOIN granted ON true
"""


@functools.cache
def _reserve_statements() -> tuple[str, str]:
    tables = {"strategy": Strategy._meta.db_table, "cycle": Cycle._meta.db_table,
              "reservation": Reservation._meta.db_table, "exchange": Exchange._meta.db_table}  # fmt: skip
    return _LOCK_SQL.format(**tables), _RESERVE_SQL.format(**tables)


def _pipelined(*statements: str, params: dict):
    """Send `statements` in one pipeline; the cursors of those with parameters, in order.

    A failure rolls back a transaction the statements opened themselves.
    """
    cursors = []
    with raw_connection() as pg:
        try:
            with pg.pipeline():
                for statement in statements:
                    if "%(" in statement:
                        # Server-side binding (Django's cursors bind client-side), so it can be prepared.
                        cursors.append(psycopg.Cursor(pg).execute(statement, params, prepare=True))
                    else:
                        pg.execute(statement)
        except Exception:
            if statements[0] == "BEGIN":
                pg.rollback()
            raise
    return cursors


def cycle_reserve(*, strategy_id: int, now: datetime | None = None) -> Reservation:
    """Hold one of the strategy's `max_open_cycles` slots for `reservation_ttl_s`.

    The strategy row is locked (`FOR UPDATE`) while open cycles and live
    reservations are counted, so concurrent scanners can never hold more slots
    than the limit. Both statements go straight to psycopg (pipelined and
    prepared), so Django's query logging does not see them.
    """
    lock_sql, reserve_sql = _reserve_statements()
    params = {"strategy": strategy_id, "open": sorted(OPEN_STATES), "now": now or timezone.now()}
    if connection.in_atomic_block:  # join the caller's transaction
        with transaction.atomic():
            locked, reserved = _pipelined(lock_sql, reserve_sql, params=params)
    else:  # our own transaction, BEGIN to COMMIT in one round trip
        locked, reserved = _pipelined("BEGIN", lock_sql, reserve_sql, "COMMIT", params=params)
    row = locked.fetchone()
    if row is None:
        raise Strategy.DoesNotExist(f"Strategy {strategy_id} does not exist.")
    (name,) = row
    enabled, hold, account_enabled, halted, limit, open_cycles, held, reservation_id, expires_at = reserved.fetchone()
    if not enabled:
        raise StrategyDisabled(f"Strategy {name} is disabled; it opens no cycle.")
    if not account_enabled:
        raise StrategyDisabled(f"Strategy {name} opens no cycle: its account is disabled.")
    if halted:
        raise EntriesHalted(f"Strategy {name} opens no cycle: new entries are stopped on its account (by {halted}).")
    if hold:
        raise StrategyOnHold(f"Strategy {name} opens no cycle until recovery is clean: {hold}")
    if reservation_id is None:
        raise ReservationLimitReached(
            f"Strategy {name} is at its limit of {limit} open cycles ({open_cycles} open, {held} reserved).",
            open_cycles=open_cycles, reserved=held,
        )  # fmt: skip
    values = {"id": reservation_id, "strategy_id": strategy_id, "created_at": params["now"], "expires_at": expires_at}
    return Reservation.from_db(connection.alias, list(values), list(values.values()))


def reservation_release(*, reservation_id: int) -> bool:
    """Give an unconsumed slot back (the opportunity did not survive the depth walk)."""
    deleted, _ = Reservation.objects.filter(pk=reservation_id, consumed_at__isnull=True).delete()
    return bool(deleted)
