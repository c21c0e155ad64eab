"""The CRM mirror: one generic table of CRM records for every connection and object, with its runs, cursors and
quarantine.

Everything is keyed by (organization, connection, object, external id): a connection is the organization's link to
one CRM (a `studios.ProviderAccount` a registered provider serves, crm/connections.py), since one organization may
mirror two CRMs side by side; `object` is the canonical name (lead, contact, account, deal, task) or the CRM's own
for other objects; `external_id` the CRM's record id.

Why one generic table rather than a table per object: "any object by configuration, without code" rules out
hand-written per-object tables, and tables created at run time would live outside migrations (no review, no
`makemigrations --check`, no SQLite). The columns every object shares are typed columns here (name, email, owner,
created/modified time); standard fields are typed JSON values in `fields` by canonical key, custom and unknown
fields go to `custom_fields`; per-object SQL views give them typed columns (sync/sql_views.py).

`connection` is empty only on rows mirrored before connections existed whose organization had no CRM account left
when migration 0008 ran (docs/sync.md): no sync writes such rows again, and nothing was deleted to avoid them.
"""

from __future__ import annotations

import hashlib
import hmac

from django.db import models

from core.secrets import EncryptedSecretField
from core.tenancy import TenantModel

CONNECTION_HELP = (
    "The CRM connection (a CRM provider account). Empty only on rows mirrored before connections existed whose "
    "organization had no CRM account when they were migrated."
)


def connection_field(**options: object) -> models.ForeignKey:
    return models.ForeignKey(
        "studios.ProviderAccount",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text=CONNECTION_HELP,
        **options,
    )


class SyncRun(TenantModel):
    """One sync of one (organization, connection, object): what it did, from which watermark to which."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"
        SKIPPED = "skipped"
        # Stopped cleanly because the CRM org's API allocation is used up: what was read is kept (checkpoint), and
        # the object waits until the allocation frees (SyncState.paused_until). Not a failure: no failing alert.
        PAUSED = "paused", "paused (CRM API allocation used up)"

    class Kind(models.TextChoices):
        DELTA = "delta", "delta (changed since the watermark)"
        BACKFILL = "backfill", "backfill (bulk export)"
        RECONCILE = "reconcile", "full reconciliation"
        NOTIFICATION = "notification", "notification (changed ids)"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = connection_field()
    object = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DELTA)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    inserted = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    quarantined = models.PositiveIntegerField(default=0)
    watermark_before = models.DateTimeField(null=True, blank=True)
    watermark_after = models.DateTimeField(null=True, blank=True)
    credits_used = models.PositiveIntegerField(default=0)
    resumed = models.BooleanField(default=False, help_text="Started from a crashed run's checkpoint.")
    error = models.TextField(blank=True, default="")

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "object", "-started_at"], name="sync_run_recent")]

    def __str__(self) -> str:
        return f"{self.object} run {self.pk} ({self.status})"


class SyncState(TenantModel):
    """Per (organization, connection, object): the watermark, the in-run checkpoint and the run lock with its lease."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = connection_field()
    object = models.CharField(max_length=100)
    # Modified time of the last record of the last committed batch; the next run reads from it minus the overlap.
    watermark = models.DateTimeField(null=True, blank=True)
    # (modified time, id) after the last committed batch of the run in progress: a crashed run resumes exactly here.
    checkpoint_time = models.DateTimeField(null=True, blank=True)
    checkpoint_id = models.CharField(max_length=64, blank=True, default="")
    # An object mirrored through its CRM's change tracking (sync/tracked.py): the token the CRM gave at the end of the
    # last read (the next run asks for the changes since it; empty: the next read is a full one), and the link to the
    # next page of the read in progress (a killed run resumes there).
    change_token = models.TextField(blank=True, default="")
    checkpoint_token = models.TextField(blank=True, default="")
    # When the newest deletion seen happened; the deleted-records endpoint is asked from here.
    deleted_watermark = models.DateTimeField(null=True, blank=True)
    # The lock: the running run and a lease it renews per batch, so a crashed holder frees it when the lease ends.
    locked_by = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the last full reconciliation (every id, formula fields re-read) finished successfully.
    reconciled_at = models.DateTimeField(null=True, blank=True)
    # The CRM said its API allocation is used up (CrmQuotaExhausted): no scheduled run before this moment, and why.
    paused_until = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "connection", "object"], name="sync_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.object} state"


