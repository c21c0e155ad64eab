"""HubSpot behind the CrmProvider interface, over the package's own modules:

| interface | delegates to |
|---|---|
| `authorize_url`, `finish_connect`, `disconnect` | oauth.py (`authorize_url`, `finish_connect`, `disconnect`) |
| `identity` | the client's token info (hub, user) and the owners API (the user's owner id) |
| `sign_in_url`, `sign_in_finish` | sign_in.py |
| `connection_for_identity` | services.connection_for_hub (the portal's hub id) |
| `app_events_parse` | app_events.py (signature v3, the events as AppEvents) |
| `objects`, `object_spec` | the properties API, typed by schema.py (cached per connection) |
| `record`, `records`, `changed_since`, `deleted_since`, `all_ids`, `records_by_phone` | reads.py |
| `to_canonical` | mapping.py |
| `create_task`, `update_fields`, `create_record`, `upsert`, `log_activities` | writes.py |
| `upsert_many`, `update_many`, `delete_record` | batch_writes.py (batch upsert / update, archive) |

The connection is the `studios.models.ProviderAccount` of kind `hubspot` (its OAuth state on `HubSpotConnection`,
models.py): `provider_for(account)` gives a HubSpotProvider. Every HubSpot error is translated to `crm.errors` at
this boundary (`errors.translated`).

Objects: lead and contact -> contacts (Leadline's lead on HubSpot is a contact; which contacts lead automation
acts on is the connection's `lead_lifecycle_stages`: `not_a_lead_reason`), account -> companies, deal -> deals,
task -> tasks. HubSpot's own names (and custom object type ids such as 2-123) are accepted as is. HubSpot's Leads
object (0-136) is not used. Members' CRM user ids are owner ids (`hubspot_owner_id` on records).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, ValidationError

from core.phone import normalize_e164
from crm.errors import CrmNotFound, CrmRejected
from crm.provider import CrmProvider
from crm.providers.hubspot.embed import HUBSPOT_EMBED
from crm.providers.hubspot.errors import (
    PROVIDER,
    HubSpotError,
    HubSpotNotFound,
    translate,
    translated,
)
from crm.providers.hubspot.mapping import record_map
from crm.providers.hubspot.reads import DONE, Reads, association_mode, owner_names, phone_variants, results_of
from crm.providers.hubspot.schema import ObjectSchema, schema_build
from crm.records import (
    Activity,
    ActivityLogged,
    AppEvent,
    CanonicalObject,
    CanonicalRecord,
    Capability,
    Cursor,
    DeletedRecord,
    Identity,
    ObjectSpec,
    Page,
    Priority,
    SignIn,
    WriteResult,
)
from crm.registry import register

PROPERTIES_CACHE_SECONDS = 300  # a property created in HubSpot is seen within five minutes
# HubSpot's object type ids, for record links (…/contacts/<hub>/record/0-1/<id>).
OBJECT_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tasks": "0-27", "notes": "0-46"}
OTHER_OBJECT_TYPES = ("notes", "communications", "calls", "emails", "meetings")
OPT_OUT_PROPERTY = "leadline_sms_opt_out"


@register(PROVIDER)
class HubSpotProvider(CrmProvider):
    """HubSpot for one ProviderAccount of kind hubspot. Options: `priority` (background by default, interactive when
    a person waits: background calls leave part of the rate window to it), `sleep` (the client's backoff,
    injectable for tests), `associations` (how associated ids are read: "property" (True, the default) takes a
    contact's company from its associatedcompanyid, which the search already returns, and reads the rest (a deal's
    contacts and companies) with the associations API; "calls" reads every association with the associations API,
    one call per association type a page, for a portal whose associatedcompanyid is not kept current; False or
    "none" calls for none), `properties` (the property names to read besides those every record needs; all by
    default)."""

    label = "HubSpot"
    opt_out_field = OPT_OUT_PROPERTY  # a custom boolean contact property (docs/crm/hubspot.md)
    capabilities = frozenset(
        {
            Capability.SIGN_IN,
            Capability.ACTIVITY_LOGGING,
            Capability.UPSERT_BY_EXTERNAL_ID,
            Capability.DELETED_RECORDS,
            Capability.APP_EVENTS,
        }
    )
    object_names: ClassVar[Mapping[str, str]] = {
        CanonicalObject.LEAD: "contacts",
        CanonicalObject.CONTACT: "contacts",
        CanonicalObject.ACCOUNT: "companies",
        CanonicalObject.DEAL: "deals",
        CanonicalObject.TASK: "tasks",
    }
    max_activities_per_call: ClassVar[int] = 100  # one batch/create (writes.ACTIVITIES_PER_CALL)
    embed = HUBSPOT_EMBED  # a link from the record opens the widget in its own tab (embed.py)

    def __init__(
        self,
        connection: Any,
        *,
        priority: str = Priority.BACKGROUND,
        sleep: Callable[[float], None] = time.sleep,
        associations: bool | str = True,
        properties: Sequence[str] = (),
        **options: Any,
    ) -> None:
        super().__init__(connection)
        if getattr(connection, "kind", None) != PROVIDER:
            raise ValueError(f"{connection!r} is not a HubSpot account")
        self.account = connection
        self.priority = Priority(priority)
        self.sleep = sleep
        self.associations = association_mode(associations)
        self.chosen_properties = tuple(properties)
        self._client: Any = None
        self._definitions: dict[str, list[dict[str, Any]]] = {}
        self._schemas: dict[tuple[str, str], ObjectSchema] = {}
        self._owners: dict[str, str] | None = None

    # --- the client (client.py) ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            from crm.providers.hubspot.client import client_for

            self._client = client_for(self.account, priority=self.priority, sleep=self.sleep)
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value

    @property
    def credits_used(self) -> int:
        """The API requests this provider made (a sync run records them)."""
        return int(getattr(self._client, "calls", 0) or 0)

    def hubspot_connection(self) -> Any | None:
        """The account's HubSpotConnection (None before one was made)."""
        try:
            return self.account.hubspot_connection
        except (AttributeError, ObjectDoesNotExist):
            return None

    # --- names ---------------------------------------------------------------------------------------------------
    def vendor_object(self, object: str) -> str:
        """Canonical names map to HubSpot's object types; HubSpot's own (contacts, notes, 2-123, p123_studio) are
        kept."""
        name = str(object)
        if name in set(self.object_names.values()) or name in OTHER_OBJECT_TYPES or _custom_type(name):
            return name
        return super().vendor_object(name)

    @classmethod
    def crm_user_id_clean(cls, value: str) -> str:
        """An owner id (digits: the `hubspot_owner_id` records carry)."""
        text = (value or "").strip()
        if text and not text.isdigit():
            raise ValueError(f"{value!r} is not a HubSpot owner id (digits, as hubspot_owner_id holds it)")
        return text

    # --- connection (oauth.py) -------------------------------------------------------------------------------
    @translated
    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        from crm.providers.hubspot import oauth

        return oauth.authorize_url(self.account, session=session, options=options or {})

    @translated
    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        from crm.providers.hubspot import oauth

        return oauth.finish_connect(self.account, params=params, session=session, connected_by=connected_by)

    @translated
    def disconnect(self) -> None:
        from crm.providers.hubspot import oauth

        oauth.disconnect(self.account)

    @translated
    def identity(self) -> Identity:
        """The portal (hub id, domain) and the user behind the token, that user named by their owner id (members
        are matched by it)."""
        info = self.client.token_info()
        user_id = str(info.get("user_id") or info.get("userId") or "")
        owner: Mapping[str, Any] = {}
        if user_id:
            try:
                owner = self.client.owner_by_user_id(user_id) or {}
            except HubSpotNotFound:
                owner = {}  # a user who owns no records yet has no owner id
        name = " ".join(str(owner.get(part) or "") for part in ("firstName", "lastName")).strip()
        return Identity(
            org_id=str(info.get("hub_id") or info.get("hubId") or ""),
            org_name=str(info.get("hub_domain") or info.get("hubDomain") or ""),
            user_id=str(owner.get("id") or ""),
            user_email=str(info.get("user") or owner.get("email") or ""),
            user_name=name,
            user_active=not owner.get("archived", False),
        )

    # --- sign-in (sign_in.py), app events (app_events.py) ----------------------------------------------------------
    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        from crm.providers.hubspot import sign_in

        return _translated_call(sign_in.sign_in_url, session=session, mode=mode, redirect_uri=redirect_uri)

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        from crm.providers.hubspot import sign_in

        return _translated_call(sign_in.sign_in_finish, params=params, session=session)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> Any | None:
        from crm.providers.hubspot import services

        return _translated_call(services.connection_for_hub, hub_id=str(identity.org_id))

    @classmethod
    def app_events_parse(cls, *, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> list[AppEvent]:
        from crm.providers.hubspot import app_events

        return _translated_call(app_events.app_events_parse, method=method, url=url, body=body, headers=headers)

    # --- schema --------------------------------------------------------------------------------------------------
    @translated
    def objects(self) -> list[ObjectSpec]:
        """The canonical objects (no call: HubSpot's standard object types are always there)."""
        labels = {"contacts": "Contacts", "companies": "Companies", "deals": "Deals", "tasks": "Tasks"}
        return [
            ObjectSpec(name=str(name), vendor_name=object_type, label=labels.get(object_type, object_type))
            for name, object_type in self.object_names.items()
        ]

    @translated
    def object_spec(self, *, object: str) -> ObjectSpec:
        return self.schema(object).spec

    def schema(self, object: str) -> ObjectSchema:
        """The object's schema from the properties API (kept by the provider, and for five minutes in the cache)."""
        object_type = self.vendor_object(object)
        name = object if object in self.object_names else self.canonical_object(object_type)
        key = (str(name), object_type)
        if key not in self._schemas:
            self._schemas[key] = schema_build(
                object=str(name), object_type=object_type, definitions=self._properties(object_type)
            )
        return self._schemas[key]

    def _properties(self, object_type: str) -> list[dict[str, Any]]:
        if object_type not in self._definitions:
            key = f"hubspot:properties:{self.account.pk}:{object_type}"
            definitions = cache.get(key)
            if definitions is None:
                definitions = results_of(self.client.properties(object_type))
                cache.set(key, definitions, PROPERTIES_CACHE_SECONDS)
            self._definitions[object_type] = definitions
        return self._definitions[object_type]

    def _reads(self, object: str) -> Reads:
        return Reads(
            self.client, self.schema(object), associations=self.associations, properties=self.chosen_properties
        )

    # --- reads ---------------------------------------------------------------------------------------------------
    @translated
    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        object_type = self.vendor_object(object)
        rows = self._reads(object).records([record_id]) if str(record_id).isdigit() else []
        if not rows:
            raise CrmNotFound(
                f"no {object_type} record {record_id}", provider=PROVIDER, code="OBJECT_NOT_FOUND", status=404
            )
        return self._canonical(object, rows[0])

    @translated
    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        """batch/read of 100 ids a call (every property in the POST body); archived and unknown ids left out."""
        if not record_ids:
            return []
        return list(map(self._mapper(object), self._reads(object).records(record_ids)))

    @translated
    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        """One search page on (modified time, hs_object_id): reads.py says how ties and the 10,000 cap are read."""
        record_id = cursor.record_id if cursor.record_id.isdigit() else ""
        page = self._reads(object).changed_page(
            moment=cursor.modified_time,
            last_id=record_id,
            done=cursor.token == DONE and bool(record_id),
            page_size=page_size,
        )
        records = tuple(map(self._mapper(object), page.rows))
        if page.last is None:
            return Page(records=records, cursor=cursor, has_more=False)
        after = Cursor(modified_time=page.last[0], record_id=page.last[1], token=DONE if page.done else "")
        return Page(records=records, cursor=after, has_more=page.has_more)

    @translated
    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        return self._reads(object).deleted(since=since)

    @translated
    def all_ids(self, *, object: str) -> Iterator[str]:
        return self._reads(object).all_ids()

    @translated
    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        """A search over every phone property (the properties API's phonenumber ones and phone, mobilephone) for
        the number in the formats people type it, kept to the records whose phones read as that E.164 number."""
        try:
            phone = normalize_e164(phone)
        except ValidationError as exc:
            raise ValueError(f"not a phone number in E.164: {phone!r}") from exc
        reads = self._reads(object)
        if not reads.schema.phone_properties:
            return []
        found = list(map(self._mapper(object), reads.by_phone_candidates(phone_variants(phone))))
        return sorted((record for record in found if phone in record.phones.values()), key=lambda r: int(r.id))

    # --- mapping -------------------------------------------------------------------------------------------------
    @translated
    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        return self._canonical(object, record)

    def _canonical(self, object: str, row: Mapping[str, Any]) -> CanonicalRecord:
        return self._mapper(object)(row)

    def _mapper(self, object: str) -> Callable[[Mapping[str, Any]], CanonicalRecord]:
        """The mapping of one object's records, its schema, phone region and owner names looked up once (a page maps
        hundreds of records)."""
        schema, region, owner_name = self.schema(object), settings.SYNC_PHONE_DEFAULT_REGION, self._owner_name

        def canonical(row: Mapping[str, Any]) -> CanonicalRecord:
            try:
                return record_map(schema=schema, record=row, region=region, owner_name=owner_name)
            except (KeyError, ValueError) as exc:  # no id or modified time: HubSpot never sends one
                raise CrmRejected(f"HubSpot sent a record Leadline cannot read: {exc}", provider=PROVIDER) from exc

        return canonical

    def _owner_name(self, owner_id: str) -> str:
        return (self._owners if self._owners is not None else self._owner_names()).get(owner_id, "")

    def _owner_names(self) -> dict[str, str]:
        """Owner id -> name, from the owners API (kept by the provider, and for five minutes in the cache). Names are
        a nicety: an owner HubSpot does not list, or an app without the owners scope, leaves them out."""
        if self._owners is None:
            key = f"hubspot:owners:{self.account.pk}"
            names = cache.get(key)
            if names is None:
                names = owner_names(self.client)
                cache.set(key, names, PROPERTIES_CACHE_SECONDS)
            self._owners = names
        return self._owners

    # --- writes (writes.py) ----------------------------------------------------------------------------------------
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
        from crm.providers.hubspot import writes

        return writes.create_task(
            self,
            object=object,
            record_id=record_id,
            owner_id=owner_id,
            subject=subject,
            due_date=due_date,
            description=description,
        )

    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        from crm.providers.hubspot import writes

        writes.update_fields(self, object=object, record_id=record_id, values=values)

    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        from crm.providers.hubspot import writes

        return writes.create_record(self, object=object, values=values)

    def upsert(self, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        from crm.providers.hubspot import writes

        return writes.upsert(self, object=object, external_id_field=external_id_field, values=values)

    # One batch/upsert or batch/update call carries up to 100 inputs (batch_writes.py).
    max_writes_per_call: ClassVar[int] = 100

    def upsert_many(
        self, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        from crm.providers.hubspot import batch_writes

        return batch_writes.upsert_many(self, object=object, external_id_field=external_id_field, rows=rows)

    def update_many(self, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
        from crm.providers.hubspot import batch_writes

        return batch_writes.update_many(self, object=object, updates=updates)

    def delete_record(self, *, object: str, record_id: str) -> bool:
        from crm.providers.hubspot import batch_writes

        return batch_writes.delete_record(self, object=object, record_id=record_id)

    def changed_by_us(self, *, record: CanonicalRecord) -> bool | None:
        """None: a record as read does not say who made its last change (docs/crm/hubspot.md, "Who changed it")."""
        return None

    def log_activities(self, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
        from crm.providers.hubspot import activities as timeline

        return timeline.log_activities(self, activities=activities)

    # --- leads ---------------------------------------------------------------------------------------------------
    def not_a_lead_reason(self, *, record: CanonicalRecord) -> str:
        """ "" when the contact's lifecycle stage is one of the connection's lead stages, or it has none, or the
        connection counts every contact (no stages); else why it is not a lead."""
        connection = self.hubspot_connection()
        if connection is not None:
            stages = tuple(connection.lead_stages())
        else:
            from crm.providers.hubspot.models import DEFAULT_LEAD_LIFECYCLE_STAGES

            stages = tuple(stage for stage in DEFAULT_LEAD_LIFECYCLE_STAGES.split(",") if stage)
        stage = str(record.get("lifecycle_stage") or record.raw.get("lifecyclestage") or "").strip().lower()
        if not stages or not stage or stage in stages:
            return ""
        return f"lifecycle stage {stage} is not one of the lead stages ({', '.join(stages)})"

    # --- links ---------------------------------------------------------------------------------------------------
    def record_url(self, *, object: str, record_id: str) -> str:
        """The record's page in HubSpot: {app}/contacts/{hub id}/record/{object type id}/{id}."""
        from crm.providers.hubspot.hosts import app_base

        connection = self.hubspot_connection()
        hub_id = str(getattr(connection, "hub_id", "") or "")
        if not hub_id or not str(record_id).isdigit():
            return ""
        try:
            object_type = self.vendor_object(object)
        except ValueError:
            return ""
        type_id = OBJECT_TYPE_IDS.get(object_type, object_type)
        try:
            base = app_base(self.account)
        except HubSpotError:
            return ""
        return f"{base}/contacts/{hub_id}/record/{type_id}/{record_id}"


def _custom_type(name: str) -> bool:
    """A custom object's type id (2-123) or fully qualified name (p123_studio)."""
    head, _, tail = name.partition("-")
    if head.isdigit() and tail.isdigit():
        return True
    return name.startswith("p") and "_" in name and name[1 : name.index("_")].isdigit()


def _translated_call(function: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except HubSpotError as exc:
        raise translate(exc) from exc
