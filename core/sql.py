"""Raw SQL with server-side binding (Django's cursors bind client-side): an array is one parameter and a
statement can be prepared. Errors come out as Django's database errors, as through the ORM."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def server_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's connection (opened if needed), inside its transaction if one is open."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        yield psycopg.Cursor(connection.connection)


@contextmanager
def raw_connection() -> Iterator[psycopg.Connection]:
    """Django's psycopg connection itself (for a pipeline), errors wrapped as Django's."""
    connection.ensure_connection()
    with connection.wrap_database_errors:
        yield connection.connection
