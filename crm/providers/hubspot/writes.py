"""The provider's writes over the CRM objects API: a task (`POST objects/tasks` with its association), field
updates (`PATCH objects/{type}/{id}`), new records (`POST objects/{type}`) and upserts by a unique property
(`POST objects/{type}/batch/upsert` with `idProperty`). Timeline activities live in activities.py.

Each function takes the provider (provider.py delegates: `writes.create_task(self, ...)`) and leaves only
`crm.errors`: the client's errors are translated here too, so a caller that forgets still gets the CRM's types.

HubSpot takes every property value as text: booleans "true"/"false", dates "YYYY-MM-DD", date-times as epoch
milliseconds, and "" clears a value (`property_text`).
"""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import PROVIDER, HubSpotMissingScopes, HubSpotRejected, translate, translated

TASKS = "tasks"
CONTACTS = "contacts"
# The association type ids (HUBSPOT_DEFINED, unlabeled) public clients use, for when the labels endpoint names
# none: task -> contact 204, task -> company 192, task -> deal 216; note 202/190/214; communication 81/87/85.
DEFAULT_TYPE_IDS: dict[tuple[str, str], int] = {
    ("tasks", "contacts"): 204,
    ("tasks", "companies"): 192,
    ("tasks", "deals"): 216,
    ("notes", "contacts"): 202,
    ("notes", "companies"): 190,
    ("notes", "deals"): 214,
    ("communications", "contacts"): 81,
    ("communications", "companies"): 87,
    ("communications", "deals"): 85,
}
TASK_PRIORITY = "MEDIUM"
ACTIVITIES_PER_CALL = 100  # inputs of one batch/create (the provider's max_activities_per_call)
TEXT_MAX = 65_536  # a property value's length HubSpot takes
# Properties HubSpot lets an upsert match on besides the unique-valued ones.
BUILT_IN_ID_PROPERTIES: dict[str, frozenset[str]] = {CONTACTS: frozenset({"email"})}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_type_ids: dict[tuple[str, str], int] = {}  # (from, to) -> type id, read once per process
_type_ids_lock = threading.Lock()


# --- values ----------------------------------------------------------------------------------------------------
def property_text(value: Any) -> str:
    """A value as HubSpot's property text (crm/provider.py's values written): None and "" clear it; booleans
    "true"/"false"; datetimes epoch milliseconds (a naive one is UTC); dates "YYYY-MM-DD"; Decimals without an
    exponent; a multi-select's values joined with ";"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return str((moment - EPOCH) // timedelta(milliseconds=1))  # exact: no float rounding of the timestamp
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(property_text(item) for item in value)
    return str(value)


def properties_text(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(name): property_text(value) for name, value in values.items()}


def checked_id(record_id: Any) -> str:
    """A HubSpot record id (digits), or CrmNotFound before any call is spent on it."""
    text = str(record_id or "").strip()
    if not text.isdigit():
        raise CrmNotFound(f"{record_id!r} is not a HubSpot record id", provider=PROVIDER, code="OBJECT_NOT_FOUND")
    return text


def milliseconds(moment: datetime) -> str:
    return property_text(moment.astimezone(UTC))


# --- what the provider holds -----------------------------------------------------------------------------------
def client_of(provider: Any) -> Any:
    """The provider's client (its priority and sleep), or one made for its account."""
    client = getattr(provider, "client", None)
    if client is not None:
        return client
    from crm.providers.hubspot.client import client_for

    client = client_for(account_of(provider))
    provider.client = client
    return client


def account_of(provider: Any) -> Any:
    return getattr(provider, "account", None) or provider.connection


def connection_of(provider: Any) -> Any:
    """The HubSpotConnection behind the provider (its owner, timeline setting), None when there is none yet."""
    found = getattr(provider, "hubspot_connection", None)
    if callable(found):
        return found()
    try:
        return account_of(provider).hubspot_connection
    except (AttributeError, ObjectDoesNotExist):  # no connection row: the account alone (e.g. a test's)
        return None


def default_owner(provider: Any) -> str:
    """The owner of records made without one: the connection's (the person who connected)."""
    return str(getattr(connection_of(provider), "owner_id", "") or "")


def time_zone(provider: Any) -> zoneinfo.ZoneInfo:
    """The organization's time zone: its connection's when it has one, else its first studio's, else
    HUBSPOT_PORTAL_TIME_ZONE."""
    cached = getattr(provider, "_hubspot_write_zone", None)
    if cached is not None:
        return cached
    name = str(getattr(connection_of(provider), "time_zone", "") or "")
    if not name:
        organization = getattr(account_of(provider), "organization", None)
        studios = getattr(organization, "studios", None)
        first = studios.order_by("pk").values_list("time_zone", flat=True).first() if studios is not None else None
        name = first or ""
    try:
        zone = zoneinfo.ZoneInfo(name or str(hubspot_settings.PORTAL_TIME_ZONE))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    provider._hubspot_write_zone = zone
    return zone


