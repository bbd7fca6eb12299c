# Written by hand: AlterField(db_index=False) on position would also drop the partial unique index
# order_one_live_sell_per_position (on the same column), so the plain foreign-key indexes are dropped by name.

import django.db.models.deletion
from django.db import migrations, models

OLD_INDEXES = {
    "exchange": "orders_order_exchange_id_356a756e",
    "cycle": "orders_order_cycle_id_7cad79c8",
    "position": "orders_order_position_id_9ca03c57",
    "copy_trade": "orders_order_copy_trade_id_48faef99",
    "panic_sell": "orders_order_panic_sell_id_53404718",
}
DROP = "\n".join(f"DROP INDEX IF EXISTS {name};" for name in OLD_INDEXES.values())
CREATE = "\n".join(f"CREATE INDEX {name} ON orders_order ({field}_id);" for field, name in OLD_INDEXES.items())


class Migration(migrations.Migration):

    dependencies = [
        ('cycles', '0009_delete_panicsell'),
        ('exchanges', '0007_ccxt_id_validator'),
        ('liquidation', '0001_initial'),
        ('orders', '0008_owners_roles_monitoring'),
        ('positions', '0007_item_failures'),
        ('wallets', '0004_bounds'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='order',
                    name='copy_trade',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='wallets.copytrade'),
                ),
                migrations.AlterField(
                    model_name='order',
                    name='cycle',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='cycles.cycle'),
                ),
                migrations.AlterField(
                    model_name='order',
                    name='exchange',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='exchanges.exchange'),
                ),
                migrations.AlterField(
                    model_name='order',
                    name='panic_sell',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='liquidation.panicsell'),
                ),
                migrations.AlterField(
                    model_name='order',
                    name='position',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='positions.position'),
                ),
            ],
            database_operations=[migrations.RunSQL(DROP, CREATE)],
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('cycle__isnull', False)), fields=['cycle'], name='order_cycle'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('position__isnull', False)), fields=['position'], name='order_position'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('copy_trade__isnull', False)), fields=['copy_trade'], name='order_copy_trade'),
        ),
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('panic_sell__isnull', False)), fields=['panic_sell'], name='order_panic_sell'),
        ),
    ]
