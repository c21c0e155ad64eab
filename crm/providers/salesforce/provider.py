"""Salesforce behind the CrmProvider interface, over the package's own modules: the REST client (client.py, with
its token broker and allocation budget), the OAuth connection (oauth.py) and sign-in (sign_in.py), the record
mapping from describe (mapping.py), SOQL text (soql.py), the reads (reads.py), the writes (writes.py) and Bulk API
2.0 exports (export.py).

The connection is the `studios.models.ProviderAccount` of kind `salesforce` (its OAuth state on
`SalesforceConnection`, models.py): `provider_for(account)` gives a SalesforceProvider. Every Salesforce error is
translated to `crm.errors` at this boundary (`errors.translated`, the package's one translating function).

Objects: lead -> Lead, contact -> Contact, account -> Account, deal -> Opportunity, task -> Task; a custom object's
own API name (`Studio__c`) is accepted as is. No CHANGE_FEED: Change Data Capture is the gRPC Pub/Sub API, out of
scope; the delta sync polls SystemModstamp (reads.py says how) and getDeleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar

import phonenumbers

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from core.phone import normalize_e164
from crm.errors import CrmNotFound, CrmRejected
from crm.provider import CrmProvider
from crm.providers.salesforce import export, soql, writes
from crm.providers.salesforce.client import SalesforceClient
from crm.providers.salesforce.embed import SALESFORCE_EMBED
from crm.providers.salesforce.errors import PROVIDER, translated
from crm.providers.salesforce.mapping import ObjectMapping, object_mapping_build, record_map
from crm.providers.salesforce.reads import Reads
from crm.records import (
    Activity,
    ActivityLogged,
    CanonicalObject,
    CanonicalRecord,
    Capability,
    Cursor,
    DeletedRecord,
    ExportJob,
    Identity,
    ObjectSpec,
    Page,
    Priority,
    SignIn,
    WriteResult,
)
from crm.registry import register

DESCRIBE_CACHE_SECONDS = 300  # a field added in Salesforce is seen within five minutes


class _CountingClient(SalesforceClient):
    """The client, counting the calls Salesforce answered (each costs one request of the daily allocation)."""

    calls = 0

    def _call(self, *args: Any, **kwargs: Any) -> Any:  # every request and query batch goes through it
        answer = super()._call(*args, **kwargs)
        self.calls += 1
        return answer


@register(PROVIDER)
class SalesforceProvider(CrmProvider):
    """Salesforce for one ProviderAccount of kind salesforce. Options: `priority` (background by default,
    interactive when a person waits: it may use the allocation background work leaves), `sleep` (the client's
    backoff, injectable for tests)."""

    label = "Salesforce"
    opt_out_field = "SMS_Opt_Out__c"  # a custom field (docs/crm/salesforce.md, Fields to create)
    capabilities = frozenset(
        {
            Capability.BULK_EXPORT,
            Capability.SIGN_IN,
            Capability.ACTIVITY_LOGGING,
            Capability.UPSERT_BY_EXTERNAL_ID,
            Capability.DELETED_RECORDS,
        }
    )
    object_names: ClassVar[Mapping[str, str]] = {
        CanonicalObject.LEAD: "Lead",
        CanonicalObject.CONTACT: "Contact",
        CanonicalObject.ACCOUNT: "Account",
        CanonicalObject.DEAL: "Opportunity",
        CanonicalObject.TASK: "Task",
    }
    embed = SALESFORCE_EMBED
    max_activities_per_call: ClassVar[int] = writes.COMPOSITE_MAX

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
            raise ValueError(f"{connection!r} is not a Salesforce account")
        self.account = connection
        self.client = _CountingClient(connection, priority=Priority(priority), sleep=sleep)
        self._mappings: dict[str, ObjectMapping] = {}
        self._reads: dict[str, Reads] = {}

    @property
    def credits_used(self) -> int:
        """The API requests this provider made (a sync run records them: each is one of the org's allocation)."""
        return self.client.calls

    # --- names --------------------------------------------------------------------------------------------------
    def vendor_object(self, object: str) -> str:
        """Canonical names map to Salesforce's; Salesforce's own names of them and custom objects (`X__c`) are
        kept."""
        if object in set(self.object_names.values()) or (object.endswith("__c") and soql.NAME.fullmatch(object)):
            return object
        return super().vendor_object(object)

    # --- connection (oauth.py) ----------------------------------------------------------------------------------
    @translated
    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        from crm.providers.salesforce import oauth

        return oauth.authorize_url(self.account, session=session, options=options or {})

    @translated
    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        from crm.providers.salesforce import oauth

        return oauth.connect_finish(self.account, params=params, session=session, connected_by=connected_by)

    @translated
    def disconnect(self) -> None:
        from crm.providers.salesforce import oauth

        oauth.disconnect(self.account)

    @translated
    def identity(self) -> Identity:
        from crm.providers.salesforce import oauth

        return oauth.identity_fetch(self.account)

    # --- sign-in (sign_in.py) -----------------------------------------------------------------------------------
    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        from crm.providers.salesforce import sign_in

        return _translated_call(sign_in.sign_in_url, session=session, mode=mode, redirect_uri=redirect_uri)

    @classmethod
    def sign_in_finish(cls, *, params: Mapping[str, str], session: Any) -> SignIn:
        from crm.providers.salesforce import sign_in

        return _translated_call(sign_in.sign_in_finish, params=params, session=session)

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> Any | None:
        from crm.providers.salesforce import sign_in

        return _translated_call(sign_in.connection_for_identity, identity=identity)

    @classmethod
    def crm_user_id_clean(cls, value: str) -> str:
        """A Salesforce user id in the 18-character form (a 15-character one typed from a URL converted); ValueError
        if it is none."""
        from crm.providers.salesforce.ids import user_id_clean

        return user_id_clean(value)

    # --- schema -------------------------------------------------------------------------------------------------
    @translated
    def objects(self) -> list[ObjectSpec]:
        """The canonical objects, then the org's queryable custom objects (without fields)."""
        body = self.client.get("sobjects").json() or {}
        canonical = list(self.object_names.values())
        specs = []
        for entry in body.get("sobjects") or []:
            name = str(entry.get("name") or "")
            if name not in canonical and not (name.endswith("__c") and entry.get("queryable", True)):
                continue
            specs.append(
                ObjectSpec(
                    name=self.canonical_object(name),
                    vendor_name=name,
                    label=str(entry.get("labelPlural") or entry.get("label") or ""),
                )
            )
        return sorted(
            specs,
            key=lambda spec: (canonical.index(spec.vendor_name) if spec.vendor_name in canonical else 99, spec.name),
        )

    @translated
    def object_spec(self, *, object: str) -> ObjectSpec:
        return self._mapping(self.vendor_object(object)).spec

    def _describe(self, sobject: str) -> dict[str, Any]:
        key = f"salesforce:describe:{self.account.pk}:{self.client.api_version}:{sobject}"
        describe = cache.get(key)
        if describe is None:
            describe = self.client.get(f"sobjects/{soql.name(sobject)}/describe").json()
            cache.set(key, describe, DESCRIBE_CACHE_SECONDS)
        return describe

    def _mapping(self, sobject: str) -> ObjectMapping:
        if sobject not in self._mappings:
            self._mappings[sobject] = object_mapping_build(
                describe=self._describe(sobject),
                object=self.canonical_object(sobject),
                canonical_of=self.canonical_object,
            )
        return self._mappings[sobject]

    def _reader(self, sobject: str) -> Reads:
        if sobject not in self._reads:
            self._reads[sobject] = Reads(self.client, self._mapping(sobject))
        return self._reads[sobject]

    # --- reads --------------------------------------------------------------------------------------------------
    @translated
    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        sobject = self.vendor_object(object)
        rows = self._reader(sobject).records([writes.checked_id(record_id)])
        if not rows:
            raise CrmNotFound(f"no {sobject} record {record_id}", provider=PROVIDER, code="NOT_FOUND", status=404)
        return self._canonical(sobject, rows[0])

    @translated
    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        """`SELECT <every field> FROM X WHERE Id IN (...)` in URI-sized id lists (a wide object's field groups
        merged by Id), so a record reads the same as in a delta page; ids that are no Salesforce id are left out."""
        sobject = self.vendor_object(object)
        ids = [record_id for record_id in record_ids if soql.is_record_id(record_id)]
        return [self._canonical(sobject, row) for row in self._reader(sobject).records(ids)]

    @translated
    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        sobject = self.vendor_object(object)
        record_id = cursor.record_id if cursor.record_id and soql.is_record_id(cursor.record_id) else ""
        page = self._reader(sobject).changed_page(moment=cursor.modified_time, last_id=record_id, page_size=page_size)
        records = tuple(self._canonical(sobject, row) for row in page.rows)
        after = Cursor(modified_time=page.last[0], record_id=page.last[1]) if page.last else cursor
        return Page(records=records, cursor=after, has_more=page.has_more and page.last is not None)

    @translated
    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        return self._reader(self.vendor_object(object)).deleted(since=since)

    @translated
    def all_ids(self, *, object: str) -> Iterator[str]:
        return self._reader(self.vendor_object(object)).all_ids()

    @translated
    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        """SOSL over the phone fields with the number's national digits (Salesforce matches them however they were
        typed), kept to the records whose phone fields hold that number once read as E.164."""
        sobject = self.vendor_object(object)
        try:
            phone = normalize_e164(phone)
        except ValidationError as exc:
            raise ValueError(f"not a phone number in E.164: {phone!r}") from exc
        digits = str(phonenumbers.parse(phone).national_number)
        ids = self._reader(sobject).ids_by_phone(digits)
        found = [self._canonical(sobject, row) for row in self._reader(sobject).records(ids)] if ids else []
        return [record for record in found if phone in record.phones.values()]

    # --- mapping ------------------------------------------------------------------------------------------------
    @translated
    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        return self._canonical(self.vendor_object(object), record)

    def _canonical(self, sobject: str, row: Mapping[str, Any]) -> CanonicalRecord:
        try:
            return record_map(mapping=self._mapping(sobject), row=row, region=settings.SYNC_PHONE_DEFAULT_REGION)
        except (KeyError, ValueError) as exc:  # no Id or SystemModstamp: Salesforce never sends one
            raise CrmRejected(
                f"Salesforce sent a {sobject} record Leadline cannot read: {exc}", provider=PROVIDER
            ) from exc

    # --- writes (writes.py) --------------------------------------------------------------------------------------
    def _link(self, object: str, record_id: str) -> dict[str, str]:
        """A Task's link to its record: WhoId for a lead or contact, WhatId for anything else."""
        return writes.task_link(self.vendor_object(object), record_id) if record_id else {}

    @translated
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
        return writes.task_create(
            self.client,
            link=self._link(object, record_id),
            owner_id=owner_id,
            subject=subject,
            due_date=due_date,
            description=description,
        )

    @translated
    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        if not values:
            return
        sobject = soql.name(self.vendor_object(object))
        writes.fields_update(self.client, self._mapping, sobject=sobject, record_id=record_id, values=values)

    @translated
    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        """`POST sobjects/X`; a Lead without a Company gets "[not provided]", as Salesforce's Web-to-Lead does."""
        sobject = soql.name(self.vendor_object(object))
        return writes.record_create(self.client, self._mapping, sobject=sobject, values=values)

    @translated
    def upsert(self, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        """`PATCH sobjects/X/<field>/<value>`: 201 created; 200 (API v46+) or 204 updated; 300 several records
        hold the value (CrmRejected: an operator must merge them)."""
        sobject = soql.name(self.vendor_object(object))
        return writes.record_upsert(
            self.client, self._mapping, sobject=sobject, external_id_field=external_id_field, values=values
        )

    max_writes_per_call: ClassVar[int] = writes.COMPOSITE_MAX

    @translated
    def upsert_many(
        self, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """sObject Collections upsert (`PATCH composite/sobjects/<X>/<field>`, allOrNone false, 200 a call): one
        result per row, a refused row its own CrmRejected with Salesforce's statusCode and message."""
        sobject = soql.name(self.vendor_object(object))
        return writes.records_upsert_many(
            self.client, self._mapping, sobject=sobject, external_id_field=external_id_field, rows=rows
        )

    @translated
    def update_many(self, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
        """sObject Collections update (`PATCH composite/sobjects`, allOrNone false, 200 a call): one result per
        update; a record deleted meanwhile is that result's CrmNotFound."""
        sobject = soql.name(self.vendor_object(object))
        return writes.records_update_many(self.client, self._mapping, sobject=sobject, updates=updates)

    @translated
    def delete_record(self, *, object: str, record_id: str) -> bool:
        """`DELETE sobjects/<X>/<id>`: to the Recycle Bin; False when Salesforce has no such live record."""
        sobject = soql.name(self.vendor_object(object))
        return writes.record_delete(self.client, sobject=sobject, record_id=record_id)

    def changed_by_us(self, *, record: CanonicalRecord) -> bool | None:
        """None: a record read over REST does not say which client made its last change. Our writes carry
        `Sforce-Call-Options: client=<name>`, but only Change Data Capture's `changeOrigin` repeats it (out of
        scope here), and LastModifiedById is the connected person, who also edits by hand (docs/crm/salesforce.md,
        Two-way sync)."""
        return None

    @translated
    def log_activities(self, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
        """Completed Tasks in sObject Collections of 200: upserted by Leadline_Message_Id__c when the org has that
        external id on Task (a retry logs nothing twice), else created. One result per activity, in order."""
        return writes.activities_log(self.client, self._mapping, activities=activities, link=self._link)

    # --- links --------------------------------------------------------------------------------------------------
    def record_url(self, *, object: str, record_id: str) -> str:
        """The record's Lightning page on the org's instance (Salesforce sends it on to the Lightning host)."""
        instance = str(getattr(self.account, "api_domain", "") or "").rstrip("/")
        if not instance or not soql.is_record_id(record_id):
            return ""
        try:
            sobject = self.vendor_object(object)
        except ValueError:
            return ""
        return f"{instance}/lightning/r/{sobject}/{record_id}/view"

    # --- bulk export (Bulk API 2.0: export.py) ------------------------------------------------------------------
    @translated
    def export_start(self, *, object: str, after: ExportJob | None = None) -> ExportJob:
        sobject = self.vendor_object(object)
        return export.export_start(self.client, mapping=self._mapping(sobject), after=after)

    @translated
    def export_status(self, *, job: ExportJob) -> ExportJob:
        return export.export_status(self.client, job=job)

    @translated
    def export_records(self, *, job: ExportJob, skip: int = 0) -> Iterator[CanonicalRecord]:
        sobject = self.vendor_object(job.object)
        return export.export_records(
            self.client,
            job=job,
            mapping=self._mapping(sobject),
            canonical=lambda row: self._canonical(sobject, row),
            skip=skip,
        )


def _translated_call(function: Callable[..., Any], **kwargs: Any) -> Any:
    from crm.providers.salesforce.errors import SalesforceError, to_crm_error

    try:
        return function(**kwargs)
    except SalesforceError as exc:
        raise to_crm_error(exc) from exc
