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