class CrmRecord(TenantModel):
    """One CRM record of any object, as of its modified time in the CRM.

    The unique index is the only one that starts with the organization. The sync looks records up by its key
    (organization, connection, object, external_id), and while the table's statistics are missing or stale (a first
    load, a new organization in a large table) the planner estimates any organization-led index to match one row,
    so it may pick one that only narrows to the organization and filter the rest: a scan of every stored record per
    lookup (a cold load of 100,000 leads stalled for minutes on an (organization, module, modified_time) index
    that nothing else used)."""

    # No index of its own: the unique constraint's leading column serves the foreign key.
    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+", db_index=False)
    # No index of its own either: nothing looks records up by connection alone (deleting a connection, PROTECTed
    # while it has rows, is rare enough to scan).
    connection = connection_field(db_index=False)
    object = models.CharField(max_length=100)
    external_id = models.CharField(max_length=64)
    name = models.TextField(blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    owner_id = models.CharField(max_length=64, blank=True, default="")
    owner_name = models.CharField(max_length=255, blank=True, default="")
    created_time = models.DateTimeField(null=True, blank=True)
    modified_time = models.DateTimeField()
    # md5 of the mapped values: an edit landing in the same second as the stored one still replaces it, and
    # records the overlap window reads again unchanged are not rewritten.
    content_hash = models.CharField(max_length=32)
    fields = models.JSONField(default=dict)
    custom_fields = models.JSONField(default=dict)
    deleted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()
    run = models.ForeignKey(SyncRun, on_delete=models.PROTECT, related_name="+")

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "object", "external_id"], name="crm_record_unique"
            ),
        ]
        indexes = [models.Index(fields=["email", "organization"], name="crm_record_email_org")]
        # No GIN index on fields / custom_fields: no query uses one (0002 made them, 0007 dropped them).

    def __str__(self) -> str:
        return f"{self.object} {self.external_id}"


class CrmPhone(TenantModel):
    """Every phone field of a mirrored record in E.164, so an inbound text resolves without a CRM call.

    The unique index is the only one that starts with the organization: the sync finds a batch's phones by
    (organization, connection, object, external_id), and while the statistics are missing or stale (a first load)
    another index led by the organization costs the same to the planner, which then scanned every phone of the
    organization per batch. Inbound lookups use (e164, organization), as selective for them."""

    # No index of its own: the unique constraint's leading column serves the foreign key.
    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+", db_index=False)
    connection = connection_field(db_index=False)
    object = models.CharField(max_length=100)
    external_id = models.CharField(max_length=64)
    field = models.CharField(max_length=100)
    e164 = models.CharField(max_length=20)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "connection", "object", "external_id", "field"], name="crm_phone_unique"
            ),
        ]
        indexes = [models.Index(fields=["e164", "organization"], name="crm_phone_e164_org")]

    def __str__(self) -> str:
        return f"{self.e164} ({self.object} {self.external_id})"


