"""The provider's writes: a Task on a record, completed Tasks logged 100 to a call (Zoho's per-record results say
which landed), field updates and new records, upserts by a unique field, updates of many records and deletes.
provider.py resolves the module names, then calls these.

Values come typed as Leadline reads them (crm/provider.py, above `update_fields`) and go out in Zoho's JSON
(`zoho_values`, by the field's data_type): dates as yyyy-MM-dd, datetimes with their offset to the second,
Decimal amounts as JSON numbers, a record id as the lookup `{"id"}`, a user id as the owner `{"id"}`, None to
clear. Many-record writes go 100 to a call; Zoho answers each record on its own (207 when some were refused), so
a refused record is that row's CrmRejected and the others land.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from crm.errors import CrmRejected
from crm.providers.zoho.client import WRITE_BATCH, ZohoClient
from crm.providers.zoho.errors import ZohoRecordError
from crm.providers.zoho.reads import checked_id
from crm.providers.zoho.translation import PROVIDER, crm_error_of
from crm.records import Activity, ActivityLogged, WriteResult

# Zoho links a task to a lead, account or deal through What_Id + $se_module, to a contact through Who_Id.
TASK_WHO_OBJECTS = frozenset({"Contacts"})


def task_create(
    client: ZohoClient,
    *,
    module: str,
    record_id: str,
    owner_id: str,
    subject: str,
    due_date: date | None,
    description: str,
) -> str:
    link: dict[str, Any] = {}  # no record_id: a task on no record
    if record_id:
        link = (
            {"who_id": checked_id(record_id)}
            if module in TASK_WHO_OBJECTS
            else {"what_id": checked_id(record_id), "what_module": module}
        )
    return str(
        client.task_create(
            subject=subject,
            owner_id=owner_id or None,
            due_date=due_date.isoformat() if due_date else None,
            description=description,
            **link,
        )
    )


def activities_log(
    client: ZohoClient, *, activities: Sequence[Activity], module_of: Callable[[str], str]
) -> list[ActivityLogged]:
    """Completed Tasks on the records (Zoho has no activity type: `activity_type` is not written), inserted 100
    to a call with workflows off. Zoho's per-record results say which landed. No upsert (provider.py says why):
    a batch retried after an answer was lost logs those texts twice."""
    outcome: dict[int, ActivityLogged] = {}
    tasks: list[tuple[int, dict[str, Any]]] = []
    for index, activity in enumerate(activities):
        try:
            tasks.append((index, activity_task(activity, module=module_of(activity.object))))
        except (CrmRejected, ValueError) as exc:  # a record id or object Zoho cannot have: this one only
            error = exc if isinstance(exc, CrmRejected) else CrmRejected(str(exc), provider=PROVIDER)
            outcome[index] = ActivityLogged(key=activity.key, error=error)
    for start in range(0, len(tasks), WRITE_BATCH):
        batch = tasks[start : start + WRITE_BATCH]
        try:
            results = client.records_insert(module="Tasks", records=[task for _, task in batch])
        except ZohoRecordError as exc:  # some (or all) refused: each entry says which
            results = exc.results
        for (index, _), entry in zip(batch, results, strict=False):
            key = activities[index].key
            if entry.get("status") == "success":
                outcome[index] = ActivityLogged(key=key, activity_id=str((entry.get("details") or {}).get("id")))
            else:
                refused = ZohoRecordError("Zoho refused the task", results=[entry], status=400)
                outcome[index] = ActivityLogged(key=key, error=crm_error_of(refused))
    missing = CrmRejected("Zoho gave no result for this task", provider=PROVIDER)
    return [outcome.get(index) or ActivityLogged(key=a.key, error=missing) for index, a in enumerate(activities)]


def activity_task(activity: Activity, *, module: str) -> dict[str, Any]:
    """The completed Task one activity becomes, linked to its record in `module`."""
    record_id = checked_id(activity.record_id)
    task: dict[str, Any] = {"Subject": activity.subject or "SMS", "Status": "Completed", "Priority": "Normal"}
    if module in TASK_WHO_OBJECTS:
        task["Who_Id"] = {"id": record_id}
    else:
        task.update({"What_Id": {"id": record_id}, "$se_module": module})
    if activity.occurred_at is not None:
        task["Due_Date"] = activity.occurred_at.astimezone(UTC).date().isoformat()
    if activity.owner_id:
        task["Owner"] = {"id": activity.owner_id}
    if activity.description:
        task["Description"] = activity.description
    return task


# data_type -> what a plain id becomes.
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup", "userlookup"})
NUMBER_TYPES = frozenset({"double", "decimal", "percent", "currency"})


def zoho_value(value: Any, data_type: str) -> Any:
    """One typed value in Zoho's JSON for a field of `data_type` ("" when the metadata does not know the field);
    ValueError for a value that cannot be written so."""
    if value is None or isinstance(value, bool):
        return value
    if data_type in LOOKUP_TYPES and isinstance(value, str | int):
        return {"id": str(value)}
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a datetime without a time zone: {value!r}")
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        if data_type not in NUMBER_TYPES and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return value


def zoho_values(values: Mapping[str, Any], data_types: Mapping[str, str]) -> dict[str, Any]:
    return {name: zoho_value(value, data_types.get(name, "")) for name, value in values.items()}


def fields_update(
    client: ZohoClient, *, module: str, record_id: str, values: Mapping[str, Any], data_types: Mapping[str, str]
) -> None:
    """Updates with `trigger` empty: Zoho's workflow rules do not fire on Leadline's own writes."""
    record = _encoded(values, data_types)
    client.records_update(module=module, records=[{**record, "id": checked_id(record_id)}])


def record_create(client: ZohoClient, *, module: str, values: Mapping[str, Any], data_types: Mapping[str, str]) -> str:
    results = client.records_insert(module=module, records=[_encoded(values, data_types)])
    return str(results[0]["details"]["id"])


def _encoded(values: Mapping[str, Any], data_types: Mapping[str, str]) -> dict[str, Any]:
    try:
        return zoho_values(values, data_types)
    except ValueError as exc:
        raise CrmRejected(str(exc), provider=PROVIDER, code="INVALID_VALUE") from exc


def records_upsert(
    client: ZohoClient,
    *,
    module: str,
    external_id_field: str,
    rows: Sequence[Mapping[str, Any]],
    data_types: Mapping[str, str],
) -> list[WriteResult]:
    """Upserts matched by the unique `external_id_field` alone (`duplicate_check_fields`), 100 to a call, workflows
    off. A row without a value for the field could only be inserted, so it is refused here (never a duplicate)."""
    prepared: dict[int, dict[str, Any]] = {}
    outcome: dict[int, WriteResult] = {}
    for index, values in enumerate(rows):
        if values.get(external_id_field) in (None, ""):
            outcome[index] = WriteResult(
                error=CrmRejected(
                    f"no value for the external id field {external_id_field}",
                    provider=PROVIDER,
                    code="MANDATORY_NOT_FOUND",
                    field_errors={external_id_field: "required for an upsert"},
                )
            )
            continue
        try:
            prepared[index] = _encoded(values, data_types)
        except CrmRejected as exc:
            outcome[index] = WriteResult(error=exc)
    order = list(prepared)
    try:
        entries = client.records_upsert(
            module=module, records=[prepared[index] for index in order], duplicate_check_fields=[external_id_field]
        )
    except ZohoRecordError as exc:
        entries = exc.results
    for index, entry in zip(order, entries, strict=False):
        if entry.get("status") == "success":
            record_id = str((entry.get("details") or {}).get("id") or "")
            outcome[index] = WriteResult(record_id=record_id, created=entry.get("action") == "insert")
        else:
            outcome[index] = WriteResult(error=_entry_error(entry))
    return [outcome.get(index) or WriteResult(error=_missing()) for index in range(len(rows))]


def records_update(
    client: ZohoClient,
    *,
    module: str,
    updates: Sequence[tuple[str, Mapping[str, Any]]],
    data_types: Mapping[str, str],
) -> list[WriteResult]:
    """Updates of many records, 100 to a call, workflows off; each record's own result."""
    prepared: dict[int, dict[str, Any]] = {}
    outcome: dict[int, WriteResult] = {}
    for index, (record_id, values) in enumerate(updates):
        try:
            prepared[index] = {**_encoded(values, data_types), "id": checked_id(record_id)}
        except CrmRejected as exc:
            outcome[index] = WriteResult(record_id=str(record_id), error=exc)
    order = list(prepared)
    try:
        entries = client.records_update(module=module, records=[prepared[index] for index in order])
    except ZohoRecordError as exc:
        entries = exc.results
    for index, entry in zip(order, entries, strict=False):
        record_id = str(updates[index][0])
        if entry.get("status") == "success":
            outcome[index] = WriteResult(record_id=record_id)
        else:
            outcome[index] = WriteResult(record_id=record_id, error=_entry_error(entry))
    return [
        outcome.get(index) or WriteResult(record_id=str(updates[index][0]), error=_missing())
        for index in range(len(updates))
    ]


def record_delete(client: ZohoClient, *, module: str, record_id: str) -> bool:
    """To the recycle bin; False when Zoho has no live record of that id (INVALID_DATA: deleted already)."""
    try:
        checked = checked_id(record_id)
    except CrmRejected:
        return False
    try:
        client.records_delete(module=module, record_ids=[checked])
    except ZohoRecordError as exc:
        entry = exc.results[0] if exc.results else {}
        if entry.get("code") == "INVALID_DATA":
            return False
        raise crm_error_of(exc) from exc
    return True


def _entry_error(entry: dict[str, Any]) -> CrmRejected:
    """One refused record's entry as its CrmRejected (CrmNotFound for an id Zoho has no record of)."""
    error = crm_error_of(ZohoRecordError("Zoho refused the record", results=[entry], status=400))
    if isinstance(error, CrmRejected):
        return error
    return CrmRejected(str(entry.get("message") or "Zoho refused the record"), provider=PROVIDER)


def _missing() -> CrmRejected:
    return CrmRejected("Zoho gave no result for this record", provider=PROVIDER)
