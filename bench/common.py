"""Helpers the benchmark suites share."""

from django.conf import settings


def dsn() -> str:
    """A psycopg connection string for the platform's database (raw baselines bypass Django)."""
    db = settings.DATABASES["default"]
    parts = {"dbname": db["NAME"], "user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT")}
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)
