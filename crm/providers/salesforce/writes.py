"""The provider's writes over the REST API: a Task (`POST sobjects/Task`), field updates (`PATCH sobjects/X/<id>`),
new records (`POST sobjects/X`), upserts by external id (`PATCH sobjects/X/<field>/<value>`), deletes
(`DELETE sobjects/X/<id>`), and in sObject Collections of 200 (allOrNone false: one record's refusal is its own)
completed Tasks, upserts of many records by external id (`PATCH composite/sobjects/X/<field>`) and updates of many
by Id (`PATCH composite/sobjects`). provider.py resolves names and the describe mapping, then calls these.

Values are checked against their fields' describe types before they are sent (`write_body`): Salesforce's own
answer to a value of the wrong type, JSON_PARSER_ERROR, names no field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.salesforce import soql
from crm.providers.salesforce.client import SalesforceClient
from crm.providers.salesforce.errors import PROVIDER, SalesforceNotFound, SalesforceRejected
from crm.providers.salesforce.mapping import ObjectMapping
from crm.records import Activity, ActivityLogged, WriteResult

WHO_OBJECTS = frozenset({"Lead", "Contact"})  # a Task names these in WhoId, everything else in WhatId
ACTIVITY_KEY_FIELD = "Leadline_Message_Id__c"  # Task's external id, when the org created it (docs/crm/salesforce.md)
SUBJECT_MAX = 255
DESCRIPTION_MAX = 32_000
COMPOSITE_MAX = 200  # records per sObject Collections call
# A Lead needs a Company; one created without it gets what Salesforce's own Web-to-Lead puts there.
CREATE_DEFAULTS: dict[str, dict[str, str]] = {"Lead": {"Company": "[not provided]"}}

# How a Task names the record it belongs to: (Leadline object name, record id) -> {"WhoId" | "WhatId": id}.
Link = Callable[[str, str], dict[str, str]]
# An sObject's describe mapping (the provider's, cached): asked for only when a write gets that far.
MappingOf = Callable[[str], ObjectMapping]


def jsonable(value: Any) -> Any:
    """A typed value in the REST API's JSON: datetimes in UTC to the millisecond (what Salesforce keeps), dates
    ISO, Decimals as JSON numbers, a multi-picklist's list as its `;`-joined text (an empty one clears)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return ";".join(str(item) for item in value) or None
    return value


# What a field of each describe type accepts in a write (Salesforce answers a JSON_PARSER_ERROR naming no field).
_WRITE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "boolean": (lambda value: isinstance(value, bool), "expected true or false"),
    "int": (lambda value: isinstance(value, int) and not isinstance(value, bool), "expected a whole number"),
    "double": (
        lambda value: isinstance(value, int | float | Decimal) and not isinstance(value, bool),
        "expected a number",
    ),
    "currency": (
        lambda value: isinstance(value, int | float | Decimal) and not isinstance(value, bool),
        "expected a number",
    ),
    "percent": (
        lambda value: isinstance(value, int | float | Decimal) and not isinstance(value, bool),
        "expected a number",
    ),
    "date": (
        lambda value: (isinstance(value, date) and not isinstance(value, datetime)) or _iso_date(value),
        "expected a date",
    ),
    "datetime": (
        lambda value: (isinstance(value, datetime) and value.tzinfo is not None) or _iso_datetime(value),
        "expected a date and time with its offset",
    ),
    "multipicklist": (
        lambda value: isinstance(value, str) or (isinstance(value, list | tuple) and all(_choice(v) for v in value)),
        "expected a list of picklist values",
    ),
}


def _choice(value: Any) -> bool:
    return isinstance(value, str) and ";" not in value


def _iso_date(value: Any) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def checked_id(record_id: str) -> str:
    """The id as given, or CrmNotFound (MALFORMED_ID) when it is no Salesforce record id."""
    if not soql.is_record_id(record_id):
        raise CrmNotFound(f"{record_id!r} is not a Salesforce record id", provider=PROVIDER, code="MALFORMED_ID")
    return str(record_id)


