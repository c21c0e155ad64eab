"""The provider's writes over the Dataverse Web API: a task (`POST tasks` regarding its record through the
navigation property the task table names for it), column updates (`PATCH <set>(<id>)` with `If-Match: *`, so an
update never creates), new rows (`POST <set>`, 204 with `OData-EntityId`) and upserts by an alternate key
(`PATCH <set>(<key>='<value>')`). Texts on the timeline live in activities.py.

Each function takes the provider (provider.py delegates: `writes.task_create(self, ...)`) and leaves only
`crm.errors`. Values are typed by their column's metadata before they are sent (`column_body`): booleans,
numbers, option set values, dates (`YYYY-MM-DD` for date-only columns, ISO `Z` otherwise) and lookups as
`<navigation property>@odata.bind: "/<set>(<id>)"`; a column the table does not have, or one Dataverse does not let
a write set, is refused here with its name, before any write is spent on it.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.dynamics.errors import PROVIDER, DataverseNotFound, translated

TASK = "task"
REGARDING = "regardingobjectid"
OWNER = "ownerid"
SUBJECT_MAX = 200  # task.subject's MaxLength
DESCRIPTION_MAX = 2000  # task.description's MaxLength (a Memo)
METADATA_CACHE_SECONDS = 300  # a column or table added in the environment is seen within five minutes
# The entity sets of tables every environment has, for a definition that names none (metadata wins when it does).
KNOWN_SETS = {"lead": "leads", "contact": "contacts", "account": "accounts", "opportunity": "opportunities"}
KNOWN_SETS |= {"task": "tasks", "systemuser": "systemusers", "team": "teams"}
LOGICAL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
BIND_PATH = re.compile(r"^/?([A-Za-z_][A-Za-z0-9_]*)\(([0-9a-fA-F-]{36})\)$")
LOOKUP_TYPES = frozenset({"Lookup", "Owner", "Customer"})
NUMBER_TYPES = frozenset({"Decimal", "Double", "Money"})
INTEGER_TYPES = frozenset({"Integer", "BigInt"})
OPTION_TYPES = frozenset({"Picklist", "State", "Status"})


# --- what the provider holds -----------------------------------------------------------------------------------
def client_of(provider: Any) -> Any:
    """The provider's DataverseClient (its priority and sleep), or one made for its account."""
    client = getattr(provider, "client", None)
    if client is not None:
        return client
    from crm.providers.dynamics.client import DataverseClient

    client = DataverseClient(account_of(provider))
    provider.client = client
    return client


def account_of(provider: Any) -> Any:
    return getattr(provider, "account", None) or provider.connection


def connection_of(provider: Any) -> Any:
    """The DynamicsConnection behind the provider (timeline and opt-out settings), None when there is none yet."""
    return connection_of_account(account_of(provider))


def connection_of_account(account: Any) -> Any:
    try:
        return account.dynamics_connection
    except (AttributeError, ObjectDoesNotExist):  # no connection row: the account alone (e.g. a test's)
        return None


def opt_out_column(account: Any) -> str:
    """The boolean column this connection mirrors opt-outs in ("" = the organization's messaging settings decide):
    what the provider's `connection_opt_out_field` answers."""
    return str(getattr(connection_of_account(account), "opt_out_column", "") or "")


def time_zone(provider: Any) -> zoneinfo.ZoneInfo:
    """The organization's time zone (its first studio's), else UTC: a due date's day starts there."""
    organization = getattr(account_of(provider), "organization", None)
    studios = getattr(organization, "studios", None)
    name = studios.order_by("pk").values_list("time_zone", flat=True).first() if studios is not None else None
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --- names ---------------------------------------------------------------------------------------------------------
def table_of(provider: Any, object: str) -> str:
    """The logical name of a canonical object (lead, deal -> opportunity), or a table's own logical name as is."""
    try:
        return provider.vendor_object(object)
    except ValueError:
        if LOGICAL_NAME.match(str(object or "")):
            return str(object)
        raise


def checked_id(record_id: Any) -> str:
    """A row id (a GUID, lower case), or CrmNotFound before any call is spent on it."""
    text = str(record_id or "").strip().strip("{}")
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise CrmNotFound(f"{record_id!r} is not a Dataverse row id", provider=PROVIDER, code="0x80040217") from None