# --- associations ----------------------------------------------------------------------------------------------
def association_type_id(provider: Any, from_type: str, to_type: str) -> int:
    """The unlabeled HUBSPOT_DEFINED association type from one object to another, read from the labels endpoint
    once per process (every portal shares them); the well-known id when the endpoint lists none, or refuses the
    read (a missing scope, an unknown pair: the write itself says what HubSpot thinks of it, not a lookup)."""
    key = (from_type, to_type)
    with _type_ids_lock:
        if key in _type_ids:
            return _type_ids[key]
    try:
        found = _labels_type_id(client_of(provider).association_labels(from_type, to_type))
    except (HubSpotRejected, HubSpotMissingScopes):
        if key in DEFAULT_TYPE_IDS:
            return DEFAULT_TYPE_IDS[key]  # not cached: the next write asks again
        raise
    type_id = found if found is not None else DEFAULT_TYPE_IDS.get(key)
    if type_id is None:
        raise CrmRejected(f"HubSpot names no association from {from_type} to {to_type}", provider=PROVIDER)
    with _type_ids_lock:
        _type_ids[key] = type_id
    return type_id


def _labels_type_id(labels: Any) -> int | None:
    rows = labels.get("results", []) if isinstance(labels, Mapping) else list(labels or [])
    defined = [row for row in rows if str(row.get("category") or "").upper() == "HUBSPOT_DEFINED"]
    for row in sorted(defined, key=lambda row: row.get("label") is not None):
        type_id = row.get("typeId", row.get("associationTypeId"))
        if type_id is not None:
            return int(type_id)
    return None


def forget_association_types() -> None:
    """Drop the per-process cache (tests)."""
    with _type_ids_lock:
        _type_ids.clear()


def association(provider: Any, from_type: str, to_type: str, record_id: str) -> dict[str, Any]:
    """One `associations` entry of a create: the record and the unlabeled type from `from_type` to it."""
    target = checked_id(record_id)  # before any call: an id of another CRM is refused for free
    type_id = association_type_id(provider, from_type, to_type)
    return {
        "to": {"id": target},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
    }


# --- tasks -----------------------------------------------------------------------------------------------------
def task_timestamp(provider: Any, due_date: date | None) -> str:
    """hs_timestamp (required: the due date): the start of `due_date` in the organization's time zone, or now."""
    if due_date is None:
        return milliseconds(datetime.now(UTC))
    return milliseconds(datetime.combine(due_date, time.min, tzinfo=time_zone(provider)))


@translated
def create_task(
    provider: Any,
    *,
    object: str,
    record_id: str,
    owner_id: str,
    subject: str,
    due_date: date | None = None,
    description: str = "",
) -> str:
    """A NOT_STARTED task for `owner_id` (the connection's owner when empty), associated with the record (on no
    record when `record_id` is empty); returns its id."""
    properties = {
        "hs_timestamp": task_timestamp(provider, due_date),
        "hs_task_subject": subject[:TEXT_MAX],
        "hs_task_body": (description or "")[:TEXT_MAX],
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": TASK_PRIORITY,
        "hs_task_type": "TODO",
    }
    owner = owner_id or default_owner(provider)
    if owner:
        properties["hubspot_owner_id"] = str(owner)
    associations = []
    if record_id:
        associations.append(association(provider, TASKS, provider.vendor_object(object), record_id))
    created = client_of(provider).object_create(TASKS, properties, associations=associations)
    return str(created["id"])


# --- records ---------------------------------------------------------------------------------------------------
@translated
def update_fields(provider: Any, *, object: str, record_id: str, values: Mapping[str, Any]) -> None:
    """`PATCH objects/{type}/{id}` with the values as text ("" clears); a property HubSpot refuses is a
    CrmRejected naming it."""
    if not values:
        return
    object_type = provider.vendor_object(object)
    with naming_fields(values):
        client_of(provider).object_update(object_type, checked_id(record_id), properties_text(values))


@translated
def create_record(provider: Any, *, object: str, values: Mapping[str, Any]) -> str:
    object_type = provider.vendor_object(object)
    with naming_fields(values):
        created = client_of(provider).object_create(object_type, properties_text(values))
    return str(created["id"])