class CrmQuarantine(TenantModel):
    """A value that did not fit its field's type; the record was mirrored without it."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = connection_field()
    object = models.CharField(max_length=100)
    external_id = models.CharField(max_length=64)
    field = models.CharField(max_length=100)
    value = models.JSONField(null=True)
    reason = models.TextField()
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        indexes = [
            models.Index(fields=["organization", "connection", "object", "external_id"], name="crm_quarantine_record")
        ]

    def __str__(self) -> str:
        return f"{self.object} {self.external_id}.{self.field}: {self.reason}"


class SyncSchedule(TenantModel):
    """How often one (organization, connection, object) is synced, and the alert incident it is in (so it alerts
    once).

    An organization with a CRM connection and no rows here syncs every `SYNC_MODULES` object every 15 minutes;
    a row overrides that object (interval, or off). Rows are also created by the alert check to remember an
    incident, with the default values."""

    class Alert(models.TextChoices):
        NONE = "", "none"
        FAILING = "failing", "failed twice in a row"
        SILENT = "silent", "no successful run for three intervals"
        PAUSED = "paused", "the CRM's API allocation is used up"

    organization = models.ForeignKey("studios.Organization", on_delete=models.CASCADE, related_name="+")
    connection = connection_field()
    object = models.CharField(max_length=100)
    interval_minutes = models.PositiveIntegerField(default=15)
    is_enabled = models.BooleanField(default=True)
    # The open incident alerted for (blank: none) and when; a "recovered" message closes it.
    alert_state = models.CharField(max_length=16, choices=Alert.choices, blank=True, default="")
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "connection", "object"], name="sync_schedule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.object} every {self.interval_minutes} min"


class ExportJob(TenantModel):
    """One bulk export (a provider's BULK_EXPORT job) behind a backfill, and how far its records got into the mirror.

    A backfill that crashes resumes from here: the CRM's job (its result stays downloadable for a while), its
    sequence number, and how many of its records are already upserted, instead of starting a new export."""

    class State(models.TextChoices):
        EXPORTING = "exporting", "the CRM is exporting"  # queued or running on the CRM's side
        LOADING = "loading", "loading the export into the mirror"
        DONE = "done"
        FAILED = "failed"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    connection = connection_field()
    object = models.CharField(max_length=100)
    run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    job_id = models.CharField(max_length=255)
    page = models.PositiveIntegerField(default=1, help_text="The job's place in the backfill (1: the first export).")
    state = models.CharField(max_length=16, choices=State.choices, default=State.EXPORTING)
    vendor_state = models.CharField(max_length=32, blank=True, default="")  # the job's state as the CRM said it
    rows_total = models.PositiveIntegerField(null=True, blank=True)  # the export's record count, once completed
    rows_loaded = models.PositiveIntegerField(default=0)  # records of this job already upserted (the checkpoint)
    more_records = models.BooleanField(default=False)
    continuation = models.CharField(max_length=255, blank=True, default="")  # asks for the records after this job's
    # When the export was requested: the delta sync's watermark after the backfill (minus the overlap window).
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "object", "-requested_at"], name="export_job_recent")]

    def __str__(self) -> str:
        return f"{self.object} export {self.job_id} #{self.page} ({self.state})"


def channel_secret_digest(value: str) -> str:
    """What the URL secret is looked up by: its SHA-256 (the secret is random, so no key is needed)."""
    return hashlib.sha256(value.encode()).hexdigest()


class NotificationChannel(TenantModel):
    """A connection's change-feed subscription (CHANGE_FEED): the CRM posts the ids of changed records to us.

    The provider verifies a callback against it (`parse_notification`: its id and token or signature); the notify
    URL carries a secret of its own too, which is what a callback is looked up by.

    Both secrets are sent to the CRM again at every renewal (the token and the notify URL are part of the
    subscription), so they are kept encrypted (EncryptedSecretField), not as digests; the URL secret also has a
    SHA-256 digest, unique, which is what an incoming callback is looked up by."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.CASCADE, related_name="+")
    connection = connection_field()
    channel_id = models.BigIntegerField(unique=True)
    token = EncryptedSecretField()
    url_secret = EncryptedSecretField()
    url_secret_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)
    objects_watched = models.JSONField(default=list)  # ["account", "contact", "deal", "lead"]
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=False)  # the CRM accepted the subscription and it has not lapsed
    renewed_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "connection"], name="notification_channel_unique")
        ]

    def __str__(self) -> str:
        return f"channel {self.channel_id} ({'active' if self.is_active else 'inactive'})"

    def token_matches(self, token: str) -> bool:
        """Whether a callback's echoed token is this channel's, compared in constant time."""
        return bool(self.token) and hmac.compare_digest(token.encode(), self.token.reveal().encode())
