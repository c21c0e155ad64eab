"""The CRM mirror: one generic table of Zoho records for every module, with its runs, cursors and quarantine.

Why one generic table (organization, module, zoho_id) rather than a table per module: "any module by
configuration, without code" rules out hand-written per-module tables, and tables created at run time would live
outside migrations (no review, no `makemigrations --check`, no SQLite). The columns every module shares are typed
columns here (name, email, owner, created/modified time); the module's standard fields are mapped to snake_case
typed JSON values in `fields`, custom and unknown fields go to `custom_fields`; both have GIN indexes on
PostgreSQL, and per-module SQL views can give them typed columns later without touching this table.
"""

from __future__ import annotations

import hashlib
import hmac

from django.db import models

from core.secrets import EncryptedSecretField
from core.tenancy import TenantModel


class SyncRun(TenantModel):
    """One sync of one (organization, module): what it did, from which watermark to which."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"
        SKIPPED = "skipped"

    class Kind(models.TextChoices):
        DELTA = "delta", "delta (COQL on Modified_Time)"
        BACKFILL = "backfill", "backfill (Bulk Read)"
        RECONCILE = "reconcile", "full reconciliation"
        NOTIFICATION = "notification", "notification (changed ids)"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    module = models.CharField(max_length=100)
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
        indexes = [models.Index(fields=["organization", "module", "-started_at"], name="sync_run_recent")]

    def __str__(self) -> str:
        return f"{self.module} run {self.pk} ({self.status})"


class SyncState(TenantModel):
    """Per (organization, module): the watermark, the in-run checkpoint and the run lock with its lease."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    module = models.CharField(max_length=100)
    # Modified_Time of the last record of the last committed batch; the next run reads from it minus the overlap.
    watermark = models.DateTimeField(null=True, blank=True)
    # (Modified_Time, id) after the last committed batch of the run in progress: a crashed run resumes exactly here.
    checkpoint_time = models.DateTimeField(null=True, blank=True)
    checkpoint_id = models.CharField(max_length=32, blank=True, default="")
    # When the newest deletion seen happened; the deleted-records endpoint is asked from here.
    deleted_watermark = models.DateTimeField(null=True, blank=True)
    # The lock: the running run and a lease it renews per batch, so a crashed holder frees it when the lease ends.
    locked_by = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When the last full reconciliation (every id, formula fields re-read) finished successfully.
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization", "module"], name="sync_state_unique")]

    def __str__(self) -> str:
        return f"{self.module} state"


class CrmRecord(TenantModel):
    """One Zoho record of any module, as of its Zoho Modified_Time.

    The unique index is the only one that starts with the organization. The sync looks records up by (organization,
    module, zoho_id), and while the table's statistics are missing or stale (a first load, a new organization in a
    large table) the planner estimates any organization-led index to match one row, so it may pick one that only
    narrows to the organization and filter the rest: a scan of every stored record per lookup (a cold load of
    100,000 leads stalled for minutes on an (organization, module, modified_time) index that nothing else used)."""

    # No index of its own: the unique constraint's leading column serves the foreign key.
    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+", db_index=False)
    module = models.CharField(max_length=100)
    zoho_id = models.CharField(max_length=32)
    name = models.TextField(blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    owner_id = models.CharField(max_length=32, blank=True, default="")
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
            models.UniqueConstraint(fields=["organization", "module", "zoho_id"], name="crm_record_unique"),
        ]
        indexes = [models.Index(fields=["email", "organization"], name="crm_record_email_org")]
        # No GIN index on fields / custom_fields: no query uses one (0002 made them, 0007 dropped them).

    def __str__(self) -> str:
        return f"{self.module} {self.zoho_id}"


class CrmPhone(TenantModel):
    """Every phone field of a mirrored record in E.164, so an inbound text resolves without a Zoho call.

    The unique index is the only one that starts with the organization: the sync finds a batch's phones by
    (organization, module, zoho_id), and while the statistics are missing or stale (a first load) another index
    led by the organization costs the same to the planner, which then scanned every phone of the organization
    per batch. Inbound lookups use (e164, organization), as selective for them."""

    # No index of its own: the unique constraint's leading column serves the foreign key.
    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+", db_index=False)
    module = models.CharField(max_length=100)
    zoho_id = models.CharField(max_length=32)
    field = models.CharField(max_length=100)
    e164 = models.CharField(max_length=20)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "module", "zoho_id", "field"], name="crm_phone_unique"),
        ]
        indexes = [models.Index(fields=["e164", "organization"], name="crm_phone_e164_org")]

    def __str__(self) -> str:
        return f"{self.e164} ({self.module} {self.zoho_id})"


