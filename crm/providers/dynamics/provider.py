"""Dynamics 365 / Dataverse behind the CrmProvider interface, over the package's own modules:

| interface | delegates to |
|---|---|
| `authorize_url`, `finish_connect`, `disconnect` | oauth.py (admin consent, WhoAmI, the connection's writes) |
| `identity` | the client's WhoAmI, the organization's and the user's rows |
| `sign_in_url`, `sign_in_finish`, `connection_for_identity` | sign_in.py (Sign in with Microsoft) |
| `app_events_parse` | app_events.py (a webhook step's execution context, its auth header checked) |
| `objects`, `object_spec` | table metadata (EntityDefinitions, Attributes, picklists), typed by schema.py |
| `record`, `records`, `changed_since`, `all_ids`, `records_by_phone`, `tracked_changes` | reads.py |
| `to_canonical` | mapping.py |
| `create_task`, `update_fields`, `create_record`, `upsert` | writes.py |
| `upsert_many`, `update_many`, `delete_record`, `changed_by_us` | many.py ($batch of 100, the modifiedby tag) |
| `log_activities` | activities.py (tasks or the connection's SMS activity table, in $batch calls) |

The connection is the `studios.models.ProviderAccount` of kind `dynamics` (accounts_url: Entra's login host,
api_domain: the environment URL), its state on `DynamicsConnection` (models.py): `provider_for(account)` gives a
DynamicsProvider. Every Dataverse error is translated to `crm.errors` at this boundary (errors.translate). The
other modules of the package are imported inside the methods that use them, so one missing module breaks only its
own methods.

Objects: lead -> lead, contact -> contact, account -> account, deal -> opportunity, task -> task (logical names;
entity sets from metadata). A table's own logical name (custom ones carry a publisher prefix: lh_sms) is accepted
as is. Record ids are GUIDs, lower-case. Members' CRM user ids are systemuserids (`_ownerid_value` on rows).

Change tracking (Capability.CHANGE_TRACKING): `change_tracked` says whether the table has it on (its definition's
ChangeTrackingEnabled, kept with the metadata for five minutes); `tracked_changes` reads pages and delta links, the
deleted rows as DeletedRecords; an expired version stamp is CrmHistoryExpired.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError

from core.phone import normalize_e164
from crm.errors import CrmNotFound, CrmRejected
from crm.provider import CrmProvider
from crm.providers.dynamics.mapping import record_map
from crm.providers.dynamics.reads import Reads, guid
from crm.providers.dynamics.schema import TableSchema, schema_read
from crm.records import (
    Activity,
    ActivityLogged,
    AppEvent,
    CanonicalObject,
    CanonicalRecord,
    Capability,
    Cursor,
    DeletedRecord,
    Embed,
    Identity,
    ObjectSpec,
    Page,
    Priority,
    SignIn,
    TrackedPage,
    WriteResult,
)
from crm.registry import register

PROVIDER = "dynamics"
LOGICAL_NAME = re.compile(r"^[a-z][a-z0-9]*_[a-z0-9_]+$")  # a custom table: publisher prefix, underscore, name
LABELS = {
    "lead": "Leads",
    "contact": "Contacts",
    "account": "Accounts",
    "opportunity": "Opportunities",
    "task": "Tasks",
}


def translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Dataverse's errors out of a provider method as crm.errors (generators: while iterated)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        from crm.providers.dynamics import errors

        return errors.translated(method)(self, *args, **kwargs)

    return call


def _translated_call(function: Callable[..., Any], **kwargs: Any) -> Any:
    from crm.providers.dynamics import errors

    try:
        return function(**kwargs)
    except errors.DataverseError as exc:
        raise errors.translate(exc) from exc


def _embed() -> Embed | None:
    try:
        from crm.providers.dynamics.embed import DYNAMICS_EMBED
    except ImportError:
        return None
    return DYNAMICS_EMBED


class _EmbedDescriptor:
    """The widget's embedding (embed.py), read when asked: the module is another part of the package."""

    def __get__(self, instance: Any, owner: Any) -> Embed | None:
        return _embed()


