"""GIN indexes on the mirror's JSON columns, on PostgreSQL only (the embedded default runs on SQLite)."""

from django.db import migrations

INDEXES = [
    ("crm_record_fields_gin", "fields"),
    ("crm_record_custom_gin", "custom_fields"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON sync_crmrecord USING gin ({column})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("sync", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
