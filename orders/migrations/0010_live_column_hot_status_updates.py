"""Status and updated_at leave every index (the live indexes read a generated `live` column) and the table keeps
a fifth of each page free, so that a status update that keeps the order live is HOT."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cycles", "0009_delete_panicsell"),
        ("exchanges", "0007_ccxt_id_validator"),
        ("liquidation", "0001_initial"),
        ("orders", "0009_owner_indexes_where_set"),
        ("positions", "0007_item_failures"),
        ("wallets", "0004_bounds"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="order",
            name="order_one_live_per_intent",
        ),
        migrations.RemoveConstraint(
            model_name="order",
            name="order_one_live_sell_per_position",
        ),
        migrations.RemoveIndex(
            model_name="order",
            name="order_live_due",
        ),
        migrations.RemoveIndex(
            model_name="order",
            name="order_exchange_market_status",
        ),
        migrations.RemoveIndex(
            model_name="order",
            name="order_status_updated",
        ),
        migrations.AddField(
            model_name="order",
            name="live",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Q(
                    ("status__in", ["NEW", "OPEN", "PARTIALLY_FILLED", "PENDING_CANCEL", "PENDING_SUBMIT", "UNKNOWN"])
                ),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(condition=models.Q(("live", True)), fields=["next_check_at"], name="order_live_due"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                condition=models.Q(("live", True)), fields=["exchange", "market"], name="order_live_by_market"
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                condition=models.Q(("live", True)),
                fields=("exchange", "intent"),
                name="order_one_live_per_intent",
                violation_error_message="This intent already has a live order.",
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.UniqueConstraint(
                condition=models.Q(("live", True), ("position__isnull", False), ("side", "sell")),
                fields=("position",),
                name="order_one_live_sell_per_position",
                violation_error_message="A sell is already working on this position.",
            ),
        ),
        # Room on each page for the new version of a row (only pages written from now on).
        migrations.RunSQL(
            "ALTER TABLE orders_order SET (fillfactor = 80)", reverse_sql="ALTER TABLE orders_order RESET (fillfactor)"
        ),
    ]
