"""Message.zoho_voice_log_id becomes provider_log_id (any provider whose texts are matched to polled logs), and its
unique constraint and the partial index of rows awaiting a log id get provider-neutral names.

A rename, not a rewrite: the column keeps every value. PostgreSQL and SQLite rewrite the two partial indexes'
definitions themselves when the column is renamed, so the database only renames the column and the indexes (no index
is rebuilt); the migration state drops and adds them because their definitions name the field. The index's condition
`provider IN ('zoho_voice')` is the state's spelling of the unchanged `provider = 'zoho_voice'` (PostgreSQL parses a
one-value IN list as `=`)."""

from django.db import migrations, models

INDEX_RENAMES = (
    ("message_unique_zoho_voice_log_id", "message_unique_provider_log_id"),
    ("message_zv_awaiting_log", "message_awaiting_provider_log"),
)


def _indexes_rename(schema_editor, renames) -> None:
    quote = schema_editor.quote_name
    if schema_editor.connection.vendor == "sqlite":
        # SQLite has no ALTER INDEX: the index is created again under its new name from its own, already renamed,
        # definition.
        with schema_editor.connection.cursor() as cursor:
            for old, new in renames:
                cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [old])
                (definition,) = cursor.fetchone()
                schema_editor.execute(f"DROP INDEX {quote(old)}")
                schema_editor.execute(definition.replace(old, new, 1))
        return
    for old, new in renames:
        schema_editor.execute(f"ALTER INDEX {quote(old)} RENAME TO {quote(new)}")


def indexes_rename(apps, schema_editor) -> None:
    _indexes_rename(schema_editor, INDEX_RENAMES)


def indexes_rename_back(apps, schema_editor) -> None:
    _indexes_rename(schema_editor, [(new, old) for old, new in INDEX_RENAMES])


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_crm_keys_data"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="message", name="message_unique_zoho_voice_log_id"),
                migrations.RemoveIndex(model_name="message", name="message_zv_awaiting_log"),
                migrations.RenameField(model_name="message", old_name="zoho_voice_log_id", new_name="provider_log_id"),
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(
                        condition=models.Q(("provider__in", ["zoho_voice"]), ("provider_log_id__isnull", True)),
                        fields=["from_number", "to_number", "direction", "occurred_at"],
                        name="message_awaiting_provider_log",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="message",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("provider_log_id__isnull", False)),
                        fields=("provider_log_id",),
                        name="message_unique_provider_log_id",
                    ),
                ),
            ],
            database_operations=[
                migrations.RenameField(model_name="message", old_name="zoho_voice_log_id", new_name="provider_log_id"),
                migrations.RunPython(indexes_rename, indexes_rename_back),
            ],
        ),
        migrations.AlterField(
            model_name="message",
            name="provider_log_id",
            field=models.CharField(
                blank=True,
                help_text="The provider's log id when it differs from its message id (dedup of polled logs).",
                max_length=64,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="provider_message_id",
            field=models.CharField(
                blank=True,
                help_text="The provider's id of the message (e.g. Twilio's MessageSid).",
                max_length=64,
                null=True,
            ),
        ),
    ]
