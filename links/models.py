"""Two-way sync: links between two CRM connections of one organization, and what keeps them in step.

    SyncLink ── LinkObject (lead⇄contact, account⇄company, ...) ── LinkField (Last_Name⇄lastname, both ways)
       │
       ├── RecordPair     the id map: one record on each side, under our own id (`leadline_id`), with the state of
       │                  each linked field (what each side last held, when it changed, what we last wrote)
       ├── LinkChange     the inbox: a linked record the mirror wrote or marked deleted, recorded in the mirror's own
       │                  batch transaction (crm.hooks.on_records_changed), acted on after it commits, in order
       ├── LinkWrite      the outbox and the failed-writes queue: one create, update, delete or archive of one record
       │                  on one side; done writes are the link's history ("why does this field say that")
       ├── LinkConflict   a field both sides changed, with both values and which won by which rule
       └── MatchReview    a record several records of the other side matched: never merged by itself

A side is "a" or "b": `connection_a` and `connection_b` of the link, `object_a` and `object_b` of a LinkObject,
`field_a` and `field_b` of a LinkField, `id_a` and `id_b` of a RecordPair. docs/links.md tells the whole story.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core.models import TimeStampedModel
from core.tenancy import TenantModel
from studios.models import validate_time_zone


class Side(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


def other_side(side: str) -> str:
    return Side.B if side == Side.A else Side.A


class SyncLink(TenantModel, TimeStampedModel):
    """Two CRM connections of one organization kept in step for some pairs of objects.

    DRAFT: configured, nothing written (a preview may be run). RUNNING: started by a manager (or `links start`), the
    first sync done or under way, every change the mirrors see acted on. PAUSED: changes are still recorded (nothing
    is lost) but nothing is written until it runs again."""

    class State(models.TextChoices):
        DRAFT = "draft"
        RUNNING = "running"
        PAUSED = "paused"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    name = models.SlugField(max_length=63, help_text="Names the link in the tenants file and in `manage.py links`.")
    connection_a = models.ForeignKey(
        "studios.ProviderAccount", on_delete=models.PROTECT, related_name="+", help_text="Side A: a CRM connection."
    )
    connection_b = models.ForeignKey(
        "studios.ProviderAccount", on_delete=models.PROTECT, related_name="+", help_text="Side B: another one."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    # Where a date meets a datetime (a date field linked to a datetime field), the day is this zone's.
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    # Owners linked by hand, beside the members whose CRM user ids name them on both sides: [{"a": id, "b": id}].
    owners = models.JSONField(default=list, blank=True)
    # The last preview (dry run): counts and examples, and when it was made.
    preview = models.JSONField(default=dict, blank=True, editable=False)
    preview_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_sync_done_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    pause_reason = models.CharField(max_length=300, blank=True, default="", editable=False)
    # The apply loop's lease: one worker at a time acts on a link; a crashed worker's lease ends by itself.
    lease_token = models.CharField(max_length=36, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The open alert incident ("" none) and when it was sent, as the mirror's SyncSchedule keeps its own.
    alert_state = models.CharField(max_length=16, blank=True, default="", editable=False)
    alert_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="sync_link_unique_name"),
            models.CheckConstraint(condition=~Q(connection_a=F("connection_b")), name="sync_link_two_connections"),
        ]

    def __str__(self) -> str:
        return self.name

    def connection(self, side: str):
        return self.connection_a if side == Side.A else self.connection_b


class LinkObject(TenantModel):
    """One pair of objects a link keeps in step (lead⇄contact, account⇄company, deal⇄opportunity, task⇄task), by
    canonical names (or a CRM's own name for other objects), with how records are matched, created and deleted."""

    class Deletes(models.TextChoices):
        MIRROR = "mirror", "delete the linked record too"
        ARCHIVE = "archive", "set the archive values on the linked record"
        IGNORE = "ignore", "leave the linked record as it is"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="objects_linked")
    object_a = models.CharField(max_length=100)
    object_b = models.CharField(max_length=100)
    # The unique field on each side that holds our id (RecordPair.leadline_id): creates go through the CRM's upsert by
    # it, so a retried create never makes a second record; it also matches records linked before.
    external_id_a = models.CharField(max_length=100, blank=True, default="")
    external_id_b = models.CharField(max_length=100, blank=True, default="")
    # How the first sync (and a record new on one side) finds its counterpart, in order: "external_id", "email",
    # "phone" (E.164).
    match_by = models.JSONField(default=list, blank=True)
    create_a = models.BooleanField(default=True, help_text="Create on side A what only side B has.")
    create_b = models.BooleanField(default=True, help_text="Create on side B what only side A has.")
    deletes = models.CharField(max_length=16, choices=Deletes.choices, default=Deletes.IGNORE)
    # With deletes=archive: the values set on a side when its linked record is deleted on the other, e.g.
    # {"Lead_Status": "Archived"}.
    archive_a = models.JSONField(default=dict, blank=True)
    archive_b = models.JSONField(default=dict, blank=True)
    # Objects are synced in this order (accounts before the contacts that point at them).
    position = models.PositiveSmallIntegerField(default=0)

    class Meta(TenantModel.Meta):
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["link", "object_a", "object_b"], name="link_object_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.object_a} ⇄ {self.object_b}"


