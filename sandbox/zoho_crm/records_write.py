"""Writing records: insert `POST /crm/v8/{module}`, update `PUT /crm/v8/{module}[/{id}]`, upsert
`POST /crm/v8/{module}/upsert`, delete `DELETE /crm/v8/{module}?ids=` and `/{module}/{id}` (docs/vendors/zoho-crm.md,
Writes; crm-oas createRecords examples; the v8 spec's "Upsert Records": Body_Wrapper, Success_Response).

Body `{"data": [≤100 records], "trigger": [...]}`. Per-record results keep input order; HTTP 201 (insert) or
200 (update, delete) when all succeed, 207 when mixed, 400 when all fail. Body-level problems answer one
top-level error. `trigger` reaches the store's change events: workflow rules fire only when "workflow" is in
it. An omitted `trigger` means every trigger (Zoho's documented default is to run them unless told `[]`; the
v8 default is UNCONFIRMED, so the stricter reading is emulated: a product that forgets `"trigger": []` sees
its own workflow webhooks come back). Updates bump Modified_Time and Modified_By; a converted lead cannot be
updated (CONVERTED_RECORD). A value a unique field already holds on another record is DUPLICATE_DATA; the org's
validation rules refuse API writes setting the fields they guard (validation.py).

Upsert: `duplicate_check_fields` (the v8 spec's body field; api-facts.md calls the name UNCONFIRMED) lists the
fields a record is matched by, in order; the first one the record gives a value for that matches one record
decides the update (`action: "update"`, `duplicate_field` its name), no match inserts (`action: "insert"`). A value
matching two or more records is that record's DUPLICATE_DATA (`more_records: true`): the emulator refuses rather
than guess which to update. A check field that is neither unique nor the module's system duplicate check (Leads
and Contacts: Email; Accounts: Account_Name; Deals: Deal_Name) answers a top-level INVALID_DATA. Without the list,
the system field and then the unique fields are tried.

`zoho.records_written:<org id>` (the kit's counters) tallies each record an API call wrote (inserted, updated,
upserted, deleted); refused records count none.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json, zoho_error
from sandbox.state import SandboxState
from sandbox.zoho_crm import validation
from sandbox.zoho_crm.calls import crm_endpoint, invalid_module, param_error
from sandbox.zoho_crm.orgs import ZohoOrg, module_scope
from sandbox.zoho_crm.records_read import ID_PATTERN
from sandbox.zoho_crm.store import RecordStore

TRIGGERS = ("workflow", "approval", "blueprint", "pathfinder", "orchestration")
SYSTEM_DUPLICATE_CHECK = {"Leads": "Email", "Contacts": "Email", "Accounts": "Account_Name", "Deals": "Deal_Name"}
DEFAULT_TRIGGERS = ("workflow", "approval", "blueprint")
MAX_RECORDS = 100


def _body(request: Request) -> tuple[list[Any], tuple[str, ...]] | Response:
    body = request_json(request)
    if not isinstance(body, dict):
        return zoho_error("INVALID_DATA", "invalid data", details={"expected_data_type": "jsonobject"})
    if "data" not in body:
        return zoho_error(
            "MANDATORY_NOT_FOUND", "required field not found", details={"api_name": "data", "json_path": "$.data"}
        )
    data = body["data"]
    if not isinstance(data, list) or not data:
        return zoho_error(
            "INVALID_DATA",
            "invalid data",
            details={"api_name": "data", "json_path": "$.data", "expected_data_type": "jsonarray"},
        )
    if len(data) > MAX_RECORDS:
        return zoho_error(
            "LIMIT_EXCEEDED", "limit exceeded", details={"api_name": "data", "json_path": "$.data", "limit": 100}
        )
    trigger = body.get("trigger", DEFAULT_TRIGGERS)
    if not isinstance(trigger, list | tuple) or not all(item in TRIGGERS for item in trigger):
        return zoho_error(
            "INVALID_DATA",
            "invalid data",
            details={"api_name": "trigger", "json_path": "$.trigger", "supported_values": list(TRIGGERS)},
        )
    return data, tuple(trigger)


def _status(results: list[dict[str, Any]], success: int) -> int:
    ok = sum(1 for entry in results if entry["status"] == "success")
    if ok == len(results):
        return success
    return 207 if ok else 400


def _success(record: dict[str, Any], message: str) -> dict[str, Any]:
    def who(value: dict[str, Any]) -> dict[str, Any]:
        return {"name": value["name"], "id": value["id"]}

    return {
        "code": "SUCCESS",
        "details": {
            "Modified_Time": record["Modified_Time"],
            "Modified_By": who(record["Modified_By"]),
            "Created_Time": record["Created_Time"],
            "id": record["id"],
            "Created_By": who(record["Created_By"]),
            "$approval_state": record.get("$approval_state", "approved"),
        },
        "message": message,
        "status": "success",
    }


def insert_one(
    org: ZohoOrg, store: RecordStore, raw: Any, index: int, user: dict[str, Any], *, by_api: bool, triggers
) -> dict[str, Any]:
    """Validate and insert one record; the store's record, or RecordError. API inserts meet the org's validation
    rules too."""
    if by_api:
        validation.rules_check(org, store.module, raw, index)
    values = validation.clean(org, store.module, raw, index, creating=True)
    stamp = store.now_text()
    values.setdefault("Owner", {"name": user["full_name"], "id": user["id"], "email": user["email"]})
    values.update({"Created_Time": stamp, "Modified_Time": stamp, "$approval_state": "approved"})
    if store.module == "Leads":
        values.update({"$converted": False, "Converted__s": False})
    if store.module == "Tasks":
        values.setdefault("Status", "Not Started")
    if store.module == "Deals":
        values.setdefault("Pipeline", "Standard (Standard)")
    values.update(validation.derived(org, store.module, values))
    with org.sandbox.lock:  # the duplicate check and the insert as one
        validation.unique_check(org, store, values, index)
        return store.insert(values, by_user=user, by_api=by_api, triggers=triggers)


def _create_scope(module: str, **_: Any) -> str:
    return module_scope(module, "CREATE")


def _update_scope(module: str, **_: Any) -> str:
    return module_scope(module, "UPDATE")


def _delete_scope(module: str, **_: Any) -> str:
    return module_scope(module, "DELETE")


@crm_endpoint(scope=_create_scope)
def insert_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module(wrapped=True)
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    data, triggers = parsed
    results = []
    for index, raw in enumerate(data):
        try:
            record = insert_one(org, store, raw, index, user, by_api=True, triggers=triggers)
        except validation.RecordError as error:
            results.append(error.entry)
            continue
        org.written()
        results.append(_success(record, "record added"))
    return json_response({"data": results}, _status(results, 201))


def update_one(
    org: ZohoOrg, store: RecordStore, existing: dict[str, Any], raw: Any, index: int, user: dict[str, Any], triggers
) -> dict[str, Any]:
    """Validate and apply one API update of an existing record; the store's record, or RecordError."""
    if existing.get("$converted"):
        raise validation.RecordError("CONVERTED_RECORD", "can't update the converted record", id=existing["id"])
    validation.rules_check(org, store.module, raw, index)
    changes = validation.clean(org, store.module, raw, index, creating=False)
    changes.update(validation.derived(org, store.module, {**existing, **changes}))
    with org.sandbox.lock:  # the duplicate check and the update as one
        validation.unique_check(org, store, changes, index, record_id=existing["id"])
        return store.update(existing["id"], changes, by_user=user, by_api=True, triggers=triggers)


