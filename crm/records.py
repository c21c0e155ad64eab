"""The CRM-neutral values a provider takes and returns: objects, fields, records, cursors, pages, identities,
subscriptions and change notifications. All frozen: a provider hands them out and nobody edits them after."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any


class Capability(StrEnum):
    """What a provider can do beyond the methods every provider has. Callers ask before using the optional ones
    (`provider.supports(Capability.CHANGE_FEED)`); a method whose capability is not declared raises
    NotImplementedError."""

    BULK_EXPORT = "bulk_export"  # an asynchronous export job for a first load (a CRM's bulk API)
    CHANGE_FEED = "change_feed"  # push notifications of changed records: subscribe, renew, unsubscribe, parse
    SIGN_IN = "sign_in"  # the CRM's OAuth can sign a person in to Leadline (identity of the consenting user)
    ACTIVITY_LOGGING = "activity_logging"  # tasks on a record, and finished activities on its timeline
    UPSERT_BY_EXTERNAL_ID = "upsert_by_external_id"  # create-or-update keyed by a unique field, in one call
    DELETED_RECORDS = "deleted_records"  # the CRM lists what was deleted since a moment (else: reconcile by ids)
    PER_FIELD_CHANGE_TIME = "per_field_change_time"  # when each field last changed (per-field last writer wins)
    APP_EVENTS = "app_events"  # the CRM posts signed events of every connected account to one app URL
    CHANGE_TRACKING = "change_tracking"  # the CRM's own change tracking: changes and deletions since a token it gave


class Priority(StrEnum):
    """Who is waiting for a provider's calls: every provider accepts `priority=` (`provider_for(connection,
    priority=Priority.INTERACTIVE)`) and may let interactive calls go first when a CRM's allowance runs low."""

    INTERACTIVE = "interactive"  # a person is waiting (a staff member's send, a widget lookup)
    BACKGROUND = "background"  # sync, automation, renewals: can wait


class CanonicalObject(StrEnum):
    """Leadline's names for the objects every CRM has; each provider maps them to its own (`Leads`, `Lead`,
    `contacts` at a lead stage, `lead`: docs/crm.md)."""

    LEAD = "lead"
    CONTACT = "contact"
    ACCOUNT = "account"
    DEAL = "deal"
    TASK = "task"


class FieldType(StrEnum):
    """A field's type, as Leadline reads its values (the vendor's own type stays in FieldSpec.vendor_type)."""

    TEXT = "text"
    NUMBER = "number"  # integers
    DECIMAL = "decimal"
    CURRENCY = "currency"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    PICKLIST = "picklist"
    MULTI_PICKLIST = "multi_picklist"
    LOOKUP = "lookup"  # a reference to another record (lookup_target names its object)
    USER = "user"  # a reference to a CRM user (owners)
    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    JSON = "json"  # anything structured the CRM returns as an object or list


class ChangeOperation(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class FieldSpec:
    """One field of an object: `name` is the vendor's API name, `key` where its value sits in a CanonicalRecord
    (`fields[key]` for standard fields, `custom_fields[name]` for custom ones)."""

    name: str
    type: FieldType
    key: str = ""
    label: str = ""
    custom: bool = False
    required: bool = False
    read_only: bool = False
    unique: bool = False  # usable as an external id for upserts
    lookup_target: str = ""  # the object a LOOKUP points at (canonical name when it has one)
    choices: tuple[str, ...] = ()  # picklist values, as the API takes them (text; a number's digits)
    vendor_type: str = ""
    # A person's word for each of `choices`, in the same order, where the CRM's values are no words (Dataverse's
    # option numbers); empty when the values are their own labels.
    choice_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)


@dataclass(frozen=True)
class ObjectSpec:
    """An object of the CRM: `name` is Leadline's (canonical) name, `vendor_name` the CRM's own."""

    name: str
    vendor_name: str
    fields: tuple[FieldSpec, ...] = ()
    label: str = ""
    name_field: str = ""  # the field that names a record (Full_Name, Name, ...)
    modified_time_field: str = ""

    @property
    def phone_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(spec for spec in self.fields if spec.type == FieldType.PHONE)

    def field(self, name: str) -> FieldSpec:
        """The field by its vendor name or its canonical key; KeyError naming the object when it has none."""
        for spec in self.fields:
            if name in (spec.name, spec.key):
                return spec
        raise KeyError(f"{self.vendor_name} has no field {name!r}")


@dataclass(frozen=True)
class FieldProblem:
    """A value that did not fit its field's type: left out of the record (None) and reported here."""

    field: str
    value: Any
    reason: str


@dataclass(frozen=True)
class CanonicalRecord:
    """A CRM record in Leadline's terms. `phones` maps each phone field that holds a number to it in E.164;
    `fields` holds typed standard fields by canonical key, `custom_fields` custom ones by vendor name; `raw` is
    the record as the CRM sent it (for what the mapping does not cover)."""

    object: str
    id: str
    modified_time: datetime
    name: str = ""
    email: str = ""
    phones: Mapping[str, str] = field(default_factory=dict)
    owner_id: str = ""
    owner_name: str = ""
    created_time: datetime | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[FieldProblem, ...] = ()
    # When each field last changed, by vendor field name, where the CRM says so (Capability.PER_FIELD_CHANGE_TIME);
    # empty otherwise (two-way sync then takes the record's modified time).
    field_times: Mapping[str, datetime] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A field's value by canonical key (standard) or vendor name (custom)."""
        if key in self.fields:
            return self.fields[key]
        return self.custom_fields.get(key, default)


@dataclass(frozen=True)
class Cursor:
    """A position in an object's change order, (modified time, id): the next page holds records modified after
    `modified_time`, or at it with an id after `record_id` (the tie-break: thousands of records can share one
    timestamp, and a page can end inside them). A cursor with no `record_id` includes every record at
    `modified_time`; `overlapped()` steps back to re-read records committed late behind the cursor.
    `token` is a vendor continuation (a delta link, a search `after`) a provider may use instead; None for
    `modified_time` means from the beginning. Stored as JSON (`dumps`/`loads`) in a watermark."""

    modified_time: datetime | None = None
    record_id: str = ""
    token: str = ""

    def __post_init__(self) -> None:
        if self.modified_time is not None and self.modified_time.tzinfo is None:
            raise ValueError("a cursor's modified_time must be timezone-aware")

    @classmethod
    def start(cls) -> Cursor:
        return cls()

    @classmethod
    def after(cls, record: CanonicalRecord) -> Cursor:
        """The position just past a record."""
        return cls(modified_time=record.modified_time, record_id=record.id)

    def overlapped(self, overlap: timedelta) -> Cursor:
        """Step back `overlap` and drop the tie-break: re-reads the window, so records whose change committed
        late, behind the cursor, are not lost (the guarded upsert makes re-reads harmless)."""
        if self.modified_time is None:
            return self
        return Cursor(modified_time=self.modified_time - overlap)

    def dumps(self) -> str:
        moment = self.modified_time.astimezone(UTC).isoformat() if self.modified_time else None
        return json.dumps({"modified_time": moment, "record_id": self.record_id, "token": self.token})

    @classmethod
    def loads(cls, text: str) -> Cursor:
        data = json.loads(text or "{}")
        moment = data.get("modified_time")
        return cls(
            modified_time=datetime.fromisoformat(moment) if moment else None,
            record_id=str(data.get("record_id") or ""),
            token=str(data.get("token") or ""),
        )


@dataclass(frozen=True)
class Page:
    """One page of changed records in (modified time, id) order. `cursor` is the position after the page (store
    it as the watermark once the page is written); `has_more` says whether to ask again from it now."""

    records: tuple[CanonicalRecord, ...]
    cursor: Cursor
    has_more: bool

    @property
    def next_cursor(self) -> Cursor | None:
        return self.cursor if self.has_more else None


class ExportState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class ExportJob:
    """A bulk export of one object (BULK_EXPORT), kept by the caller so a killed first load resumes the same job.
    `requested_at` is when the CRM took the request (records changed after it are the delta sync's);
    `continuation` a vendor token asking for the records after this job's (exports have a size cap)."""

    id: str
    object: str
    state: ExportState
    requested_at: datetime | None = None
    continuation: str = ""
    error: str = ""


@dataclass(frozen=True)
class DeletedRecord:
    id: str
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class TrackedPage:
    """One page of a CRM's own change tracking (CHANGE_TRACKING): records created or changed, records deleted, and
    the token to go on from. With `has_more`, `token` is the next page's (a paging link: store it as the run's
    checkpoint); without, it is the token of the next run (a delta link: store it once the page is written).
    `full`: the page belongs to a full read (one started from no token), after which the caller reconciles ids:
    what the full read did not return is gone."""

    records: tuple[CanonicalRecord, ...]
    deleted: tuple[DeletedRecord, ...]
    token: str
    has_more: bool
    full: bool = False


@dataclass(frozen=True)
class Activity:
    """A finished interaction to show on a record's timeline (a text sent or received), logged by
    `log_activities` as the CRM's completed activity (e.g. a completed task, a logged communication)."""

    key: str  # Leadline's unique key for it (a message's id): where the CRM upserts by it, a retry logs nothing new
    object: str  # the canonical object of the record (lead, contact)
    record_id: str
    subject: str
    description: str = ""
    occurred_at: datetime | None = None
    owner_id: str = ""  # "" = the connection's user
    activity_type: str = ""  # the CRM's type of activity (e.g. a task's type picklist value); "" = its default


@dataclass(frozen=True)
class ActivityLogged:
    """What became of one Activity: the CRM's id for it, or the refusal (`error`, a crm.errors.CrmRejected) that
    concerns this one only (the others of the batch still landed)."""

    key: str
    activity_id: str = ""
    error: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class WriteResult:
    """What became of one record of a many-record write (`upsert_many`, `update_many`): the record's id and whether
    the write created it, or the refusal (`error`, a crm.errors.CrmRejected) that concerns this record only (the
    others of the call still landed)."""

    record_id: str = ""
    created: bool = False
    error: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class AppEvent:
    """One verified event of a CRM's app-level webhook (APP_EVENTS): the CRM posts every connected account's changes
    to one URL, so each event names its account (`org_id`, the CRM's org id a connection holds). `ours` is True when
    the CRM says the change was made by Leadline's own app (never a reason to start automation); `event_id` is
    unique per event and the same on every re-delivery of it."""

    event_id: str
    org_id: str
    object: str  # canonical name when the object has one, else the CRM's name
    operation: ChangeOperation
    record_id: str
    occurred_at: datetime | None = None
    ours: bool = False
    property_name: str = ""  # for a change of one property: its name and new value (as text)
    property_value: str = ""
    attempt: int = 0  # the CRM's delivery attempt number (0 = first)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Identity:
    """Who a connection belongs to: the CRM org (tenant, portal, environment) and the user who consented."""

    org_id: str
    org_name: str = ""
    user_id: str = ""
    user_email: str = ""
    user_name: str = ""
    user_active: bool = True  # False: the CRM says this user is deactivated (a sign-in is refused)


@dataclass(frozen=True)
class SignIn:
    """A finished sign-in through a CRM (SIGN_IN): who the CRM says is at the keyboard, and what the start asked
    for (`mode`: "page" ends in a cookie session, "widget" in a token handed to the widget)."""

    identity: Identity
    mode: str = "page"


@dataclass(frozen=True)
class Embed:
    """How the widget runs inside the CRM's own pages: the CRM's script for embedded apps (`sdk_url`, loaded from
    the CRM's origin), our glue that reads the open record from it (`script`, a static path that calls
    `window.leadline.openRecord({object, id})`), and the CRM's web origins that may frame the widget."""

    script: str
    sdk_url: str = ""
    frame_ancestors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subscription:
    """A change-feed subscription: `id` is ours or the vendor's, `secret` what a genuine notification carries
    (an echoed token, a signing key)."""

    id: str
    objects: tuple[str, ...]
    notify_url: str
    secret: str = field(repr=False, default="")
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ChangeNotification:
    """What a verified notification says changed: ids of one object, and when the CRM says it happened."""

    object: str
    operation: ChangeOperation
    ids: tuple[str, ...]
    occurred_at: datetime | None = None
    subscription_id: str = ""