class Metadata:
    """What the writes need of the environment's metadata: entity sets, columns, and the navigation properties of
    lookups (ManyToOneRelationships); each answer kept by the provider, and for METADATA_CACHE_SECONDS in the
    cache for every worker (so a text logged costs its $batch, not three metadata reads)."""

    def __init__(self, client: Any, *, cache_prefix: str = "") -> None:
        self.client = client
        self.cache_prefix = cache_prefix
        self._held: dict[tuple[str, str], Any] = {}

    def _read(self, kind: str, table: str, read: Callable[[], Any]) -> Any:
        key = (kind, table)
        if key not in self._held:
            cache_key = f"{self.cache_prefix}:{kind}:{table}" if self.cache_prefix else ""
            found = cache.get(cache_key) if cache_key else None
            if found is None:
                found = read()
                if cache_key:
                    cache.set(cache_key, found, METADATA_CACHE_SECONDS)
            self._held[key] = found
        return self._held[key]

    def definition(self, table: str) -> Mapping[str, Any]:
        return self._read("definition", table, lambda: dict(self.client.entity_definition(table) or {}))

    def columns(self, table: str) -> dict[str, Mapping[str, Any]]:
        def read() -> dict[str, Mapping[str, Any]]:
            rows = self.client.attributes(table) or []
            rows = rows.get("value", []) if isinstance(rows, Mapping) else rows
            return {str(row["LogicalName"]): dict(row) for row in rows if row.get("LogicalName")}

        return self._read("columns", table, read)

    def relationships(self, table: str) -> list[Mapping[str, Any]]:
        def read() -> list[Mapping[str, Any]]:
            rows = self.client.many_to_one(table) or []
            return [dict(row) for row in (rows.get("value", []) if isinstance(rows, Mapping) else rows)]

        return self._read("relationships", table, read)

    def options(self, table: str) -> dict[str, dict[str, int]]:
        """Each option set column's values by label in lower case (a value given by its label is sent as its
        number)."""

        def read() -> dict[str, dict[str, int]]:
            found = self.client.picklist_options(table) or {}
            return {
                str(column): {str(option.get("label") or "").lower(): int(option["value"]) for option in options}
                for column, options in found.items()
                if options
            }

        return self._read("options", table, read)

    def entity_set(self, table: str) -> str:
        try:
            name = self.definition(table).get("EntitySetName")
        except (CrmNotFound, DataverseNotFound):
            raise CrmNotFound(f"the environment has no table {table!r}", provider=PROVIDER) from None
        return str(name or KNOWN_SETS.get(table) or f"{table}s")

    def primary_id(self, table: str) -> str:
        return str(self.definition(table).get("PrimaryIdAttribute") or f"{table}id")

    def navigation(self, table: str, column: str, target: str) -> str:
        """The navigation property that binds `column` of `table` to a row of `target` (regarding: one per
        target table, `regardingobjectid_lead_task`); Dataverse's usual name when the metadata names none."""
        for row in self.relationships(table):
            if str(row.get("ReferencedEntity")) != target:
                continue
            name = str(row.get("ReferencingEntityNavigationPropertyName") or "")
            if row.get("ReferencingAttribute") in (None, column) and name.lower().startswith(column):
                return name
        if column == REGARDING:
            return f"{REGARDING}_{target}_{table}"
        spec = self.columns(table).get(column) or {}
        # An owner binds by its own name whatever it points at (its relationship's target is the "owner" table);
        # other lookups with several targets (parentcustomerid) have one property per target.
        if column == OWNER or attribute_type(spec) == "Owner" or len(lookup_targets(spec)) <= 1:
            return column
        return f"{column}_{target}"


def metadata_of(provider: Any) -> Metadata:
    """The provider's Metadata (kept on it: one read per table per provider)."""
    client = client_of(provider)
    held = provider.__dict__.get("_dynamics_write_metadata")
    if held is None or held.client is not client:
        account_id = getattr(account_of(provider), "pk", None)
        held = Metadata(client, cache_prefix=f"dynamics:write-metadata:{account_id}" if account_id else "")
        provider.__dict__["_dynamics_write_metadata"] = held
    return held


def lookup_targets(column: Mapping[str, Any]) -> list[str]:
    return [str(target) for target in column.get("Targets") or []]


def attribute_type(column: Mapping[str, Any]) -> str:
    return str(column.get("AttributeType") or (column.get("AttributeTypeName") or {}).get("Value", "")).replace(
        "Type", ""
    )


