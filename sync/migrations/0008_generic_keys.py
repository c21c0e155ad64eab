"""The mirror keyed by (organization, connection, object, external id) instead of (organization, module, zoho id).

- `zoho_id` -> `external_id` (64 characters: other CRMs' ids are longer), `module` -> `object`, holding canonical
  names for the five canonical objects (Leads -> lead, Contacts -> contact, Accounts -> account, Deals -> deal,
  Tasks -> task; other modules keep Zoho's name);
- a `connection` (studios.ProviderAccount) on every mirror table, filled with the organization's default Zoho CRM
  account, else its oldest one. An organization with mirror rows and no Zoho CRM account keeps its rows with an
  empty connection (nothing is deleted; docs/sync.md says what that means);
- BulkReadJob is ExportJob (`zoho_job_id` -> `job_id`, `zoho_state` -> `vendor_state`, `next_page_token` ->
  `continuation`); a notification channel belongs to a connection (`events` ["Leads.all", ...] -> `objects_watched`
  ["lead", ...]), so an organization may have one per connection.

Renames are catalog changes; each table's data is moved by one UPDATE statement (no per-row Python), except the
notification channels (one per organization).
"""

from django.db import migrations, models
from django.db.models.deletion import CASCADE, PROTECT, SET_NULL

CANONICAL = {"Leads": "lead", "Contacts": "contact", "Accounts": "account", "Deals": "deal", "Tasks": "task"}
CONNECTION_KIND = "zoho_crm"
# Every table keyed by the module, and whether it holds a record id column.
TABLES = ["SyncRun", "SyncState", "CrmRecord", "CrmPhone", "CrmQuarantine", "SyncSchedule", "BulkReadJob"]
CONNECTION_HELP = (
    "The CRM connection (a CRM provider account). Empty only on rows mirrored before connections existed whose "
    "organization had no CRM account when they were migrated."
)


def _case(column: str, mapping: dict[str, str], quote) -> str:
    whens = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in mapping.items())
    return f"CASE {quote(column)} {whens} ELSE {quote(column)} END"


def forwards(apps, schema_editor):
    quote = schema_editor.quote_name
    accounts = quote(apps.get_model("studios", "ProviderAccount")._meta.db_table)
    for name in TABLES:
        table = quote(apps.get_model("sync", name)._meta.db_table)
        # The organization's default Zoho CRM account, else its oldest: the account its runs read with.
        connection = (
            f"(SELECT a.id FROM {accounts} a WHERE a.organization_id = {table}.organization_id "  # noqa: S608
            f"AND a.kind = '{CONNECTION_KIND}' ORDER BY a.is_default DESC, a.id LIMIT 1)"
        )
        schema_editor.execute(
            f"UPDATE {table} SET object = {_case('object', CANONICAL, quote)}, connection_id = {connection}"  # noqa: S608
        )
    channel_model = apps.get_model("sync", "NotificationChannel")
    account_model = apps.get_model("studios", "ProviderAccount")
    for channel in channel_model.unscoped_objects.all():
        modules = [str(event).split(".", 1)[0] for event in channel.objects_watched or []]
        channel.objects_watched = sorted(CANONICAL.get(module, module) for module in modules)
        account = (
            account_model.unscoped_objects.filter(organization_id=channel.organization_id, kind=CONNECTION_KIND)
            .order_by("-is_default", "id")
            .first()
        )
        channel.connection_id = account.pk if account else None
        channel.save(update_fields=["objects_watched", "connection"])
    _checked_now(schema_editor)


def mirror_views_drop(apps, schema_editor):
    """The per-object SQL views (`mirror_leads`, ...) read the columns renamed and retyped here, and PostgreSQL
    refuses to alter a column a view uses: they are dropped first, both ways, and the next sync run of each object
    (or `manage.py sync views`) builds them again from the provider's field specs."""
    if schema_editor.connection.vendor != "postgresql":
        return
    tables = [apps.get_model("sync", name)._meta.db_table for name in ("CrmRecord", "CrmPhone")]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT view.relname FROM pg_depend dep "
            "JOIN pg_rewrite rule ON rule.oid = dep.objid "
            "JOIN pg_class view ON view.oid = rule.ev_class "
            "JOIN pg_class used ON used.oid = dep.refobjid "
            "WHERE used.relname = ANY(%s) AND view.oid <> used.oid AND view.relkind = 'v'",
            [tables],
        )
        views = [row[0] for row in cursor.fetchall()]
    for view in views:
        schema_editor.execute(f"DROP VIEW IF EXISTS {schema_editor.quote_name(view)} CASCADE")