def _update(org: ZohoOrg, store: RecordStore, data: list, user: dict, triggers, path_id: str | None) -> Response:
    results = []
    for index, raw in enumerate(data):
        try:
            record_id = path_id or (raw.get("id") if isinstance(raw, dict) else None)
            if record_id is None:
                raise validation.RecordError(
                    "MANDATORY_NOT_FOUND", "required field not found", api_name="id", json_path=f"$.data[{index}].id"
                )
            existing = store.get(str(record_id))
            if existing is None:
                raise validation.RecordError(
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    api_name="id",
                    json_path=f"$.data[{index}].id",
                )
            record = update_one(org, store, existing, raw, index, user, triggers)
        except validation.RecordError as error:
            results.append(error.entry)
            continue
        org.written()
        results.append(_success(record, "record updated"))
    return json_response({"data": results}, _status(results, 200))


@crm_endpoint(scope=_update_scope)
def update_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module(wrapped=True)
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    return _update(org, store, parsed[0], user, parsed[1], None)


@crm_endpoint(scope=_update_scope)
def update_record(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str, record_id: str):
    store = org.module_named(module)
    if store is None:
        return invalid_module(wrapped=True)
    if not ID_PATTERN.match(record_id):
        return param_error("INVALID_DATA", "the id given seems to be invalid", resource_path_index=1)
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    return _update(org, store, parsed[0][:1], user, parsed[1], record_id)


