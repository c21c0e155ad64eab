"""Zoho CRM v8 behind the CrmProvider interface, over the package's own modules (client, transport, token
broker, OAuth flow) and its record mapping (`mapping.py`).

The connection is, for now, the `studios.models.ProviderAccount` of kind `zoho_crm` (its OAuth state lives on
`ZohoConnection`, models.py): `provider_for(account)` gives a ZohoCrmProvider. What the interface needs that the
client lacked is built from ZohoClient calls: here all ids, records by phone and the field specs; in reads.py pages
of changed records on a (Modified_Time, id) cursor and records by id; in writes.py tasks, activities and record
writes; in change_feed.py the watch channel as a subscription and the parsing of its callbacks.
Every Zoho error is translated to `crm.errors` at this boundary (`translation.translated`).

Upsert by external id goes through `POST /crm/v8/{module}/upsert` with `duplicate_check_fields` naming the unique
field alone (the install guide's `Leadline_Id`, "Do not allow duplicate values"), 100 records a call; updates of
many records through `PUT /crm/v8/{module}`, deletes to the recycle bin (writes.py). `changed_by_us` stays None:
Zoho's only mark of who made a change is Modified_By, the connection's user, who is usually a person working in
Zoho too (docs/zoho.md, Two-way sync).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from core.exceptions import ApplicationError
from core.phone import normalize_e164
from crm.errors import (
    CrmAuthError,
    CrmNotFound,
    CrmRejected,
)
from crm.provider import CrmProvider
from crm.providers.zoho import export, oauth, reads, writes
from crm.providers.zoho.change_feed import ZohoChangeFeed
from crm.providers.zoho.client import WRITE_BATCH, ZohoClient
from crm.providers.zoho.data_centres import ZOHO_ACCOUNTS_HOSTS
from crm.providers.zoho.embed import ZohoEmbed
from crm.providers.zoho.limits import Priority
from crm.providers.zoho.mapping import (
    MULTI,
    UNSELECTABLE,
    ModuleMapping,
    crm_record_map,
    display_field_of,
    module_mapping_build,
)
from crm.providers.zoho.sign_in import ZohoSignIn
from crm.providers.zoho.translation import (
    FIELD_TYPES,
    FIELD_TYPES_BY_JSON,
    PROVIDER,
    translated,
)
from crm.records import (
    Activity,
    ActivityLogged,
    CanonicalObject,
    CanonicalRecord,
    Capability,
    Cursor,
    DeletedRecord,
    ExportJob,
    FieldProblem,
    FieldSpec,
    FieldType,
    Identity,
    ObjectSpec,
    Page,
    WriteResult,
)
from crm.registry import register

# Fields a record write cannot set, whatever their read_only flag: Zoho computes them (formulas, auto-numbers,
# roll-ups) or takes them through another API (a record's image: the photo upload).
COMPUTED_TYPES = frozenset({"formula", "autonumber", "rollup_summary", "profileimage"})


def _field_type(meta: dict[str, Any], mapped: Any) -> FieldType:
    """The field's type from its data_type (then json_type); a field the mapping reads as a list (a text field whose
    json_type is an array, such as Tag) is a multi-select, as its values are stored."""
    field_type = FIELD_TYPES.get(str(meta.get("data_type") or "").lower()) or FIELD_TYPES_BY_JSON.get(
        str(meta.get("json_type") or "").lower(), FieldType.TEXT
    )
    if mapped is not None and mapped.kind == MULTI and field_type not in (FieldType.MULTI_PICKLIST, FieldType.JSON):
        return FieldType.MULTI_PICKLIST
    return field_type


class _CountingClient(ZohoClient):
    """ZohoClient that adds up the credits of the calls Zoho answered."""

    credits_used = 0

    def request(self, method: str, path: str, **kwargs: Any):
        response = super().request(method, path, **kwargs)
        self.credits_used += kwargs.get("cost", 1)
        return response


@register(PROVIDER)
class ZohoCrmProvider(ZohoChangeFeed, ZohoSignIn, ZohoEmbed, CrmProvider):
    """Zoho CRM for one ProviderAccount of kind zoho_crm. Options: `priority` ("background" by default, or
    "interactive" when a person waits), `sleep` and `rng` (the transport's backoff, injectable for tests)."""

    label = "Zoho CRM"
    opt_out_field = "SMS_Opt_Out"
    capabilities = frozenset(
        {
            Capability.BULK_EXPORT,
            Capability.CHANGE_FEED,
            Capability.SIGN_IN,
            Capability.ACTIVITY_LOGGING,
            Capability.DELETED_RECORDS,
            Capability.UPSERT_BY_EXTERNAL_ID,
        }
    )
    object_names: ClassVar[Mapping[str, str]] = {
        CanonicalObject.LEAD: "Leads",
        CanonicalObject.CONTACT: "Contacts",
        CanonicalObject.ACCOUNT: "Accounts",
        CanonicalObject.DEAL: "Deals",
        CanonicalObject.TASK: "Tasks",
    }
    connection_kinds = ("zoho_crm",)

    def __init__(self, connection: Any, *, priority: str = Priority.BACKGROUND, **options: Any) -> None:
        super().__init__(connection)
        if getattr(connection, "kind", None) != "zoho_crm":
            raise ValueError(f"{connection!r} is not a Zoho CRM account")
        self.account = connection
        self.client = _CountingClient(account=connection, priority=Priority(priority), **options)
        self._mappings: dict[str, ModuleMapping] = {}
        self._metadata: dict[str, list[dict[str, Any]]] = {}
        self._canonical_names = {name: str(canonical) for canonical, name in self.object_names.items()}

    @property
    def credits_used(self) -> int:
        """The API credits of the calls Zoho answered through this provider (a sync run records them)."""
        return self.client.credits_used

    # --- names --------------------------------------------------------------------------------------------------
    def vendor_object(self, object: str) -> str:
        """Canonical names map to Zoho's modules; a Zoho module's own API name (custom modules) is kept."""
        if object in set(self.object_names.values()) or (object[:1].isupper() and object.isidentifier()):
            return object
        return super().vendor_object(object)

    # --- connection ---------------------------------------------------------------------------------------------
    @translated
    def authorize_url(self, *, session: Any, options: Mapping[str, str] | None = None) -> str:
        """Options: `data_centre` ("account": the account's accounts server; or us, eu, in, au, ...)."""
        try:
            return oauth.connect_start(
                account=self.account, session=session, data_centre=(options or {}).get("data_centre", "account")
            )
        except ApplicationError as exc:
            raise CrmRejected(exc.message, provider=PROVIDER, code="CONNECT_REFUSED") from exc

    @translated
    def finish_connect(self, *, params: Mapping[str, str], session: Any, connected_by: str = "") -> Identity:
        """Zoho's callback: `state` must be one this session started for this account; then the code is
        exchanged at the accounts server Zoho named (if it is one we trust) and the identity recorded."""
        if params.get("error"):
            oauth.connect_refused(account=self.account, error=str(params["error"]))
            raise CrmAuthError(f"Zoho sign-in did not complete: {params['error']}", provider=PROVIDER, code="DENIED")
        try:
            if oauth.state_account_id(state=str(params.get("state") or ""), session=session) != self.account.pk:
                raise CrmAuthError("This Zoho sign-in was started for another account.", provider=PROVIDER)
            connection = oauth.connect_finish(
                account=self.account,
                code=str(params.get("code") or ""),
                accounts_server=str(params.get("accounts-server") or ""),
                location=str(params.get("location") or ""),
                connected_by=connected_by,
            )
        except ApplicationError as exc:
            raise CrmAuthError(exc.message, provider=PROVIDER, code="CONNECT_FAILED") from exc
        return Identity(
            org_id=connection.zoho_org_id,
            org_name=connection.zoho_org_name,
            user_id=connection.zoho_user_id,
            user_email=connection.zoho_user_email,
            user_name=connection.zoho_user_name,
        )

    @translated
    def disconnect(self) -> None:
        oauth.disconnect(account=self.account)

    @translated
    def identity(self) -> Identity:
        org = self.client.org_get()
        user = self.client.user_current() or {}
        return Identity(
            org_id=str(org.get("id") or ""),
            org_name=str(org.get("company_name") or ""),
            user_id=str(user.get("id") or ""),
            user_email=str(user.get("email") or ""),
            user_name=str(user.get("full_name") or ""),
        )

    # --- schema -------------------------------------------------------------------------------------------------
    @translated
    def objects(self) -> list[ObjectSpec]:
        body = self.client.request("GET", "/crm/v8/settings/modules").body or {}
        specs = []
        for module in body.get("modules") or []:
            name = str(module.get("api_name") or "")
            if not name or module.get("api_supported") is False:
                continue
            specs.append(
                ObjectSpec(
                    name=self.canonical_object(name), vendor_name=name, label=str(module.get("plural_label") or "")
                )
            )
        canonical = [str(value) for value in CanonicalObject]
        return sorted(specs, key=lambda spec: (canonical.index(spec.name) if spec.name in canonical else 99, spec.name))

    @translated
    def object_spec(self, *, object: str) -> ObjectSpec:
        module = self.vendor_object(object)
        metadata = self._fields(module)
        mapping = self._mapping(module)
        fields = []
        for meta in metadata:
            api_name = meta.get("api_name")
            data_type = str(meta.get("data_type") or "").lower()
            if not api_name or data_type in UNSELECTABLE:
                continue
            target = ((meta.get("lookup") or {}).get("module") or {}).get("api_name") or ""
            fields.append(
                FieldSpec(
                    name=api_name,
                    type=_field_type(meta, mapping.specs.get(api_name)),
                    key=mapping.specs[api_name].key if api_name in mapping.specs else api_name,
                    label=str(meta.get("field_label") or meta.get("display_label") or ""),
                    custom=bool(meta.get("custom_field")),
                    required=bool(meta.get("system_mandatory")),
                    read_only=bool(meta.get("read_only") or meta.get("field_read_only")) or data_type in COMPUTED_TYPES,
                    unique=bool(meta.get("unique")),
                    lookup_target=self.canonical_object(target) if target else "",
                    choices=tuple(
                        str(value.get("actual_value") or value.get("display_value") or "")
                        for value in meta.get("pick_list_values") or []
                    ),
                    vendor_type=data_type,
                )
            )
        return ObjectSpec(
            name=self.canonical_object(module),
            vendor_name=module,
            fields=tuple(fields),
            name_field=display_field_of(metadata),
            modified_time_field="Modified_Time",
        )

    # --- reads (reads.py) ---------------------------------------------------------------------------------------
    @translated
    def record(self, *, object: str, record_id: str) -> CanonicalRecord:
        module = self.vendor_object(object)
        row = self.client.record_get(module=module, record_id=reads.checked_id(record_id))
        if row is None:
            raise CrmNotFound(f"no {module} record {record_id}", provider=PROVIDER, code="NOT_FOUND", status=204)
        return self._canonical(module, row)

    @translated
    def records(self, *, object: str, record_ids: Sequence[str]) -> list[CanonicalRecord]:
        """COQL `id in (...)` queries of at most 100 ids, with the same columns and merges as a delta page, so a
        record reads the same whichever way it came (the single-record API answers false/[] where COQL says null)."""
        module = self.vendor_object(object)
        ids = list(dict.fromkeys(reads.checked_id(record_id) for record_id in record_ids))
        return reads.records_by_id(
            self.client,
            module=module,
            ids=ids,
            mapping=self._mapping(module),
            canonical=lambda row: self._canonical(module, row),
        )

    @translated
    def changed_since(self, *, object: str, cursor: Cursor, page_size: int = 200) -> Page:
        """A COQL keyset page ordered by (Modified_Time, id): never OFFSET, whose rows shift when a record is
        edited mid-run. Columns one query cannot carry are read by id and merged."""
        module = self.vendor_object(object)
        rows, has_more = reads.changed_rows(
            self.client, module=module, mapping=self._mapping(module), cursor=cursor, page_size=page_size
        )
        records = tuple(self._canonical(module, row) for row in rows)
        return Page(records=records, cursor=Cursor.after(records[-1]) if records else cursor, has_more=has_more)

    @translated
    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        yield from reads.deleted(self.client, module=self.vendor_object(object), since=since)

    @translated
    def all_ids(self, *, object: str) -> Iterator[str]:
        module = self.vendor_object(object)
        for row in self.client.coql_iter(module=module, fields=["id"], max_reach=0):
            yield str(row["id"])

    @translated
    def records_by_phone(self, *, object: str, phone: str) -> list[CanonicalRecord]:
        """Zoho's phone search (digits as given, and the national form of a +1 number), kept to the records
        whose phone fields hold that number once read as E.164."""
        module = self.vendor_object(object)
        try:
            phone = normalize_e164(phone)
        except ValidationError as exc:
            raise ValueError(f"not a phone number in E.164: {phone!r}") from exc
        found = [
            self._canonical(module, row) for row in self.client.records_search_by_phone(module=module, phone=phone)
        ]
        return [record for record in found if phone in record.phones.values()]

    # --- mapping ------------------------------------------------------------------------------------------------
    @translated
    def to_canonical(self, *, object: str, record: Mapping[str, Any]) -> CanonicalRecord:
        return self._canonical(self.vendor_object(object), dict(record))

    def _canonical(self, module: str, row: dict[str, Any]) -> CanonicalRecord:
        try:
            mapped = crm_record_map(
                mapping=self._mapping(module), record=row, region=settings.SYNC_PHONE_DEFAULT_REGION
            )
        except (KeyError, ValueError) as exc:  # no id or Modified_Time, or one Zoho would never send
            raise CrmRejected(f"Zoho sent a {module} record Leadline cannot read: {exc}", provider=PROVIDER) from exc
        problems = mapped.problems
        return CanonicalRecord(
            object=self._canonical_names.get(module) or self.canonical_object(module),
            id=mapped.zoho_id,
            modified_time=mapped.modified_time,
            name=mapped.name,
            email=mapped.email,
            phones=mapped.phones,  # the mapping's own dicts, handed over (no copy per record)
            owner_id=mapped.owner_id,
            owner_name=mapped.owner_name,
            created_time=mapped.created_time,
            fields=mapped.fields,
            custom_fields=mapped.custom_fields,
            problems=tuple(FieldProblem(p.field, p.value, p.reason) for p in problems) if problems else (),
            raw=row,
        )

    def _fields(self, module: str) -> list[dict[str, Any]]:
        if module not in self._metadata:
            self._metadata[module] = self.client.fields_get(module=module)
        return self._metadata[module]

    def _mapping(self, module: str) -> ModuleMapping:
        """The module's mapping from its metadata, read once per provider; the name field of each lookup target
        from the target's metadata, the org's currency when the module has currency fields."""
        if module not in self._mappings:
            metadata = self._fields(module)
            targets = {((meta.get("lookup") or {}).get("module") or {}).get("api_name") for meta in metadata}
            display_fields = {module: display_field_of(metadata)}
            for target in sorted(name for name in targets if name and name not in display_fields):
                display_fields[target] = display_field_of(self._fields(target))
            currency = ""
            if any(str(meta.get("data_type")) == "currency" for meta in metadata):
                currency = str(self.client.org_get().get("iso_code") or "")
            self._mappings[module] = module_mapping_build(
                module=module, metadata=metadata, display_fields=display_fields, currency_code=currency
            )
        return self._mappings[module]

    # --- writes (writes.py) --------------------------------------------------------------------------------------
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
            module=self.vendor_object(object),
            record_id=record_id,
            owner_id=owner_id,
            subject=subject,
            due_date=due_date,
            description=description,
        )

    max_activities_per_call: ClassVar[int] = WRITE_BATCH

    @translated
    def log_activities(self, *, activities: Sequence[Activity]) -> list[ActivityLogged]:
        """Completed Tasks on the records (Zoho has no activity type: `activity_type` is not written), inserted 100
        to a call with workflows off. Zoho's per-record results say which landed. No upsert here (module docstring):
        a batch retried after an answer was lost logs those texts twice."""
        return writes.activities_log(self.client, activities=activities, module_of=self.vendor_object)

    @translated
    def update_fields(self, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Updates with `trigger` empty: Zoho's workflow rules do not fire on Leadline's own writes."""
        if not values:
            return
        module = self.vendor_object(object)
        writes.fields_update(
            self.client,
            module=module,
            record_id=record_id,
            values=values,
            data_types=self._data_types(module, [values]),
        )

    @translated
    def create_record(self, *, object: str, values: Mapping[str, Any]) -> str:
        module = self.vendor_object(object)
        return writes.record_create(
            self.client, module=module, values=values, data_types=self._data_types(module, [values])
        )

    max_writes_per_call: ClassVar[int] = WRITE_BATCH

    @translated
    def upsert(self, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
        (result,) = self.upsert_many(object=object, external_id_field=external_id_field, rows=[values])
        if result.error is not None:
            raise result.error
        return result.record_id, result.created

    @translated
    def upsert_many(
        self, *, object: str, external_id_field: str, rows: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        """`POST /{module}/upsert` matched by `external_id_field` alone, 100 rows a call, workflows off; Zoho answers
        each row (`action` insert or update), so a refused row is that row's CrmRejected."""
        if not rows:
            return []
        module = self.vendor_object(object)
        data_types = self._data_types(module, rows)
        return writes.records_upsert(
            self.client, module=module, external_id_field=external_id_field, rows=rows, data_types=data_types
        )

    @translated
    def update_many(self, *, object: str, updates: Sequence[tuple[str, Mapping[str, Any]]]) -> list[WriteResult]:
        """`PUT /{module}` with 100 records a call, workflows off; a record deleted meanwhile is its CrmNotFound."""
        if not updates:
            return []
        module = self.vendor_object(object)
        data_types = self._data_types(module, [values for _, values in updates])
        return writes.records_update(self.client, module=module, updates=updates, data_types=data_types)

    @translated
    def delete_record(self, *, object: str, record_id: str) -> bool:
        """To Zoho's recycle bin (`DELETE /{module}?ids=`); False when Zoho has no live record of that id."""
        return writes.record_delete(self.client, module=self.vendor_object(object), record_id=record_id)

    def _data_types(self, module: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
        """The data_type of each field written, from the module's metadata (read once per provider), when a value
        needs it to be written in Zoho's form (an id for a lookup or owner, a date, a time, an amount); {} when
        every value is written as it is (booleans, numbers, lists)."""
        names = {name for row in rows for name in row}
        plain = all(
            value is None or isinstance(value, bool | int | float | list | dict)
            for row in rows
            for value in row.values()
        )
        if plain and "Owner" not in names:
            return {}
        return {
            str(meta["api_name"]): str(meta.get("data_type") or "").lower()
            for meta in self._fields(module)
            if meta.get("api_name") in names
        }

    # --- links --------------------------------------------------------------------------------------------------
    def record_url(self, *, object: str, record_id: str) -> str:
        """The record in Zoho CRM's web app, on the CRM host of the account's data centre (accounts.zoho.eu ->
        crm.zoho.eu): `/crm/tab/<Module>/<id>`, which Zoho opens in the signed-in user's org. An account pointed at
        other endpoints (the sandbox) links to that host."""
        try:
            module = self.vendor_object(object)
        except ValueError:
            return ""
        if not str(record_id).isdigit():
            return ""
        parts = urlsplit(self.account.accounts_url or "")
        host = (parts.hostname or "").lower()
        if host in ZOHO_ACCOUNTS_HOSTS:
            base = "https://crm." + host.removeprefix("accounts.")
        elif parts.scheme and parts.netloc:
            base = f"{parts.scheme}://{parts.netloc}"
        else:
            return ""
        return f"{base}/crm/tab/{quote(module)}/{record_id}"

    # --- bulk export (Bulk Read: export.py) ---------------------------------------------------------------------
    @translated
    def export_start(self, *, object: str, after: ExportJob | None = None) -> ExportJob:
        module = self.vendor_object(object)
        return export.export_start(
            self.client, module=module, object=self.canonical_object(module), mapping=self._mapping(module), after=after
        )

    @translated
    def export_status(self, *, job: ExportJob) -> ExportJob:
        return export.export_status(self.client, job=job)

    @translated
    def export_records(self, *, job: ExportJob, skip: int = 0) -> Iterator[CanonicalRecord]:
        module = self.vendor_object(job.object)
        return export.export_records(
            self.client,
            job=job,
            mapping=self._mapping(module),
            canonical=lambda row: self._canonical(module, row),
            skip=skip,
        )