def _checked_now(schema_editor):
    """The new foreign keys are checked at commit (DEFERRABLE INITIALLY DEFERRED); PostgreSQL refuses to alter a
    table with such checks pending, and this migration alters the tables after filling them."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def backwards(apps, schema_editor):
    quote = schema_editor.quote_name
    legacy = {new: old for old, new in CANONICAL.items()}
    for name in TABLES:
        table = quote(apps.get_model("sync", name)._meta.db_table)
        schema_editor.execute(f"UPDATE {table} SET object = {_case('object', legacy, quote)}")  # noqa: S608
    for channel in apps.get_model("sync", "NotificationChannel").unscoped_objects.all():
        channel.objects_watched = [f"{legacy.get(name, name)}.all" for name in channel.objects_watched or []]
        channel.save(update_fields=["objects_watched"])
    _checked_now(schema_editor)


def connection_field(*, db_index: bool = True) -> models.ForeignKey:
    return models.ForeignKey(
        blank=True,
        null=True,
        db_index=db_index,
        help_text=CONNECTION_HELP,
        on_delete=PROTECT,
        related_name="+",
        to="studios.provideraccount",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("studios", "0002_provider_account_custom_endpoints"),
        ("sync", "0007_drop_unused_gin_indexes"),
    ]

    operations = [
        migrations.RunPython(mirror_views_drop, migrations.RunPython.noop),
        # The keys and indexes naming renamed columns go first and come back, with the connection, at the end.
        migrations.RemoveConstraint(model_name="syncstate", name="sync_state_unique"),
        migrations.RemoveConstraint(model_name="crmrecord", name="crm_record_unique"),
        migrations.RemoveConstraint(model_name="crmphone", name="crm_phone_unique"),
        migrations.RemoveConstraint(model_name="syncschedule", name="sync_schedule_unique"),
        migrations.RemoveIndex(model_name="crmquarantine", name="crm_quarantine_record"),
        migrations.RemoveIndex(model_name="syncrun", name="sync_run_recent"),
        migrations.RemoveIndex(model_name="bulkreadjob", name="bulk_read_job_recent"),
        *[
            migrations.RenameField(model_name=model, old_name="module", new_name="object")
            for model in ("syncrun", "syncstate", "crmrecord", "crmphone", "crmquarantine", "syncschedule")
        ],
        *[
            migrations.RenameField(model_name=model, old_name="zoho_id", new_name="external_id")
            for model in ("crmrecord", "crmphone", "crmquarantine")
        ],
        *[
            migrations.AlterField(model_name=model, name="external_id", field=models.CharField(max_length=64))
            for model in ("crmrecord", "crmphone", "crmquarantine")
        ],
        migrations.RenameField(model_name="bulkreadjob", old_name="module", new_name="object"),
        migrations.RenameField(model_name="bulkreadjob", old_name="zoho_job_id", new_name="job_id"),
        migrations.RenameField(model_name="bulkreadjob", old_name="zoho_state", new_name="vendor_state"),
        migrations.RenameField(model_name="bulkreadjob", old_name="next_page_token", new_name="continuation"),
        migrations.RenameField(model_name="notificationchannel", old_name="events", new_name="objects_watched"),
        *[
            migrations.AddField(
                model_name=model,
                name="connection",
                field=connection_field(db_index=model not in ("crmrecord", "crmphone")),
            )
            for model in (
                "syncrun",
                "syncstate",
                "crmrecord",
                "crmphone",
                "crmquarantine",
                "syncschedule",
                "bulkreadjob",
                "notificationchannel",
            )
        ],
        migrations.RunPython(forwards, backwards),
        migrations.RenameModel(old_name="BulkReadJob", new_name="ExportJob"),
        migrations.AlterField(model_name="exportjob", name="job_id", field=models.CharField(max_length=255)),
        migrations.AlterField(
            model_name="exportjob",
            name="page",
            field=models.PositiveIntegerField(
                default=1, help_text="The job's place in the backfill (1: the first export)."
            ),
        ),
        migrations.AlterField(
            model_name="exportjob",
            name="state",
            field=models.CharField(
                choices=[
                    ("exporting", "the CRM is exporting"),
                    ("loading", "loading the export into the mirror"),
                    ("done", "Done"),
                    ("failed", "Failed"),
                ],
                default="exporting",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="exportjob",
            name="run",
            field=models.ForeignKey(blank=True, null=True, on_delete=SET_NULL, related_name="+", to="sync.syncrun"),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="kind",
            field=models.CharField(
                choices=[
                    ("delta", "delta (changed since the watermark)"),
                    ("backfill", "backfill (bulk export)"),
                    ("reconcile", "full reconciliation"),
                    ("notification", "notification (changed ids)"),
                ],
                default="delta",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="notificationchannel",
            name="organization",
            field=models.ForeignKey(on_delete=CASCADE, related_name="+", to="studios.organization"),
        ),
        migrations.AddConstraint(
            model_name="syncstate",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection", "object"), name="sync_state_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="crmrecord",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection", "object", "external_id"), name="crm_record_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="crmphone",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection", "object", "external_id", "field"), name="crm_phone_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="syncschedule",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection", "object"), name="sync_schedule_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="notificationchannel",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection"), name="notification_channel_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="crmquarantine",
            index=models.Index(
                fields=["organization", "connection", "object", "external_id"], name="crm_quarantine_record"
            ),
        ),
        migrations.AddIndex(
            model_name="syncrun",
            index=models.Index(fields=["organization", "object", "-started_at"], name="sync_run_recent"),
        ),
        migrations.AddIndex(
            model_name="exportjob",
            index=models.Index(fields=["organization", "object", "-requested_at"], name="export_job_recent"),
        ),
        # Undone first on the way back: views of the new columns would block the reverse renames.
        migrations.RunPython(migrations.RunPython.noop, mirror_views_drop),
    ]