# --- values --------------------------------------------------------------------------------------------------------
def iso_moment(value: datetime) -> str:
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bind(metadata: Metadata, table: str, column: str, spec: Mapping[str, Any], value: Any) -> tuple[str, Any]:
    """A lookup's (`<navigation property>@odata.bind`, "/<set>(<id>)"); None clears it. The value is a row id (the
    lookup's only target, or a system user for an owner), "<table>:<id>" or "/<set>(<id>)"."""
    targets = lookup_targets(spec) or (["systemuser", "team"] if column == OWNER else [])
    text = str(value or "").strip()
    target, row_id = "", text
    found = BIND_PATH.match(text)
    if found:
        by_set = {metadata.entity_set(name): name for name in targets}
        target, row_id = by_set.get(found.group(1), ""), found.group(2)
    elif ":" in text:
        target, _, row_id = text.partition(":")
    elif len(targets) == 1 or (targets and targets[0] == "systemuser"):
        target = targets[0]
    if value is None:
        if len(targets) != 1 and not target:
            raise ValueError(f"name the table of the row to clear ({', '.join(targets)})")
        return f"{metadata.navigation(table, column, target or targets[0])}@odata.bind", None
    if target not in targets:
        raise ValueError(f"expected a row id of {' or '.join(targets) or 'a table'} (as '<table>:<id>'), got {value!r}")
    row = checked_id(row_id)
    return f"{metadata.navigation(table, column, target)}@odata.bind", f"/{metadata.entity_set(target)}({row})"


def typed(spec: Mapping[str, Any], value: Any, options: Mapping[str, int] | None = None) -> Any:
    """A non-lookup value as its column takes it in JSON (an option by its number or its label among `options`);
    ValueError saying what the column expects."""
    kind = attribute_type(spec)
    if value is None:
        return None
    if kind in OPTION_TYPES and isinstance(value, str) and str(value).lower() in (options or {}):
        return (options or {})[value.lower()]
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise ValueError(f"expected true or false, got {value!r}")
    if kind in INTEGER_TYPES or kind in OPTION_TYPES:
        if isinstance(value, bool) or not (isinstance(value, int) or str(value).lstrip("-").isdigit()):
            expected = "an option value" if kind in OPTION_TYPES else "a whole number"
            raise ValueError(f"expected {expected}, got {value!r}")
        return int(value)
    if kind in NUMBER_TYPES:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            return float(Decimal(str(value)))
        except ArithmeticError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind == "DateTime":
        return moment_text(spec, value)
    if kind in ("MultiSelectPicklist", "Virtual") and isinstance(value, list | tuple | set):
        return ",".join(str(int(item)) for item in value)
    if kind in ("String", "Memo"):
        return iso_moment(value) if isinstance(value, datetime) else str(value)
    if isinstance(value, datetime):
        return iso_moment(value)
    if isinstance(value, date | Decimal):
        return str(value)
    return value if isinstance(value, str | int | float | list | dict) else str(value)


def moment_text(spec: Mapping[str, Any], value: Any) -> str:
    """A date-only column takes `YYYY-MM-DD`, any other date column an ISO moment in UTC."""
    date_only = "DateOnly" in str(spec.get("Format") or "") + str((spec.get("DateTimeBehavior") or {}).get("Value"))
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date, got {value!r}") from None
    if isinstance(value, datetime):
        return value.date().isoformat() if date_only else iso_moment(value)
    if isinstance(value, date):
        return value.isoformat() if date_only else iso_moment(datetime.combine(value, time.min, tzinfo=UTC))
    raise ValueError(f"expected a date, got {value!r}")