def _delete(org: ZohoOrg, store: RecordStore, ids: list[str], user: dict) -> Response:
    results = []
    for record_id in ids:
        if ID_PATTERN.match(record_id) and store.delete(record_id, by_user=user) is not None:
            org.written()
            results.append(
                {"code": "SUCCESS", "details": {"id": record_id}, "message": "record deleted", "status": "success"}
            )
        else:
            results.append(
                {
                    "code": "INVALID_DATA",
                    "details": {"id": record_id},
                    "message": "the id given seems to be invalid",
                    "status": "error",
                }
            )
    return json_response({"data": results}, _status(results, 200))


@crm_endpoint(scope=_delete_scope)
def delete_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    ids = [value.strip() for value in request.args.get("ids", "").split(",") if value.strip()]
    if not ids:
        return param_error("REQUIRED_PARAM_MISSING", "required param is missing", param_name="ids")
    if len(ids) > 100:
        return param_error("LIMIT_EXCEEDED", "limit exceeded", limit=100, param_name="ids")
    return _delete(org, store, ids, user)


@crm_endpoint(scope=_delete_scope)
def delete_record(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str, record_id: str):
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    return _delete(org, store, [record_id], user)


# --- upsert ----------------------------------------------------------------------------------------------------
def _check_fields(org: ZohoOrg, store: RecordStore, request: Request) -> tuple[list[str], Response | None]:
    """The body's `duplicate_check_fields`, each a unique field or the module's system duplicate check."""
    body = request_json(request)
    system = SYSTEM_DUPLICATE_CHECK.get(store.module)
    given = body.get("duplicate_check_fields") if isinstance(body, dict) else None
    if given is None:
        return [*([system] if system else []), *store.unique_fields], None
    allowed = {*store.unique_fields, *([system] if system else [])}
    if not isinstance(given, list) or not given or not all(isinstance(name, str) and name in allowed for name in given):
        return [], zoho_error(
            "INVALID_DATA",
            "invalid data",
            details={
                "api_name": "duplicate_check_fields",
                "json_path": "$.duplicate_check_fields",
                "supported_values": sorted(allowed),
            },
        )
    return list(dict.fromkeys(given)), None


def _upsert_one(
    org: ZohoOrg, store: RecordStore, raw: Any, index: int, user: dict, triggers, check_fields: list[str]
) -> dict[str, Any]:
    """Insert or update one record by the first check field that finds a record; the success entry, or
    RecordError."""
    if not isinstance(raw, dict):
        raise validation.RecordError(
            "INVALID_DATA", "invalid data", json_path=f"$.data[{index}]", expected_data_type="jsonobject"
        )
    with org.sandbox.lock:  # the match and the write as one: a retried upsert never makes a second record
        for field in check_fields:
            matches = store.ids_with(field, raw.get(field))
            if len(matches) > 1:
                duplicate = store.get(matches[0]) or {}
                owner = duplicate.get("Owner") or {}
                raise validation.RecordError(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    api_name=field,
                    json_path=f"$.data[{index}].{field}",
                    duplicate_record={
                        "id": matches[0],
                        "Owner": {"name": owner.get("name"), "id": owner.get("id"), "zuid": owner.get("id")},
                        "module": {"api_name": store.module},
                    },
                    more_records=True,
                )
            if matches:
                record = update_one(org, store, store.get(matches[0]), raw, index, user, triggers)
                return {**_success(record, "record updated"), "action": "update", "duplicate_field": field}
        record = insert_one(org, store, raw, index, user, by_api=True, triggers=triggers)
        return {**_success(record, "record added"), "action": "insert", "duplicate_field": None}


@crm_endpoint(scope=_create_scope)
def upsert_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module(wrapped=True)
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    data, triggers = parsed
    check_fields, refused = _check_fields(org, store, request)
    if refused is not None:
        return refused
    results = []
    for index, raw in enumerate(data):
        try:
            results.append(_upsert_one(org, store, raw, index, user, triggers, check_fields))
        except validation.RecordError as error:
            results.append(error.entry)
            continue
        org.written()
    return json_response({"data": results}, _status(results, 200))