class LinkField(TenantModel):
    """One field mapping of a LinkObject: which way it flows, and who wins when both sides changed it."""

    class Direction(models.TextChoices):
        BOTH = "both", "both ways"
        A_TO_B = "a_to_b", "A → B"
        B_TO_A = "b_to_a", "B → A"

    class Conflict(models.TextChoices):
        LATEST = "latest", "the most recent change wins"
        A_WINS = "a_wins", "side A always wins"
        B_WINS = "b_wins", "side B always wins"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="fields")
    field_a = models.CharField(max_length=100, help_text="The field's API name on side A.")
    field_b = models.CharField(max_length=100, help_text="The field's API name on side B.")
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.BOTH)
    conflict = models.CharField(max_length=8, choices=Conflict.choices, default=Conflict.LATEST)
    # Empty never overwrites a value, unless this is set: then clearing the field on one side clears the other.
    clears = models.BooleanField(default=False, help_text="Clearing the field on one side clears it on the other.")
    # Picklist values: A's value -> B's ({"Contacted": "CONNECTED"}), and B's -> A's where not the reverse of it.
    values_a_to_b = models.JSONField(default=dict, blank=True)
    values_b_to_a = models.JSONField(default=dict, blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["link_object", "field_a"], name="link_field_unique_a"),
            models.UniqueConstraint(fields=["link_object", "field_b"], name="link_field_unique_b"),
        ]

    def __str__(self) -> str:
        return f"{self.field_a} ⇄ {self.field_b}"


class RecordPair(TenantModel):
    """The id map: a record on side A and its counterpart on side B, under our id. An id is empty while the record
    is being created on that side (the create's LinkWrite carries `leadline_id` as the external id).

    `field_state` is what two-way sync remembers per linked field, by LinkField id (as text):
    {"a": hash of A's value as its mirror last showed it, "a_at": when it changed there (ISO), "b": ..., "b_at": ...,
     "ga": hash of A's value when both sides last agreed, "gb": ... B's (a side "changed since they agreed" when its
     hash differs from its own "g" hash: conflicts are told by hashes, never by comparing the CRMs' clocks with ours),
     "wa": hash of the value we last wrote to A (its echo, until A moves to another value), "wb": ... to B,
     "agreed"/"agreed_at": the last agreement, for people reading the state}. Hashes are
    links.conversions.value_hash of the value in each side's own terms. What a side holds is learnt from its mirror
    only: a write done does not claim it."""

    class State(models.TextChoices):
        LINKED = "linked"
        DELETED_A = "deleted_a", "deleted on side A"
        DELETED_B = "deleted_b", "deleted on side B"
        DELETED = "deleted", "deleted on both sides"

    class MatchedBy(models.TextChoices):
        EXTERNAL_ID = "external_id"
        EMAIL = "email"
        PHONE = "phone"
        CREATED = "created", "created by the link"
        MANUAL = "manual", "linked by a manager"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="pairs")
    leadline_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    id_a = models.CharField(max_length=64, blank=True, default="")
    id_b = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.LINKED)
    matched_by = models.CharField(max_length=16, choices=MatchedBy.choices)
    field_state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["link_object", "id_a"], condition=~Q(id_a=""), name="record_pair_unique_a"),
            models.UniqueConstraint(fields=["link_object", "id_b"], condition=~Q(id_b=""), name="record_pair_unique_b"),
        ]

    def __str__(self) -> str:
        return f"{self.id_a or '…'} ⇄ {self.id_b or '…'}"

    def record_id(self, side: str) -> str:
        return self.id_a if side == Side.A else self.id_b


