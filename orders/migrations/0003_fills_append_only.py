# Fills are an append-only ledger: PostgreSQL refuses UPDATE and DELETE on them.

from django.db import migrations

FORWARD = """
CREATE FUNCTION orders_fill_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'orders_fill is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER orders_fill_append_only
    BEFORE UPDATE OR DELETE ON orders_fill
    FOR EACH ROW EXECUTE FUNCTION orders_fill_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS orders_fill_append_only ON orders_fill;
DROP FUNCTION IF EXISTS orders_fill_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
