"""Create the configured PostgreSQL database if it does not exist yet."""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


class Command(BaseCommand):
    help = "Create the PostgreSQL database named in DATABASE_URL when it is missing."

    def handle(self, *args, **options) -> None:
        db = settings.DATABASES["default"]
        params = {
            "dbname": "postgres",
            "host": db.get("HOST") or None,
            "port": db.get("PORT") or None,
            "user": db.get("USER") or None,
            "password": db.get("PASSWORD") or None,
            "connect_timeout": 5,
        }
        name = db["NAME"]
        try:
            with psycopg.connect(**{k: v for k, v in params.items() if v is not None}, autocommit=True) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
                if exists:
                    self.stdout.write(f"database {name} exists")
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"Cannot reach PostgreSQL at {params['host'] or 'the local socket'}:{params['port'] or 5432} "
                f"({exc}). Start it, or set DATABASE_URL."
            ) from exc
        self.stdout.write(self.style.SUCCESS(f"database {name} created"))
