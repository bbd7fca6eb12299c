"""Claiming due rows with a lease: one statement that moves their due time ahead and skips rows others hold.

Concurrent ticks share the work this way: each takes the rows nobody holds (FOR UPDATE SKIP LOCKED), pushes
their due column to the end of a lease so no other tick takes them meanwhile, and gets them back.
"""

from datetime import datetime

from django.db import connection, transaction


def claim(table: str, *, lease_column: str, until: datetime, where: str, params: list, order_by: str = "id",
          limit: int | None = None, returning: str = "id") -> list[tuple]:  # fmt: skip
    """Lease the rows of `table` matching `where` (SQL, `%s` placeholders for `params`) until `until`; the
    `returning` columns of each. `table`, `lease_column`, `where`, `order_by` and `returning` are the caller's
    own fixed SQL, never input."""
    bounded = " LIMIT %s" if limit is not None else ""
    sql = f"""
        UPDATE {table} SET {lease_column} = %s
         WHERE id IN (SELECT id FROM {table} WHERE {where} ORDER BY {order_by}{bounded} FOR UPDATE SKIP LOCKED)
        RETURNING {returning}
    """  # noqa: S608 - every interpolated part is fixed SQL of the caller's
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [until, *params, *([limit] if limit is not None else [])])
        return cursor.fetchall()