def write_body(
    mapping: ObjectMapping, sobject: str, values: Mapping[str, Any], *, leave_out: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The values as JSON, each checked against its field's describe type first: a value of the wrong type is
    refused here with its field named (Salesforce's own answer, JSON_PARSER_ERROR, names none). Fields the
    describe does not know are sent as they are, for Salesforce to judge (INVALID_FIELD names them)."""
    fields = mapping.by_name
    problems = {}
    for name, value in values.items():
        spec = fields.get(name)
        check = _WRITE_CHECKS.get(spec.sf_type) if spec is not None else None
        if check is not None and value is not None and not check[0](value):
            problems[name] = f"{check[1]}, got {value!r}"
    if problems:
        named = ", ".join(sorted(problems))
        raise CrmRejected(
            f"Salesforce would refuse these {sobject} values: {named}",
            provider=PROVIDER,
            code="INVALID_TYPE_ON_FIELD",
            field_errors=problems,
        )
    return {soql.name(name): jsonable(value) for name, value in values.items() if name not in leave_out}


def task_link(sobject: str, record_id: str) -> dict[str, str]:
    """A Task's link to its record: WhoId for a lead or contact, WhatId for anything else."""
    if not record_id:
        return {}
    return {("WhoId" if sobject in WHO_OBJECTS else "WhatId"): checked_id(record_id)}


def task_create(
    client: SalesforceClient,
    *,
    link: dict[str, str],
    owner_id: str,
    subject: str,
    due_date: date | None,
    description: str,
) -> str:
    body: dict[str, Any] = {
        "Subject": subject[:SUBJECT_MAX],
        "Status": "Not Started",
        "Priority": "Normal",
        **link,
    }
    if owner_id:
        body["OwnerId"] = owner_id
    if due_date:
        body["ActivityDate"] = due_date.isoformat()
    if description:
        body["Description"] = description[:DESCRIPTION_MAX]
    answer = client.post("sobjects/Task", json=body, expect=(201,))
    return str(answer.json()["id"])


def fields_update(
    client: SalesforceClient, mapping_of: MappingOf, *, sobject: str, record_id: str, values: Mapping[str, Any]
) -> None:
    body = write_body(mapping_of(sobject), sobject, values)
    client.patch(f"sobjects/{sobject}/{checked_id(record_id)}", json=body, expect=(204, 200))


def record_create(client: SalesforceClient, mapping_of: MappingOf, *, sobject: str, values: Mapping[str, Any]) -> str:
    """`POST sobjects/X`; a Lead without a Company gets "[not provided]", as Salesforce's Web-to-Lead does."""
    body = write_body(mapping_of(sobject), sobject, values)
    for name, default in CREATE_DEFAULTS.get(sobject, {}).items():
        if body.get(name) in (None, ""):
            body[name] = default
    return str(client.post(f"sobjects/{sobject}", json=body, expect=(201,)).json()["id"])


def record_upsert(
    client: SalesforceClient,
    mapping_of: MappingOf,
    *,
    sobject: str,
    external_id_field: str,
    values: Mapping[str, Any],
) -> tuple[str, bool]:
    """`PATCH sobjects/X/<field>/<value>`: 201 created; 200 (API v46+) or 204 updated; 300 several records
    hold the value (CrmRejected: an operator must merge them)."""
    field = soql.name(external_id_field)
    if values.get(field) in (None, ""):
        raise CrmRejected(f"upsert needs a value for {field}", provider=PROVIDER, field_errors={field: "required"})
    key = str(jsonable(values[field]))
    body = write_body(mapping_of(sobject), sobject, values, leave_out=(field, "Id"))
    answer = client.patch(f"sobjects/{sobject}/{field}/{quote(key, safe='')}", json=body, expect=(200, 201, 204))
    if answer.status in (200, 201):
        result = answer.json() or {}
        if result.get("id"):
            return str(result["id"]), answer.status == 201 or bool(result.get("created"))
    query = soql.select(["Id"], sobject, where=f"{field} = {soql.string(key)}", limit=2)
    rows = [row for batch in client.query_batches(query) for row in batch]
    if not rows:
        raise CrmNotFound(f"{sobject} with {field} {key!r} is gone after its upsert", provider=PROVIDER)
    return str(rows[0]["Id"]), False


def activities_log(
    client: SalesforceClient, mapping_of: MappingOf, *, activities: Sequence[Activity], link: Link
) -> list[ActivityLogged]:
    """Completed Tasks in sObject Collections of 200: upserted by Leadline_Message_Id__c when the org has that
    external id on Task (a retry logs nothing twice), else created. One result per activity, in order."""
    results: dict[int, ActivityLogged] = {}
    pending: list[tuple[int, dict[str, Any]]] = []
    keyed = ACTIVITY_KEY_FIELD in mapping_of("Task").by_name
    for index, activity in enumerate(activities):
        try:
            pending.append((index, activity_task(activity, keyed=keyed, link=link)))
        except (CrmRejected, ValueError) as exc:
            error = exc if isinstance(exc, CrmRejected) else CrmRejected(str(exc), provider=PROVIDER)
            results[index] = ActivityLogged(key=activity.key, error=error)
    for start in range(0, len(pending), COMPOSITE_MAX):
        chunk = pending[start : start + COMPOSITE_MAX]
        body = {"allOrNone": False, "records": [task for _, task in chunk]}
        if keyed:
            answer = client.patch(f"composite/sobjects/Task/{ACTIVITY_KEY_FIELD}", json=body, expect=(200,))
        else:
            answer = client.post("composite/sobjects", json=body, expect=(200,))
        outcomes = answer.json() or []
        for position, (index, _) in enumerate(chunk):
            outcome = outcomes[position] if position < len(outcomes) else {}
            results[index] = logged(activities[index].key, outcome)
    return [results[index] for index in range(len(activities))]


def activity_task(activity: Activity, *, keyed: bool, link: Link) -> dict[str, Any]:
    """The completed Task one activity becomes (its external id set when the org has the field)."""
    moment = activity.occurred_at or datetime.now(UTC)
    task: dict[str, Any] = {
        "attributes": {"type": "Task"},
        "Subject": activity.subject[:SUBJECT_MAX],
        "Status": "Completed",
        "Priority": "Normal",
        "ActivityDate": moment.astimezone(UTC).date().isoformat(),
        **link(activity.object, activity.record_id),
    }
    if activity.description:
        task["Description"] = activity.description[:DESCRIPTION_MAX]
    if activity.owner_id:
        task["OwnerId"] = activity.owner_id
    if activity.activity_type:
        task["Type"] = activity.activity_type
    if keyed:
        task[ACTIVITY_KEY_FIELD] = activity.key
    return task


def logged(key: str, outcome: Mapping[str, Any]) -> ActivityLogged:
    """One sObject Collections result as an ActivityLogged: the Task's id, or that record's refusal."""
    if outcome.get("success"):
        return ActivityLogged(key=key, activity_id=str(outcome.get("id") or ""))
    return ActivityLogged(key=key, error=record_error(outcome))


def record_error(outcome: Mapping[str, Any]) -> CrmRejected:
    """A refused record of an sObject Collections call: its first error's message and statusCode, every error's
    fields (a validation rule shown at a field names it); CrmNotFound when the record is gone (deleted, or no
    such id)."""
    errors = outcome.get("errors") or [{"message": "Salesforce gave no result for this record"}]
    first = errors[0]
    code = str(first.get("statusCode") or first.get("errorCode") or "")
    message = str(first.get("message") or code or "refused")
    field_errors = {
        str(name): str(error.get("message") or "") for error in errors for name in error.get("fields") or []
    }
    error_class = CrmNotFound if code in GONE_CODES else CrmRejected
    return error_class(message, provider=PROVIDER, code=code, field_errors=field_errors)


# --- many records: sObject Collections (two-way sync) ----------------------------------------------------------
GONE_CODES = frozenset({"NOT_FOUND", "ENTITY_IS_DELETED"})
Row = tuple[int, str, dict[str, Any]]  # (index in the caller's rows, key, the record's JSON)
Outcome = Mapping[str, Any] | CrmRejected  # a collection result, or the refusal of a call that held this row alone


def _chunks(keyed: Sequence[Row]) -> list[list[Row]]:
    """Rows (index, key, body) in calls of COMPOSITE_MAX, in order, no key twice in one call: Salesforce fails
    every record of a call that repeats an external id (DUPLICATE_EXTERNAL_ID), and a later value for one record
    must land after the earlier one."""
    chunks: list[list[Row]] = []
    keys: set[str] = set()
    for row in keyed:
        if not chunks or len(chunks[-1]) >= COMPOSITE_MAX or row[1] in keys:
            chunks.append([])
            keys = set()
        chunks[-1].append(row)
        keys.add(row[1])
    return chunks


def _rejected(exc: Exception) -> CrmRejected:
    return exc if isinstance(exc, CrmRejected) else CrmRejected(str(exc), provider=PROVIDER)


def records_upsert_many(
    client: SalesforceClient,
    mapping_of: MappingOf,
    *,
    sobject: str,
    external_id_field: str,
    rows: Sequence[Mapping[str, Any]],
) -> list[WriteResult]:
    """`PATCH composite/sobjects/<X>/<field>` with allOrNone false, 200 records a call: one result per row, in
    order. A row Salesforce refuses (a validation rule, a duplicate, several records holding its external id) is
    that row's CrmRejected; a row refused before sending (no external id, a value of the wrong type) too. A Lead
    created without a Company is sent once more with Web-to-Lead's "[not provided]", as `record_create` does (an
    update never needs it: only a create misses a required field the body does not clear)."""
    field = soql.name(external_id_field)
    mapping = mapping_of(sobject)
    results: dict[int, WriteResult] = {}
    pending: list[Row] = []
    for index, values in enumerate(rows):
        try:
            if values.get(field) in (None, ""):
                raise CrmRejected(
                    f"upsert needs a value for {field}", provider=PROVIDER, field_errors={field: "required"}
                )
            body = {"attributes": {"type": sobject}, **write_body(mapping, sobject, values, leave_out=("Id",))}
        except CrmRejected as exc:
            results[index] = WriteResult(error=_rejected(exc))
            continue
        pending.append((index, str(body[field]).lower(), body))
    retry: list[Row] = []
    for outcome, (index, key, body) in _collections_send(client, f"composite/sobjects/{sobject}/{field}", pending):
        defaults = _create_defaults_missing(sobject, body, outcome)
        if defaults:
            retry.append((index, key, {**body, **defaults}))
            continue
        results[index] = _write_result(outcome)
    for outcome, (index, _, _) in _collections_send(client, f"composite/sobjects/{sobject}/{field}", retry):
        results[index] = _write_result(outcome)
    return [results[index] for index in range(len(rows))]


def records_update_many(
    client: SalesforceClient,
    mapping_of: MappingOf,
    *,
    sobject: str,
    updates: Sequence[tuple[str, Mapping[str, Any]]],
) -> list[WriteResult]:
    """`PATCH composite/sobjects` with allOrNone false, 200 records a call (each `{attributes: {type}, Id, ...}`):
    one result per update, in order; a record deleted meanwhile (or an id of no record) is that result's
    CrmNotFound. An update with no values is done without a call."""
    mapping = mapping_of(sobject)
    results: dict[int, WriteResult] = {}
    pending: list[Row] = []
    for index, (record_id, values) in enumerate(updates):
        try:
            checked = checked_id(record_id)
            body = write_body(mapping, sobject, values, leave_out=("Id",))
        except CrmRejected as exc:
            results[index] = WriteResult(record_id=str(record_id), error=_rejected(exc))
            continue
        if not body:
            results[index] = WriteResult(record_id=checked)
            continue
        pending.append((index, checked, {"attributes": {"type": sobject}, "Id": checked, **body}))
    for outcome, (index, record_id, _) in _collections_send(client, "composite/sobjects", pending):
        result = _write_result(outcome)
        results[index] = WriteResult(record_id=record_id, error=result.error)
    return [results[index] for index in range(len(updates))]


def _collections_send(client: SalesforceClient, path: str, rows: Sequence[Row]) -> list[tuple[Outcome, Row]]:
    """Each row's outcome, calling `path` once per chunk. Whatever stops a whole call (auth, down, allocation
    used up) is raised: rows of earlier chunks landed, and a retry of the whole batch repeats them harmlessly
    (upserts by external id, updates that set values)."""
    answered: list[tuple[Outcome, Row]] = []
    for chunk in _chunks(rows):
        answered += _chunk_send(client, path, chunk)
    return answered


def _chunk_send(client: SalesforceClient, path: str, chunk: Sequence[Row]) -> list[tuple[Outcome, Row]]:
    """One collection call. Salesforce refuses a whole request it cannot read (400: a value it cannot
    deserialize, a field it does not know, naming no record): the chunk is halved and sent again until the refused
    rows are alone, so each gets its own message and the others land. A 404 for the resource itself (no such
    external id field) refuses every row alike."""
    try:
        answer = client.patch(path, json={"allOrNone": False, "records": [row[2] for row in chunk]}, expect=(200,))
    except SalesforceRejected as exc:
        if len(chunk) > 1 and not isinstance(exc, SalesforceNotFound):
            half = len(chunk) // 2
            return _chunk_send(client, path, chunk[:half]) + _chunk_send(client, path, chunk[half:])
        field_errors = {name: exc.message for name in exc.fields}
        refused = CrmRejected(exc.message, provider=PROVIDER, code=exc.error_code, field_errors=field_errors)
        return [(refused, row) for row in chunk]
    outcomes = answer.json() or []
    answered: list[tuple[Outcome, Row]] = []
    for position, row in enumerate(chunk):
        outcome = outcomes[position] if position < len(outcomes) else {}
        answered.append((outcome if isinstance(outcome, Mapping) else {}, row))
    return answered


def _write_result(outcome: Outcome) -> WriteResult:
    if isinstance(outcome, CrmRejected):
        return WriteResult(error=outcome)
    if outcome.get("success"):
        return WriteResult(record_id=str(outcome.get("id") or ""), created=bool(outcome.get("created")))
    return WriteResult(record_id=str(outcome.get("id") or ""), error=record_error(outcome))


def _create_defaults_missing(sobject: str, body: Mapping[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The create defaults (`CREATE_DEFAULTS`) to send a refused row again with: only when Salesforce refused it for
    missing exactly such fields, which the row did not give."""
    defaults = CREATE_DEFAULTS.get(sobject) or {}
    if isinstance(outcome, CrmRejected) or outcome.get("success") or not defaults:
        return {}
    errors = outcome.get("errors") or []
    if len(errors) != 1 or errors[0].get("statusCode") != "REQUIRED_FIELD_MISSING":
        return {}
    missing = [str(name) for name in errors[0].get("fields") or []]
    if not missing or any(name not in defaults or body.get(name) not in (None, "") for name in missing):
        return {}
    return {name: defaults[name] for name in missing}


def record_delete(client: SalesforceClient, *, sobject: str, record_id: str) -> bool:
    """`DELETE sobjects/<X>/<id>` (to the Recycle Bin): True; False when Salesforce has no such live record (404
    NOT_FOUND, or ENTITY_IS_DELETED: a retried delete), or the id is no Salesforce id (it would answer 404)."""
    if not soql.is_record_id(record_id):
        return False
    try:
        client.delete(f"sobjects/{sobject}/{record_id}", expect=(204,))
    except SalesforceNotFound:
        return False
    return True