@translated
def upsert(provider: Any, *, object: str, external_id_field: str, values: Mapping[str, Any]) -> tuple[str, bool]:
    """`batch/upsert` of one input by `idProperty` (a unique-valued property: another is refused before any
    write); (id, created) from the answer's `new`."""
    object_type = provider.vendor_object(object)
    field = str(external_id_field)
    key = property_text(values.get(field))
    if not key:
        raise CrmRejected(f"upsert needs a value for {field}", provider=PROVIDER, field_errors={field: "required"})
    require_unique(provider, object_type, field)
    properties = properties_text({name: value for name, value in values.items() if name != field})
    with naming_fields(values):
        answer = client_of(provider).batch_upsert(
            object_type, [{"id": key, "idProperty": field, "properties": properties}]
        )
    results, errors = batch_parts(answer)
    if errors:
        raise rejection(errors[0], values)
    if not results:
        raise CrmRejected(
            f"HubSpot answered the upsert of {object_type} {field}={key!r} with no record", provider=PROVIDER
        )
    result = results[0]
    return str(result["id"]), bool(result.get("new"))


def require_unique(provider: Any, object_type: str, field: str) -> None:
    """CrmRejected unless `field` is a unique-valued property of the object (or one HubSpot matches on itself)."""
    if field == "hs_object_id" or field in BUILT_IN_ID_PROPERTIES.get(object_type, ()):
        return
    definition = property_definition(provider, object_type, field)
    if definition is None:
        raise CrmRejected(
            f"{object_type} has no property {field!r} to upsert by",
            provider=PROVIDER,
            code="PROPERTY_DOESNT_EXIST",
            field_errors={field: "no such property"},
        )
    if not definition.get("hasUniqueValue"):
        raise CrmRejected(
            f"{object_type}.{field} is not a unique-value property, so HubSpot cannot upsert by it: create a property "
            "with unique values (Require unique values) and upsert by that",
            provider=PROVIDER,
            code="NOT_UNIQUE_PROPERTY",
            field_errors={field: "not a unique-value property"},
        )


def property_definition(provider: Any, object_type: str, name: str) -> Mapping[str, Any] | None:
    """A property's definition from the properties API (the provider's cached list when it keeps one)."""
    cached = getattr(provider, "_properties", None)
    if callable(cached):
        rows = cached(object_type)
    else:
        store = provider.__dict__.setdefault("_hubspot_write_properties", {})
        if object_type not in store:
            store[object_type] = list(client_of(provider).properties(object_type))
        rows = store[object_type]
    return next((row for row in rows if str(row.get("name")) == name), None)


# --- errors ----------------------------------------------------------------------------------------------------
def batch_parts(answer: Any) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(results, errors) of a batch answer, whether the client hands a tuple, an object or the JSON body."""
    if isinstance(answer, tuple) and len(answer) == 2:
        return list(answer[0] or []), list(answer[1] or [])
    if isinstance(answer, Mapping):
        return list(answer.get("results") or []), list(answer.get("errors") or [])
    return list(getattr(answer, "results", None) or []), list(getattr(answer, "errors", None) or [])


def named_properties(error: Mapping[str, Any], values: Mapping[str, Any] = ()) -> dict[str, str]:
    """The properties one HubSpot error names (`context.propertyName`, `name`, or a quoted property in the message
    that is among `values`), each with the message."""
    found: dict[str, str] = {}
    details = [error, *(error.get("errors") or [])]
    for item in details:
        message = str(item.get("message") or error.get("message") or "refused")
        context = item.get("context") or {}
        names = context.get("propertyName") or context.get("propertyNames") or item.get("name") or []
        for name in [names] if isinstance(names, str) else names:
            found[str(name)] = message
        for name in values:
            if f'"{name}"' in message or f"'{name}'" in message or f" {name} " in f" {message} ":
                found.setdefault(str(name), message)
    return found


def rejection(error: Mapping[str, Any], values: Mapping[str, Any] = ()) -> CrmRejected:
    """A batch item's error as the crm.errors type (CrmNotFound for a missing object or record)."""
    message = str(error.get("message") or "HubSpot refused the record")
    category = str(error.get("category") or "")
    kind = CrmNotFound if category == "OBJECT_NOT_FOUND" or str(error.get("status")) == "404" else CrmRejected
    return kind(
        message,
        provider=PROVIDER,
        code=category,
        field_errors=named_properties(error, values),
        details=dict(error),
    )


@contextmanager
def naming_fields(values: Mapping[str, Any]) -> Iterator[None]:
    """A refusal as CrmRejected with the properties it blames in `field_errors`, also when HubSpot names them only
    in its message (callers decide on the field, never on the text)."""
    try:
        yield
    except HubSpotRejected as exc:
        error = translate(exc)
        if isinstance(error, CrmRejected) and not error.field_errors:
            error.field_errors = named_properties({"message": exc.message, "errors": exc.errors}, values)
        raise error from exc