def column_body(
    metadata: Metadata, table: str, values: Mapping[str, Any], *, creating: bool, leave_out: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The values as the row's JSON, each checked against its column first; CrmRejected naming every column that
    the table lacks, that a write may not set, or whose value does not fit."""
    columns = metadata.columns(table)
    body: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, value in values.items():
        name = str(name)
        if name in leave_out:
            continue
        if name.endswith("@odata.bind"):  # already a binding: Dataverse judges it
            body[name] = value
            continue
        spec = columns.get(name)
        if spec is None:
            problems[name] = f"{table} has no column {name!r}"
            continue
        if spec.get("IsValidFor" + ("Create" if creating else "Update")) is False:
            problems[name] = f"{name} cannot be set {'on create' if creating else 'by an update'}"
            continue
        try:
            if attribute_type(spec) in LOOKUP_TYPES:
                key, bound = bind(metadata, table, name, spec, value)
                body[key] = bound
            else:
                labelled = attribute_type(spec) in OPTION_TYPES and isinstance(value, str) and not value.isdigit()
                body[name] = typed(spec, value, metadata.options(table).get(name) if labelled else None)
        except (ValueError, CrmNotFound) as exc:
            problems[name] = str(getattr(exc, "message", exc))
    if problems:
        named = ", ".join(sorted(problems))
        raise CrmRejected(
            f"Dataverse would refuse these {table} values: {named}", provider=PROVIDER, field_errors=problems
        )
    return body


# --- tasks -----------------------------------------------------------------------------------------------------
def regarding(provider: Any, activity_table: str, object: str, record_id: str) -> dict[str, str]:
    """The activity's binding to its record (`regardingobjectid_<table>_<activity>@odata.bind`), {} for none."""
    if not record_id:
        return {}
    metadata = metadata_of(provider)
    target = table_of(provider, object)
    row = checked_id(record_id)  # before any call: an id of another CRM is refused for free
    name = metadata.navigation(activity_table, REGARDING, target)
    return {f"{name}@odata.bind": f"/{metadata.entity_set(target)}({row})"}


def owner_binding(owner_id: str) -> dict[str, str]:
    """The owner as a system user ("" = the application user: Dataverse makes the caller the owner)."""
    if not owner_id:
        return {}
    return {f"{OWNER}@odata.bind": f"/systemusers({checked_id(owner_id)})"}


def due_moment(provider: Any, due_date: date | None) -> str:
    """scheduledend: the start of `due_date` in the organization's time zone, in UTC."""
    if due_date is None:
        return iso_moment(datetime.now(UTC))
    return iso_moment(datetime.combine(due_date, time.min, tzinfo=time_zone(provider)))


@translated
def task_create(
    provider: Any,
    *,
    object: str,
    record_id: str,
    owner_id: str,
    subject: str,
    due_date: date | None = None,
    description: str = "",
) -> str:
    """An open task for `owner_id` (the application user when empty) regarding the record (none when `record_id`
    is empty); returns its activityid."""
    body: dict[str, Any] = {
        "subject": subject[:SUBJECT_MAX],
        "description": (description or "")[:DESCRIPTION_MAX],
        "scheduledend": due_moment(provider, due_date),
        **owner_binding(owner_id),
        **regarding(provider, TASK, object, record_id),
    }
    metadata = metadata_of(provider)
    return str(client_of(provider).create(metadata.entity_set(TASK), body))


# --- records ---------------------------------------------------------------------------------------------------
@translated
def fields_update(provider: Any, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
    """`PATCH <set>(<id>)` with `If-Match: *` (never a create) and only the given columns."""
    if not values:
        return
    table = table_of(provider, object)
    row = checked_id(record_id)
    metadata = metadata_of(provider)
    body = column_body(metadata, table, values, creating=False)
    client_of(provider).update(metadata.entity_set(table), row, body, if_match="*")


@translated
def record_create(provider: Any, *, object: str, values: Mapping[str, Any]) -> str:
    """`POST <set>` (204 and the new row's id in OData-EntityId); duplicate detection is not asked for."""
    table = table_of(provider, object)
    metadata = metadata_of(provider)
    body = column_body(metadata, table, values, creating=True)
    return str(client_of(provider).create(metadata.entity_set(table), body))


@translated
def record_upsert(provider: Any, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
    """`PATCH <set>(<column>='<value>')` by an alternate key on `external_id_field` (the table must define one: else
    Dataverse's refusal), or by the primary id when that is the field; (id, created)."""
    table = table_of(provider, object)
    field = str(external_id_field)
    key_value = values.get(field)
    if key_value in (None, ""):
        raise CrmRejected(f"upsert needs a value for {field}", provider=PROVIDER, field_errors={field: "required"})
    metadata = metadata_of(provider)
    body = column_body(metadata, table, values, creating=True, leave_out=(field,))
    key: Any
    if field == metadata.primary_id(table):
        key = checked_id(key_value)
    else:
        spec = metadata.columns(table).get(field)
        if spec is None:
            problem = {field: "no such column"}
            raise CrmRejected(f"{table} has no column {field!r} to upsert by", provider=PROVIDER, field_errors=problem)
        try:
            key = {field: typed(spec, key_value)}
        except ValueError as exc:
            raise CrmRejected(str(exc), provider=PROVIDER, field_errors={field: str(exc)}) from None
    row_id, created = client_of(provider).upsert(metadata.entity_set(table), key, body, mode="upsert")
    return str(row_id), bool(created)


# The provider's method names (crm/provider.py), for a caller that uses them.
create_task = task_create
update_fields = fields_update
create_record = record_create
upsert = record_upsert

__all__ = [
    "PROVIDER",
    "Metadata",
    "checked_id",
    "column_body",
    "fields_update",
    "metadata_of",
    "opt_out_column",
    "record_create",
    "record_upsert",
    "regarding",
    "task_create",
]
