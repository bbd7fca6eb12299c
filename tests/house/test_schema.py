"""The database has every constraint and index the models declare (a migration that drops one by accident fails
here: altering a column's db_index can take a partial unique index on the same column with it)."""

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

OUR_APPS = {"core", "dashboard", "exchanges", "orders", "liquidation", "cycles", "positions", "wallets"}


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


def test_an_order_status_update_that_keeps_it_live_is_hot():
    """No index of orders_order reads status or updated_at (they read `live`), so PostgreSQL may update a
    live order's status in place; an index on either would quietly double the WAL of every status change."""
    from orders.models import Order, OrderStatus
    from tests.factories import OrderFactory

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'orders_order'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert definitions
    assert not [d for d in definitions if "status" in d]
    assert not [d for d in definitions if "updated_at" in d]
    order = OrderFactory(status=OrderStatus.OPEN)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PARTIALLY_FILLED)
    assert Order.objects.filter(pk=order.pk, live=True).exists()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.FILLED)
    assert not Order.objects.filter(pk=order.pk, live=True).exists()
