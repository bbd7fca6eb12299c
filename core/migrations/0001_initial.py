"""The write-behind marks, once the tradingsite app's: a database made before the move keeps its rows (the
table is renamed), a new one gets the table."""

from django.db import migrations, models

OLD, NEW = "tradingsite_writebehindmark", "core_writebehindmark"


def take_over_or_create(apps, schema_editor):
    if OLD in schema_editor.connection.introspection.table_names():
        schema_editor.alter_db_table(None, OLD, NEW)
    else:
        schema_editor.create_model(apps.get_model("core", "WriteBehindMark"))


def give_back(apps, schema_editor):
    schema_editor.delete_model(apps.get_model("core", "WriteBehindMark"))


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WriteBehindMark",
                    fields=[
                        ("label", models.CharField(max_length=100, primary_key=True, serialize=False)),
                        ("generation", models.BigIntegerField()),
                        ("flushed_at", models.DateTimeField()),
                    ],
                    options={"verbose_name": "write-behind flush mark"},
                ),
            ],
        ),
        migrations.RunPython(take_over_or_create, give_back),
    ]
