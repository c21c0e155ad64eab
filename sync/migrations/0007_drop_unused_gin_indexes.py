"""Drop the two jsonb_ops GIN indexes of 0002 (PostgreSQL only; the embedded default runs on SQLite).

No query of the product uses them: nothing filters the mirror by JSON containment or key existence (`@>`, `?`,
`?|`, `?&`, `@?`, `@@`), and the per-module SQL views read fields with `->>`, which a GIN index does not serve. They
cost every write: on 100,000 70-field leads they cut PostgreSQL's own upsert from ~13,400 to ~5,000 rows/s
(docs/sync.md, Performance). The reverse creates them again.
"""

from django.db import migrations

INDEXES = [
    ("crm_record_fields_gin", "fields"),
    ("crm_record_custom_gin", "custom_fields"),
]


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON sync_crmrecord USING gin ({column})")


class Migration(migrations.Migration):
    dependencies = [("sync", "0006_notification_channel_secrets_encrypted")]

    operations = [migrations.RunPython(drop, create)]