class LinkChange(TenantModel):
    """A linked object's record the mirror wrote (new or changed) or marked deleted on one side: recorded inside the
    mirror batch's transaction, so no change is lost between the mirror and the link; acted on in id order."""

    class Operation(models.TextChoices):
        UPSERT = "upsert"
        DELETE = "delete"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=1, choices=Side.choices)
    external_id = models.CharField(max_length=64)
    operation = models.CharField(max_length=8, choices=Operation.choices, default=Operation.UPSERT)
    # A deletion the CRM itself reported (True), or a record only missing from a full read (False: confirmed with the
    # CRM before it is acted on).
    confirmed = models.BooleanField(default=True)
    # The record's modified time in the CRM (lag is measured from it), and what the CRM says of the change: whether
    # our own app made it (its source tag; None: it does not say), and when each field changed (where it says).
    modified_time = models.DateTimeField(null=True, blank=True)
    by_us = models.BooleanField(null=True)
    field_times = models.JSONField(default=dict, blank=True)
    seen_at = models.DateTimeField(help_text="When the mirror committed it.")
    # A change put back for later (a lookup whose target is not linked yet): not acted on before this.
    due_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        indexes = [
            models.Index(fields=["link", "id"], condition=Q(processed_at__isnull=True), name="link_change_pending"),
            # A record's changes: a start's catch-up asks, per record mirrored around it, whether a change of that
            # version exists (without this index the anti-join scanned the whole inbox per record: 498 s of a
            # 50,000-a-side start).
            models.Index(fields=["link_object", "side", "external_id"], name="link_change_record"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.side}:{self.external_id}"


class LinkWrite(TenantModel):
    """One write to one side: the outbox (pending), the failed-writes queue (failed: the CRM's message, retry or skip
    by a manager) and, once done, the history of every field the link changed (`values` new, `previous` old)."""

    class Operation(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        ARCHIVE = "archive"

    class State(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped", "skipped by a manager"
        SUPERSEDED = "superseded", "replaced by a newer write"

    class Origin(models.TextChoices):
        A = "a", "a change on side A"
        B = "b", "a change on side B"
        FIRST_SYNC = "first_sync", "the first sync"
        RETRY = "retry", "a manager's retry"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="+")
    pair = models.ForeignKey(RecordPair, on_delete=models.CASCADE, related_name="writes")
    side = models.CharField(max_length=1, choices=Side.choices, help_text="The side written to.")
    operation = models.CharField(max_length=8, choices=Operation.choices)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    # Vendor field name -> the value written (as crm.provider's writes take it, JSON-encoded), and what the side held
    # before (the history's "old").
    values = models.JSONField(default=dict, blank=True)
    previous = models.JSONField(default=dict, blank=True)
    # LinkField id (text) -> value_hash of what is written: remembered in the pair's field_state ("wa"/"wb") when the
    # write is sent, so the change coming back through the mirror is known as ours.
    hashes = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The CRM's refusal, in its words: its code, message and the fields it named.
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_fields = models.JSONField(default=dict, blank=True)
    transient = models.BooleanField(default=False, help_text="The last failure was one a retry may cure.")
    # When the change this write carries happened in the CRM, and when the mirror saw it (the link's lag).
    source_modified_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        indexes = [
            models.Index(
                fields=["link", "next_attempt_at", "id"],
                condition=Q(state__in=["pending", "sending"]),
                name="link_write_pending",
            ),
            models.Index(fields=["link", "state", "-created_at"], name="link_write_state"),
            models.Index(fields=["pair", "side", "id"], name="link_write_pair"),
        ]
        constraints = [
            # One create per record and side: a create planned twice (a change seen twice) cannot make two records.
            models.UniqueConstraint(
                fields=["pair", "side"], condition=Q(operation="create"), name="link_write_one_create"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} on {self.side} ({self.state})"


class LinkConflict(TenantModel):
    """A field both sides changed since they last agreed, with both values, the winner and the rule that chose it."""

    class Rule(models.TextChoices):
        LATEST = "latest", "the most recent change"
        TIE = "tie", "changed at the same moment: side A wins"
        A_WINS = "a_wins", "side A always wins"
        B_WINS = "b_wins", "side B always wins"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="+")
    pair = models.ForeignKey(RecordPair, on_delete=models.CASCADE, related_name="conflicts")
    link_field = models.ForeignKey(LinkField, on_delete=models.CASCADE, related_name="+")
    value_a = models.JSONField(null=True)
    value_b = models.JSONField(null=True)
    changed_a_at = models.DateTimeField(null=True, blank=True)
    changed_b_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=1, choices=Side.choices)
    rule = models.CharField(max_length=8, choices=Rule.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["link", "-created_at"], name="link_conflict_recent")]

    def __str__(self) -> str:
        return f"conflict on {self.link_field} ({self.winner} won)"


class MatchReview(TenantModel):
    """A record that several records of the other side match (one email on two contacts): nothing is merged or
    created for it until a manager picks its counterpart, asks for a new record, or leaves it out of the link."""

    class State(models.TextChoices):
        OPEN = "open"
        LINKED = "linked", "linked to the record picked"
        CREATE = "create", "a new record is created"
        IGNORED = "ignored", "left out of the link"

    organization = models.ForeignKey("studios.Organization", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="+")
    link_object = models.ForeignKey(LinkObject, on_delete=models.CASCADE, related_name="reviews")
    side = models.CharField(max_length=1, choices=Side.choices, help_text="The side of the record under review.")
    external_id = models.CharField(max_length=64)
    candidates = models.JSONField(default=list, help_text="Ids of the other side's records that match it.")
    matched_by = models.CharField(max_length=16, choices=RecordPair.MatchedBy.choices)
    match_value = models.CharField(max_length=254, blank=True, default="", help_text="The e-mail, phone or id.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    chosen_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["link_object", "side", "external_id"], name="match_review_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.side}:{self.external_id} matches {len(self.candidates)} records"
