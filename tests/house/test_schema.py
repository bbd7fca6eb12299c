"""The database has every constraint and index the models declare (a migration that drops one by accident fails
here: altering a column's db_index can take a partial unique index on the same column with it)."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

OUR_APPS = {"core", "dashboard", "tradingsite", "exchanges", "orders", "liquidation", "cycles", "positions", "wallets"}


def test_every_declared_constraint_and_index_is_in_the_database():
    missing = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.app_label not in OUR_APPS:
                continue
            present = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
            declared = [c.name for c in model._meta.constraints] + [i.name for i in model._meta.indexes]
            missing += [f"{model._meta.label}.{name}" for name in declared if name not in present]
    assert not missing
