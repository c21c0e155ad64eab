"""The CRM provider interface: what Leadline asks of any CRM, for one connection.

    provider = provider_for(connection)              # crm.registry
    page = provider.changed_since(object="lead", cursor=Cursor.start(), page_size=500)
    while page.has_more:
        page = provider.changed_since(object="lead", cursor=page.cursor, page_size=500)

A provider is bound to one connection (an organization's link to one CRM org), so no method takes tenant or
credentials. Every method is keyword-only and raises only `crm.errors` types; the vendor's own retries (backoff on
429 and 5xx, token refresh on 401) happen inside, and what still fails comes out typed. Objects are named by
Leadline's canonical names (`CanonicalObject`: lead, contact, account, deal, task); a provider maps them to its
CRM's own, and may accept the CRM's name of a custom object as is.

Groups:
- connection: `authorize_url`, `finish_connect`, `disconnect`, `identity`
- schema: `objects`, `object_spec`
- reads: `record`, `records` (many ids), `changed_since` (pages), `deleted_since`, `all_ids`, `records_by_phone`
- change tracking (Capability.CHANGE_TRACKING): `change_tracked`, `tracked_changes` (changes and deletions since
  a token the CRM gave, e.g. a delta link)
- mapping: `to_canonical`
- writes: `create_task`, `update_fields`, `create_record`, `upsert`, `delete_record`, `log_activities`
  (ACTIVITY_LOGGING); many records per call: `upsert_many`, `update_many` (two-way sync)
- our own changes: `changed_by_us` (the CRM's source tag on a record: did Leadline's app make its last change?)
- links: `record_url` (a record's page in the CRM, for a person)
- bulk export (Capability.BULK_EXPORT): `export_start`, `export_status`, `export_records`
- change feed (Capability.CHANGE_FEED): `subscribe`, `renew`, `unsubscribe`, `parse_notification`
- sign-in (Capability.SIGN_IN), class methods (no connection yet): `sign_in_url`, `sign_in_finish`,
  `connection_for_identity`
- app events (Capability.APP_EVENTS), a class method (one URL for every connected account): `app_events_parse`;
  `connection_for_identity` finds each event's connection
- leads: `not_a_lead_reason` (when the CRM's lead object also holds records that are no leads)
- embedding: `embed` (the widget inside the CRM's pages), None when the CRM has no embedded apps

Optional abilities are declared in `capabilities`; a method needing one the provider does not declare raises
NotImplementedError (callers ask `supports()` first). docs/crm.md says how to add a CRM.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from crm.errors import CrmNotFound, CrmRejected
from crm.records import (
    Activity,
    ActivityLogged,
    AppEvent,
    CanonicalObject,
    CanonicalRecord,
    Capability,
    ChangeNotification,
    Cursor,
    DeletedRecord,
    Embed,
    ExportJob,
    Identity,
    ObjectSpec,
    Page,
    SignIn,
    Subscription,
    TrackedPage,
    WriteResult,
)

__all__ = ["CrmProvider"]


class CrmProvider(abc.ABC):
    """One CRM, bound to one connection. Subclasses set `kind` (set by @register), `label`, `capabilities` and
    `object_names`, and implement the abstract methods."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Canonical object name -> the CRM's own name for it.
    object_names: ClassVar[Mapping[str, str]] = {}
    # The connection kinds (e.g. ProviderAccount.kind values) this provider serves, besides its own `kind`.
    connection_kinds: ClassVar[tuple[str, ...]] = ()
    # Whose account a person signs in with ("Sign in with <this>"), when not the CRM's own name (the label).
    sign_in_label: ClassVar[str] = ""
    # The widget inside the CRM's own pages (its SDK, our glue script, who may frame it); None: not embeddable.
    embed: ClassVar[Embed | None] = None
    # The API name of the boolean opt-out field our install guide has customers create on leads and contacts: an
    # organization that never saved messaging settings writes opt-outs there ("" = none).
    opt_out_field: ClassVar[str] = ""

    def __init__(self, connection: Any, **options: Any) -> None:
        self.connection = connection

    @classmethod
    def connection_opt_out_field(cls, connection: Any) -> str:
        """The opt-out field set on this connection itself (a per-connection setting of the CRM's package), ""
        when it sets none: the organization's messaging settings decide then, and `opt_out_field` before those."""
        return ""

    @classmethod
    def crm_user_id_clean(cls, value: str) -> str:
        """A CRM user id in the one form this CRM's API and sign-in give it (e.g. the 18-character form of an id
        typed in 15 from a URL); ValueError saying why `value` is not one. Members' ids are stored in this
        form, so sign-in and owner lookups find them however a manager typed them."""
        return (value or "").strip()

    # --- capabilities and names ---------------------------------------------------------------------------------
    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise NotImplementedError(f"{self.kind or type(self).__name__} does not support {capability.value}")

    def vendor_object(self, object: str) -> str:
        """The CRM's name for a canonical object; ValueError for a name this CRM does not have."""
        try:
            return self.object_names[CanonicalObject(object)]
        except (ValueError, KeyError):
            raise ValueError(
                f"{self.kind}: unknown object {object!r}; use one of {sorted(self.object_names)}"
            ) from None

    def canonical_object(self, vendor_name: str) -> str:
        """Leadline's name for a CRM object name (the CRM's own when it has no canonical name)."""
        for canonical, name in self.object_names.items():
            if name == vendor_name:
                return str(canonical)
        return vendor_name

    # --- connection -----------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        """Where to send the person to consent; remembers what the callback must prove in `session`."""

    @abc.abstractmethod
    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        """Complete the consent from the callback's query parameters: exchange the code, store the credentials,
        and return who connected which CRM org. CrmAuthError when the CRM refused or the callback is not ours."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Revoke the grant at the CRM (best effort) and forget the credentials here in any case."""

    @abc.abstractmethod
    def identity(self) -> Identity:
        """The CRM org and user behind the connection, asked of the CRM now (proves the credentials work)."""

    # --- schema ---------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def objects(self) -> list[ObjectSpec]:
        """The objects Leadline can use (canonical ones first), without their fields."""

    @abc.abstractmethod
    def object_spec(self, *, object: str) -> ObjectSpec:
        """An object with its fields typed (phone fields FieldType.PHONE)."""

    # --- reads ----------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        """One record; CrmNotFound when the CRM has no such record."""

    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        """The records among `record_ids` the CRM has (the others are left out: deleted or merged), in any order.
        This default asks `record` once per id; a provider whose CRM reads many ids in one call overrides it."""
        found = []
        for record_id in dict.fromkeys(record_ids):
            try:
                found.append(self.record(object=object, record_id=record_id))
            except CrmNotFound:
                continue
        return found

    @abc.abstractmethod
    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        """Records modified after `cursor` in (modified time, id) order, one page: ties at a page boundary are
        neither lost nor repeated, and a record edited while paging moves behind the cursor and comes again."""

    @abc.abstractmethod
    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        """Records deleted after `since` (all the CRM still lists when None). Needs DELETED_RECORDS; without it,
        deletions are found by `all_ids` reconciliation. CrmHistoryExpired when the CRM's log no longer reaches
        back to `since` (deletions may have been missed: the caller reconciles by ids)."""

    @abc.abstractmethod
    def all_ids(self, *, object: str) -> Iterator[str]:
        """The id of every live record of an object, for reconciliation."""

    @abc.abstractmethod
    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        """Records with `phone` (E.164) in any of their phone fields, however the CRM stores it; ValueError for a
        `phone` that is not a number in E.164."""

    # --- change tracking (CHANGE_TRACKING) ---------------------------------------------------------------------------
    def change_tracked(self, *, object: str) -> bool:
        """Whether the CRM tracks changes of this object for us (else the mirror reads `changed_since` and reconciles
        ids for deletions). A CRM may track some tables and not others; the answer may come from the CRM's metadata."""
        return False

    def tracked_changes(self, *, object: str, token: str, page_size: int = 5000) -> TrackedPage:
        """One page of changes since `token` (a token from an earlier page); "" starts a full read of every record,
        whose last page gives the first delta token. CrmHistoryExpired when the CRM no longer holds the changes
        since `token` (the caller starts a full read and reconciles ids, so nothing is lost or doubled)."""
        self.require(Capability.CHANGE_TRACKING)
        raise NotImplementedError

    # --- mapping --------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        """A record in the CRM's own shape, in Leadline's terms (typed fields, E.164 phones, owner, times)."""

    # --- writes ---------------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_task(
        self,
        *,
        object: str,
        record_id: str,
        owner_id: str,
        subject: str,
        due_date: date | None = None,
        description: str = "",
    ) -> str:
        """A task for `owner_id` on a record (e.g. follow up a new lead); returns its id. ACTIVITY_LOGGING. An
        empty `record_id` makes a task on no record (e.g. a reply no lead matched), an empty `owner_id` one owned by
        the connection's user."""

    # Values written (update_fields, create_record, upsert and their many-record forms) are keyed by the vendor's
    # field name and given as Leadline reads them (crm.records.FieldType): str for text, phone, e-mail, URL and
    # single picklists (the API's value, `FieldSpec.choices`), int, Decimal, bool, date, aware datetime, a list of
    # str for multi-picklists, a record id for lookups and a user id for owners; None clears the field. The provider
    # writes each in its CRM's own format, so a value written and read back (`record`) is the value given.
    @abc.abstractmethod
    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Set fields (by vendor name) on a record without firing the CRM's own automation where it allows."""

    @abc.abstractmethod
    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        """A new record; returns its id."""

    def upsert(self, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        """Create or update the record whose unique `external_id_field` has the value in `values`; returns
        (id, created). UPSERT_BY_EXTERNAL_ID: retries never duplicate a record."""
        self.require(Capability.UPSERT_BY_EXTERNAL_ID)
        raise NotImplementedError

    # How many records `upsert_many` and `update_many` send per call to the CRM (its batch size).
    max_writes_per_call: ClassVar[int] = 1

    def upsert_many(
        self, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """`upsert` for many records, in as few calls as the CRM allows (`max_writes_per_call` each). One result per
        row, in order: a refusal of one row (a validation rule, a duplicate rule, a missing required field) is that
        result's CrmRejected and the others still land; what stops the whole call (auth, CRM down, allowance used
        up) is raised. This default upserts one row per call."""
        self.require(Capability.UPSERT_BY_EXTERNAL_ID)
        results = []
        for values in rows:
            try:
                record_id, created = self.upsert(object=object, external_id_field=external_id_field, values=values)
            except CrmRejected as exc:
                results.append(WriteResult(error=exc))
            else:
                results.append(WriteResult(record_id=record_id, created=created))
        return results

    def update_many(self, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
        """`update_fields` for many records ((record id, values) each), in as few calls as the CRM allows. One result
        per update, in order, as `upsert_many`'s (a record deleted meanwhile: that result's CrmNotFound). This
        default updates one record per call."""
        results = []
        for record_id, values in updates:
            try:
                self.update_fields(object=object, record_id=record_id, values=values)
            except CrmRejected as exc:
                results.append(WriteResult(record_id=record_id, error=exc))
            else:
                results.append(WriteResult(record_id=record_id))
        return results

    def delete_record(self, *, object: str, record_id: str) -> bool:
        """Delete a record (to the CRM's recycle bin where it has one); False when the CRM had no such record
        (deleted already: a retried delete is no error)."""
        raise NotImplementedError(f"{self.kind or type(self).__name__} cannot delete records")

    # --- our own changes --------------------------------------------------------------------------------------------
    def changed_by_us(self, *, record: CanonicalRecord) -> bool | None:
        """Whether the CRM says the record's last change was made by Leadline's own app (its integration user, a
        source tag the CRM keeps on the record), from the record as read (no call to the CRM); None when the CRM
        does not say. Two-way sync uses it to know its own writes coming back, beside what it remembers writing."""
        return None

    def log_activities(self, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
        """Completed activities (texts sent and received) on records' timelines, in as few calls as the CRM allows
        (`max_activities_per_call` each). One result per activity, in order: a refusal of one (a deleted record, a
        missing field) is that result's CrmRejected and the others still land; what stops the whole batch (auth,
        CRM down, allowance used up) is raised. ACTIVITY_LOGGING."""
        self.require(Capability.ACTIVITY_LOGGING)
        raise NotImplementedError

    max_activities_per_call: ClassVar[int] = 1

    # --- leads --------------------------------------------------------------------------------------------------
    def not_a_lead_reason(self, *, record: CanonicalRecord) -> str:
        """Why a record of the canonical lead object is not a lead lead automation should act on ("" when it is one).
        A CRM whose leads are a kind of contact (a lifecycle stage) says so per connection; the default takes
        every lead as one."""
        return ""

    # --- links ----------------------------------------------------------------------------------------------------
    def record_url(self, *, object: str, record_id: str) -> str:
        """The record's page in the CRM's own web app, for a person (the widget links to it); "" when the provider
        cannot say (no call to the CRM is made)."""
        return ""

    # --- bulk export (BULK_EXPORT) ---------------------------------------------------------------------------------
    def export_start(self, *, object: str, after: ExportJob | None = None) -> ExportJob:
        """Ask the CRM for an export of every record of an object (`after`: the records past a finished job's,
        when the CRM caps an export's size)."""
        self.require(Capability.BULK_EXPORT)
        raise NotImplementedError

    def export_status(self, *, job: ExportJob) -> ExportJob:
        self.require(Capability.BULK_EXPORT)
        raise NotImplementedError

    def export_records(self, *, job: ExportJob, skip: int = 0) -> Iterator[CanonicalRecord]:
        """A completed job's records, streamed (never all in memory), the first `skip` left out (a resume)."""
        self.require(Capability.BULK_EXPORT)
        raise NotImplementedError

    # --- change feed (CHANGE_FEED) --------------------------------------------------------------------------------
    def subscribe(self, *, subscription: Subscription) -> Subscription:
        """Ask the CRM to notify `notify_url` of changes to the objects; returns it with the expiry granted."""
        self.require(Capability.CHANGE_FEED)
        raise NotImplementedError

    def renew(self, *, subscription: Subscription) -> Subscription:
        """Push a live subscription's expiry out; CrmNotFound when it lapsed (subscribe again)."""
        self.require(Capability.CHANGE_FEED)
        raise NotImplementedError

    def unsubscribe(self, *, subscription: Subscription) -> None:
        self.require(Capability.CHANGE_FEED)
        raise NotImplementedError

    def parse_notification(
        self, *, subscription: Subscription, body: bytes, headers: Mapping[str, str]
    ) -> list[ChangeNotification]:
        """Verify a notification against the subscription it claims (token, signature) and say what changed;
        CrmNotificationInvalid when it does not verify or parse."""
        self.require(Capability.CHANGE_FEED)
        raise NotImplementedError

    # --- sign-in (SIGN_IN) ----------------------------------------------------------------------------------------
    # Class methods: a person signing in has no connection yet; the CRM org they consent in names it.
    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        """The CRM's consent URL that identifies the person (the narrowest scopes, no lasting grant). What the
        callback must prove goes into `session` (a mapping: the view may keep it in a signed cookie, so an
        anonymous start writes no session row); `mode` comes back in `sign_in_finish`'s result; `redirect_uri`:
        the provider's configured one when None. CrmAuthError when sign-in is not configured."""
        raise NotImplementedError(f"{cls.kind or cls.__name__} does not support {Capability.SIGN_IN.value}")

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        """The callback's query parameters: check the state is this browser's (single use), exchange the code, ask
        the CRM who this is and in which org, and keep nothing. CrmAuthError (a person-readable message, `code`
        a stable reason) when refused; CrmUnavailable when the CRM did not answer."""
        raise NotImplementedError(f"{cls.kind or cls.__name__} does not support {Capability.SIGN_IN.value}")

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> Any | None:
        """The connection holding the identity's CRM org, if exactly one active organization holds it (None
        otherwise: not connected, or claimed twice, which an operator must settle)."""
        raise NotImplementedError(f"{cls.kind or cls.__name__} does not support {Capability.SIGN_IN.value}")

    # --- app events (APP_EVENTS) ---------------------------------------------------------------------------------
    @classmethod
    def app_events_parse(cls, *, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> list[AppEvent]:
        """Verify an app-level webhook delivery (its signature, its age) and say what each event in it is about.
        `url` is the full URL the CRM called (the product's public base URL and the path with its query).
        CrmNotificationInvalid (status 401) when it does not verify, (400) when it verifies but cannot be read."""
        raise NotImplementedError(f"{cls.kind or cls.__name__} does not support {Capability.APP_EVENTS.value}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.connection!r}>"