class CrmQuarantine(TenantModel):
    """A value that did not fit its field's type; the record was mirrored without it."""

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    module = models.CharField(max_length=100)
    zoho_id = models.CharField(max_length=32)
    field = models.CharField(max_length=100)
    value = models.JSONField(null=True)
    reason = models.TextField()
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "module", "zoho_id"], name="crm_quarantine_record")]

    def __str__(self) -> str:
        return f"{self.module} {self.zoho_id}.{self.field}: {self.reason}"


class SyncSchedule(TenantModel):
    """How often one (organization, module) is synced, and the alert incident it is in (so it alerts once).

    An organization with a Zoho CRM account and no rows here syncs every `SYNC_MODULES` module every 15 minutes;
    a row overrides that module (interval, or off). Rows are also created by the alert check to remember an
    incident, with the default values."""

    class Alert(models.TextChoices):
        NONE = "", "none"
        FAILING = "failing", "failed twice in a row"
        SILENT = "silent", "no successful run for three intervals"

    organization = models.ForeignKey("studios.Organization", on_delete=models.CASCADE, related_name="+")
    module = models.CharField(max_length=100)
    interval_minutes = models.PositiveIntegerField(default=15)
    is_enabled = models.BooleanField(default=True)
    # The open incident alerted for (blank: none) and when; a "recovered" message closes it.
    alert_state = models.CharField(max_length=16, choices=Alert.choices, blank=True, default="")
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization", "module"], name="sync_schedule_unique")]

    def __str__(self) -> str:
        return f"{self.module} every {self.interval_minutes} min"


class BulkReadJob(TenantModel):
    """One Zoho Bulk Read export behind a backfill, and how far its rows got into the mirror.

    A backfill that crashes resumes from here: the Zoho job (its result stays downloadable for a day), the page,
    and the number of CSV rows of that page already upserted, instead of starting a new export."""

    class State(models.TextChoices):
        EXPORTING = "exporting", "Zoho is exporting"  # ADDED, QUEUED, IN PROGRESS on Zoho's side
        LOADING = "loading", "loading the CSV into the mirror"
        DONE = "done"
        FAILED = "failed"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    module = models.CharField(max_length=100)
    run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    zoho_job_id = models.CharField(max_length=32)
    page = models.PositiveIntegerField(default=1)
    state = models.CharField(max_length=16, choices=State.choices, default=State.EXPORTING)
    zoho_state = models.CharField(max_length=32, blank=True, default="")  # ADDED, QUEUED, IN PROGRESS, COMPLETED
    rows_total = models.PositiveIntegerField(null=True, blank=True)  # Zoho's `count` for the page, once completed
    rows_loaded = models.PositiveIntegerField(default=0)  # CSV rows of this page already upserted (the checkpoint)
    more_records = models.BooleanField(default=False)
    next_page_token = models.CharField(max_length=255, blank=True, default="")
    # When the export was requested: the delta sync's watermark after the backfill (minus the overlap window).
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["organization", "module", "-requested_at"], name="bulk_read_job_recent")]

    def __str__(self) -> str:
        return f"{self.module} bulk read {self.zoho_job_id} page {self.page} ({self.state})"


def channel_secret_digest(value: str) -> str:
    """What the URL secret is looked up by: its SHA-256 (the secret is random, so no key is needed)."""
    return hashlib.sha256(value.encode()).hexdigest()


class NotificationChannel(TenantModel):
    """The organization's Zoho Notifications (watch) channel: Zoho posts the ids of changed records to us.

    Zoho signs nothing; a callback is believed only if its channel id is one of ours and its token (<= 50 chars,
    echoed back by Zoho) matches this row's in constant time. The notify URL carries a secret of its own too.

    Both secrets are sent to Zoho again at every renewal (the token and the notify URL are part of the watch item),
    so they are kept encrypted (EncryptedSecretField), not as digests; the URL secret also has a SHA-256 digest,
    unique, which is what an incoming callback is looked up by."""

    organization = models.OneToOneField("studios.Organization", on_delete=models.CASCADE, related_name="+")
    channel_id = models.BigIntegerField(unique=True)
    token = EncryptedSecretField()
    url_secret = EncryptedSecretField()
    url_secret_digest = models.CharField(max_length=64, unique=True, null=True, editable=False)
    events = models.JSONField(default=list)  # ["Leads.all", "Contacts.all", ...]
    expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=False)  # Zoho accepted the subscription and it has not lapsed
    renewed_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"channel {self.channel_id} ({'active' if self.is_active else 'inactive'})"

    def token_matches(self, token: str) -> bool:
        """Whether a callback's echoed token is this channel's, compared in constant time."""
        return bool(self.token) and hmac.compare_digest(token.encode(), self.token.reveal().encode())
