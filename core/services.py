"""Generic write helpers shared by the apps' services: validate fully, then save."""

from typing import Any, TypeVar

from django.db import models

M = TypeVar("M", bound=models.Model)


def model_create(model: type[M], /, **fields: Any) -> M:
    """Create a row after full validation (fields, uniqueness and check constraints).

    Raises django.core.exceptions.ValidationError naming the field and the rule.
    """
    instance = model(**fields)
    instance.full_clean()
    instance.save(force_insert=True)
    return instance


def model_update(instance: M, /, data: dict[str, Any]) -> tuple[M, list[str]]:
    """Apply the changed fields, validate the whole row, save only what changed."""
    changed = []
    for field, value in data.items():
        if getattr(instance, field) != value:
            setattr(instance, field, value)
            changed.append(field)
    if changed:
        instance.full_clean()
        auto_now = [f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)]
        instance.save(update_fields=changed + auto_now)
    return instance, changed


def credentials_rotate() -> dict[str, int]:
    """Re-encrypt every stored credential with the newest CREDENTIALS_KEY; rows changed per model.

    Each model's rows are re-encrypted under their row locks in one transaction, read and written
    as the stored ciphertext (never decrypted into Python objects beyond the rotation itself).
    """
    from django.apps import apps
    from django.db import connection, transaction

    from core.fields import EncryptedTextField, reencrypt

    report: dict[str, int] = {}
    for model in apps.get_models():
        columns = [f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if not columns:
            continue
        table, pk = connection.ops.quote_name(model._meta.db_table), model._meta.pk.column
        quoted = [connection.ops.quote_name(c) for c in columns]
        changed = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk}, {', '.join(quoted)} FROM {table} ORDER BY {pk} FOR UPDATE")  # noqa: S608
            for pk_value, *values in cursor.fetchall():
                rotated = [reencrypt(v) for v in values]
                if rotated != list(values):
                    assignments = ", ".join(f"{c} = %s" for c in quoted)
                    cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*rotated, pk_value])  # noqa: S608
                    changed += 1
        report[model._meta.label] = changed
    return report