@register(PROVIDER)
class DynamicsProvider(CrmProvider):
    """Dynamics 365 for one ProviderAccount of kind dynamics. Options: `priority` (background by default, interactive
    when a person waits), `sleep` (the client's waits, injectable for tests)."""

    label = "Microsoft Dynamics 365"
    sign_in_label = "Microsoft"  # people sign in with their work account, not a Dynamics one
    capabilities = frozenset(
        {
            Capability.SIGN_IN,
            Capability.ACTIVITY_LOGGING,
            Capability.UPSERT_BY_EXTERNAL_ID,
            Capability.CHANGE_TRACKING,
            Capability.APP_EVENTS,
        }
    )
    object_names: ClassVar[Mapping[str, str]] = {
        CanonicalObject.LEAD: "lead",
        CanonicalObject.CONTACT: "contact",
        CanonicalObject.ACCOUNT: "account",
        CanonicalObject.DEAL: "opportunity",
        CanonicalObject.TASK: "task",
    }
    max_activities_per_call: ClassVar[int] = 100  # one $batch (conf ACTIVITY_BATCH_SIZE's default)
    max_writes_per_call: ClassVar[int] = 100  # one $batch (many.MAX_PER_CALL)
    embed = _EmbedDescriptor()  # type: ignore[assignment]

    def __init__(
        self,
        connection: Any,
        *,
        priority: str = Priority.BACKGROUND,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        super().__init__(connection)
        if getattr(connection, "kind", None) != PROVIDER:
            raise ValueError(f"{connection!r} is not a Dynamics 365 account")
        self.account = connection
        self.priority = Priority(priority)
        self.sleep = sleep
        self._client: Any = None
        self._schemas: dict[str, TableSchema] = {}

    # --- the client (client.py) ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from crm.providers.dynamics.client import DataverseClient

            self._client = DataverseClient(self.account, priority=self.priority, sleep=self.sleep)
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value

    @property
    def credits_used(self) -> int:
        """The Web API requests this provider made (a sync run records them)."""
        return int(getattr(self._client, "calls", 0) or 0)

    def dynamics_connection(self) -> Any | None:
        """The account's DynamicsConnection (None before one was made)."""
        try:
            return self.account.dynamics_connection
        except (AttributeError, ObjectDoesNotExist):
            return None

    # --- names ---------------------------------------------------------------------------------------------------
    def vendor_object(self, object: str) -> str:
        """Canonical names map to logical names; Dataverse's own (lead, opportunity, lh_sms) are kept."""
        name = str(object)
        if name in set(self.object_names.values()) or LOGICAL_NAME.match(name):
            return name
        return super().vendor_object(name)

    @classmethod
    def crm_user_id_clean(cls, value: str) -> str:
        """A systemuserid: a GUID, lower-case (as `_ownerid_value` carries it), braces and case as typed dropped."""
        text = (value or "").strip()
        if not text:
            return ""
        clean = guid(text)
        if not clean:
            raise ValueError(f"{value!r} is not a Dynamics 365 user id (a GUID, as systemuserid holds it)")
        return clean

    @classmethod
    def connection_opt_out_field(cls, connection: Any) -> str:
        """The connection's opt-out column (DynamicsConnection.opt_out_column), "" when it names none."""
        from crm.providers.dynamics import writes

        return writes.opt_out_column(connection)

    # --- connection (oauth.py) -------------------------------------------------------------------------------
    @translated
    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        from crm.providers.dynamics import oauth

        return oauth.authorize_url(self, session=session, options=options or {})

    @translated
    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        from crm.providers.dynamics import oauth

        self._client = None  # a new consent: tokens from scratch
        return oauth.connect_finish(self, params=params, session=session, connected_by=connected_by)

    @translated
    def disconnect(self) -> None:
        from crm.providers.dynamics import oauth

        oauth.disconnect(self)
        self._client = None

    @translated
    def identity(self) -> Identity:
        """WhoAmI's organization and user (the application user the connection runs as), named by the
        organization's and the user's rows where the environment lets the app read them."""
        who = self.client.whoami() or {}
        org_id = guid(who.get("OrganizationId"))
        user_id = guid(who.get("UserId"))
        user = self._row_or_empty(f"systemusers({user_id})", "fullname,internalemailaddress,isdisabled", user_id)
        return Identity(
            org_id=org_id,
            org_name=self._organization_name(org_id),
            user_id=user_id,
            user_email=str(user.get("internalemailaddress") or ""),
            user_name=str(user.get("fullname") or ""),
            user_active=not user.get("isdisabled", False),
        )

    def _organization_name(self, org_id: str) -> str:
        connection = self.dynamics_connection()
        known = str(getattr(connection, "organization_name", "") or "")
        if known or not org_id:
            return known
        return str(self._row_or_empty(f"organizations({org_id})", "name", org_id).get("name") or "")

    def _row_or_empty(self, path: str, select: str, row_id: str) -> dict[str, Any]:
        """A row for naming things: {} when it cannot be read (names are a nicety; WhoAmI proved the access)."""
        from crm.providers.dynamics.errors import DataverseRejected

        if not row_id:
            return {}
        try:
            return dict(self.client.get(path, params={"$select": select}) or {})
        except DataverseRejected:
            return {}

    # --- sign-in (sign_in.py), app events (app_events.py) ----------------------------------------------------------
    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        from crm.providers.dynamics import sign_in

        return _translated_call(sign_in.sign_in_url, session=session, mode=mode, redirect_uri=redirect_uri)

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        from crm.providers.dynamics import sign_in

        return _translated_call(sign_in.sign_in_finish, params=params, session=session)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> Any | None:
        from crm.providers.dynamics import sign_in

        return _translated_call(sign_in.connection_for_identity, identity=identity)

    @classmethod
    def app_events_parse(cls, *, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> list[AppEvent]:
        from crm.providers.dynamics import app_events

        return _translated_call(app_events.app_events_parse, method=method, url=url, body=body, headers=headers)

    # --- schema --------------------------------------------------------------------------------------------------
    @translated
    def objects(self) -> list[ObjectSpec]:
        """The canonical objects (no call: every environment has Dataverse's standard sales tables)."""
        return [
            ObjectSpec(name=str(name), vendor_name=logical, label=LABELS.get(logical, logical))
            for name, logical in self.object_names.items()
        ]

    @translated
    def object_spec(self, *, object: str) -> ObjectSpec:
        return self.schema(object).spec

    def schema(self, object: str) -> TableSchema:
        """The table's schema from its metadata (kept by the provider, and for five minutes in the cache)."""
        logical = self.vendor_object(object)
        name = str(object) if object in self.object_names else self.canonical_object(logical)
        if logical not in self._schemas:
            key = f"dynamics:metadata:{self.account.pk}:{logical}"
            self._schemas[logical] = schema_read(self.client, object=name, logical_name=logical, cache_key=key)
        return self._schemas[logical]

    def _reads(self, object: str) -> Reads:
        return Reads(self.client, self.schema(object))

    # --- change tracking ---------------------------------------------------------------------------------------
    @translated
    def change_tracked(self, *, object: str) -> bool:
        return self.schema(object).change_tracking

    @translated
    def tracked_changes(self, *, object: str, token: str, page_size: int = 5000) -> TrackedPage:
        """One page of the table's change tracking: a full read from "" (its pages' tokens are paging links, the
        last page's the delta link), else the page of a paging or delta link given before."""
        page = self._reads(object).tracked_page(token=token or "", page_size=page_size)
        return TrackedPage(
            records=tuple(map(self._mapper(object), page.rows)),
            deleted=tuple(DeletedRecord(id=record_id) for record_id in page.deleted if record_id),
            token=page.token,
            has_more=page.has_more,
            full=page.full,
        )

    # --- reads ---------------------------------------------------------------------------------------------------
    @translated
    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        from crm.providers.dynamics.errors import DataverseNotFound

        logical = self.vendor_object(object)
        row_id = guid(record_id)
        try:
            row = self._reads(object).row(row_id) if row_id else None
        except DataverseNotFound:
            row = None
        if not row:
            raise CrmNotFound(f"no {logical} record {record_id}", provider=PROVIDER, code="0x80040217", status=404)
        return self._canonical(object, row)

    @translated
    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        """Fifty ids a query (`<id> eq ... or ...`); deleted and unknown ids left out."""
        if not record_ids:
            return []
        return list(map(self._mapper(object), self._reads(object).rows(record_ids)))

    @translated
    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        """One page on (modifiedon, primary id): reads.py says how ties and edits while paging are read."""
        record_id = guid(cursor.record_id)
        page = self._reads(object).changed_page(moment=cursor.modified_time, last_id=record_id, page_size=page_size)
        records = tuple(map(self._mapper(object), page.rows))
        if not records:
            return Page(records=(), cursor=cursor, has_more=False)
        return Page(records=records, cursor=Cursor.after(records[-1]), has_more=page.has_more)

    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        """Dataverse lists deletions through change tracking (tracked_changes) only; tables without it are
        reconciled by all_ids."""
        self.require(Capability.DELETED_RECORDS)
        raise NotImplementedError

    @translated
    def all_ids(self, *, object: str) -> Iterator[str]:
        return self._reads(object).all_ids()

    @translated
    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        """Rows whose phone columns (FormatName Phone) hold the number's last digits, kept to those whose phones
        read as that E.164 number however they were typed."""
        try:
            phone = normalize_e164(phone)
        except ValidationError as exc:
            raise ValueError(f"not a phone number in E.164: {phone!r}") from exc
        import phonenumbers

        national = str(phonenumbers.parse(phone).national_number)
        candidates = map(self._mapper(object), self._reads(object).by_phone_candidates(national))
        return sorted((record for record in candidates if phone in record.phones.values()), key=lambda r: r.id)

    # --- mapping -------------------------------------------------------------------------------------------------
    @translated
    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        return self._canonical(object, record)

    def _canonical(self, object: str, row: Mapping[str, Any]) -> CanonicalRecord:
        return self._mapper(object)(row)

    def _mapper(self, object: str) -> Callable[[Mapping[str, Any]], CanonicalRecord]:
        """The mapping of one table's rows, its schema and phone region looked up once (a page maps thousands)."""
        schema, region = self.schema(object), settings.SYNC_PHONE_DEFAULT_REGION

        def canonical(row: Mapping[str, Any]) -> CanonicalRecord:
            try:
                return record_map(schema=schema, record=row, region=region)
            except (KeyError, ValueError) as exc:  # no id or modifiedon: Dataverse never sends one without
                raise CrmRejected(f"Dataverse sent a row Leadline cannot read: {exc}", provider=PROVIDER) from exc

        return canonical

    # --- writes (writes.py, activities.py) ---------------------------------------------------------------------------
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
        from crm.providers.dynamics import writes

        return writes.task_create(
            self,
            object=object,
            record_id=record_id,
            owner_id=owner_id,
            subject=subject,
            due_date=due_date,
            description=description,
        )

    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        from crm.providers.dynamics import writes

        writes.fields_update(self, object=object, record_id=record_id, values=values)

    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        from crm.providers.dynamics import writes

        return writes.record_create(self, object=object, values=values)

    def upsert(self, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        from crm.providers.dynamics import writes

        return writes.record_upsert(self, object=object, external_id_field=external_id_field, values=values)

    def upsert_many(
        self, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        from crm.providers.dynamics import many

        return many.records_upsert(self, object=object, external_id_field=external_id_field, rows=rows)

    def update_many(self, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
        from crm.providers.dynamics import many

        return many.records_update(self, object=object, updates=updates)

    def delete_record(self, *, object: str, record_id: str) -> bool:
        from crm.providers.dynamics import many

        return many.record_delete(self, object=object, record_id=record_id)

    def changed_by_us(self, *, record: CanonicalRecord) -> bool | None:
        """The row's modifiedby is the connection's application user (many.changed_by)."""
        from crm.providers.dynamics import many

        return many.changed_by(self, record)

    def log_activities(self, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
        from crm.providers.dynamics import activities as timeline

        return timeline.activities_log(self, activities=activities)

    # --- links ---------------------------------------------------------------------------------------------------
    def record_url(self, *, object: str, record_id: str) -> str:
        """The record's form in the environment's model-driven app: {environment}/main.aspx?etn=<table>&id=<guid>
        &pagetype=entityrecord (no call)."""
        row_id = guid(record_id)
        try:
            logical = self.vendor_object(object)
        except ValueError:
            return ""
        base = self._environment_url()
        if not row_id or not base:
            return ""
        return f"{base}/main.aspx?etn={logical}&id={row_id}&pagetype=entityrecord"

    def _environment_url(self) -> str:
        connection = self.dynamics_connection()
        url = str(getattr(connection, "environment_url", "") or getattr(self.account, "api_domain", "") or "")
        return url.rstrip("/")


__all__ = ["PROVIDER", "DynamicsProvider"]
