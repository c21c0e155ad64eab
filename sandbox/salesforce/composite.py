"""sObject Collections (REST API guide, sObject Collections): up to 200 records in one call (one request of the
allocation), a result per record in the order sent.

- `POST composite/sobjects {allOrNone, records: [{attributes: {type}, ...}]}`: create. Result per record
  `{id, success: true, errors: []}` or `{success: false, errors: [{statusCode, message, fields}]}` (collections
  say `statusCode` where single-record calls say `errorCode`).
- `PATCH composite/sobjects {allOrNone, records: [{attributes: {type}, Id, ...}]}`: update by Id.
- `PATCH composite/sobjects/<X>/<externalIdField> {allOrNone, records}`: upsert; results add `created`. The same
  external id twice in one call fails both (DUPLICATE_EXTERNAL_ID); several existing matches fail that record.
- `GET composite/sobjects/<X>?ids=&fields=` (or POST with {ids, fields}): the records, null for ids not found.
- `DELETE composite/sobjects?ids=&allOrNone=`: delete; results `{id, success, errors}`.
With allOrNone true one failure rolls every record back: the others answer ALL_OR_NONE_OPERATION_ROLLED_BACK.
More than 200 records: 400 EXCEEDED_ID_LIMIT "record limit reached. cannot submit more than 200 records into
this call". Writes are announced (Flow callouts) and tallied (`SfOrg.tally_written`) only once the call commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, request_json
from sandbox.salesforce import ids, writes
from sandbox.salesforce.calls import call_client, not_found_error, record_json, sf_endpoint, sf_error
from sandbox.salesforce.sobjects import _field_list, error_response, sobject_name
from sandbox.salesforce.validation import ApiError

if TYPE_CHECKING:
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState

MAX_RECORDS = 200
ROLLED_BACK = ApiError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


def _too_many() -> Response:
    return sf_error(
        400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
    )


def _body(request: Request) -> tuple[bool, list[Any]] | Response:
    body = request_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        return sf_error(400, "JSON_PARSER_ERROR", "The request body must be an object with a records list")
    if len(body["records"]) > MAX_RECORDS:
        return _too_many()
    return bool(body.get("allOrNone", False)), body["records"]


def _failure(error: ApiError) -> dict[str, Any]:
    return {"success": False, "errors": [error.as_collection_error()]}


def _type_of(org: SfOrg, item: Any) -> str:
    attributes = item.get("attributes") if isinstance(item, dict) else None
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not name:
        raise ApiError("INVALID_TYPE", "Must send a concrete entity type.")
    canonical = sobject_name(org, name, writable=True)
    if canonical is None:
        raise ApiError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return canonical


def _finish(
    transaction: writes.Transaction, results: list[dict[str, Any]], all_or_none: bool, *, with_id: bool = False
) -> Response:
    if all_or_none and any(not result["success"] for result in results):
        transaction.rollback()
        finished = []
        for result in results:
            if result["success"]:
                failed = _failure(ROLLED_BACK)
                if with_id:
                    failed["id"] = result.get("id")
                finished.append(failed)
            else:
                finished.append(result)
        return json_response(finished)
    transaction.commit()
    transaction.org.tally_written(sum(1 for result in results if result["success"]))
    return json_response(results)


@sf_endpoint()
def create_many(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str):
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    all_or_none, records = parsed
    client = call_client(request)
    transaction = writes.Transaction(org)
    results: list[dict[str, Any]] = []
    with sandbox.lock:
        for item in records:
            try:
                sobject = _type_of(org, item)
                if item.get("Id"):
                    raise ApiError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                record = writes.create(org, sobject, item, user_id=session.user_id, client=client, notify=False)
            except ApiError as error:
                results.append(_failure(error))
                continue
            transaction.note_created(sobject, record, item)
            results.append({"id": record["Id"], "success": True, "errors": []})
        return _finish(transaction, results, all_or_none)


@sf_endpoint()
def update_many(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str):
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    all_or_none, records = parsed
    client = call_client(request)
    transaction = writes.Transaction(org)
    results: list[dict[str, Any]] = []
    with sandbox.lock:
        for item in records:
            record_id = item.get("Id") if isinstance(item, dict) else None
            try:
                sobject = _type_of(org, item)
                if not record_id:
                    raise ApiError("MISSING_ARGUMENT", "Id not specified in an update call")
                body = {key: value for key, value in item.items() if key != "Id"}
                before = transaction.before_update(sobject, record_id)
                record = writes.update(
                    org, sobject, record_id, body, user_id=session.user_id, client=client, notify=False
                )
            except ApiError as error:
                failed = _failure(error)
                if record_id:
                    failed["id"] = ids.normalize(record_id) or record_id
                results.append(failed)
                continue
            if before is not None:
                transaction.note_updated(sobject, before, body)
            results.append({"id": record["Id"], "success": True, "errors": []})
        return _finish(transaction, results, all_or_none, with_id=True)


@sf_endpoint()
def upsert_many(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str, field: str
):
    name = sobject_name(org, sobject, writable=True)
    if name is None:
        return not_found_error()
    try:
        meta = writes.external_field(org, name, field)
    except ApiError as error:
        return error_response(error)
    parsed = _body(request)
    if isinstance(parsed, Response):
        return parsed
    all_or_none, records = parsed
    external = meta["name"]
    client = call_client(request)

    def value_of(item: Any) -> str | None:
        if not isinstance(item, dict):
            return None
        for key, value in item.items():
            if key.lower() == external.lower() and value not in (None, ""):
                return str(value)
        return None

    seen: dict[str, int] = {}
    for item in records:
        value = value_of(item)
        if value is not None:
            seen[value.lower()] = seen.get(value.lower(), 0) + 1
    transaction = writes.Transaction(org)
    results: list[dict[str, Any]] = []
    with sandbox.lock:
        for item in records:
            value = value_of(item)
            try:
                item_type = _type_of(org, item)
                if item_type != name:
                    raise ApiError("INVALID_TYPE", f"Records of type {item_type} cannot be upserted as {name}")
                if value is None:
                    raise ApiError("MISSING_ARGUMENT", f"{external} not specified")
                if seen[value.lower()] > 1:
                    raise ApiError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [external])
                matches = org.stores[name].lookup(external, value) if external != "Id" else []
                if len(matches) > 1:
                    found = ", ".join(record["Id"] for record in matches)
                    raise ApiError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{external}: more than one record found for external id field: [{found}]",
                        [external],
                    )
                before = transaction.before_update(name, matches[0]["Id"]) if matches else None
                body = {key: val for key, val in item.items() if key.lower() != external.lower()}
                result = writes.upsert(
                    org, name, external, value, body, user_id=session.user_id, client=client, notify=False
                )
            except ApiError as error:
                results.append(_failure(error))
                continue
            record = result.record
            if record is None:
                results.append(_failure(ApiError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id: {value}")))
                continue
            if result.created:
                transaction.note_created(name, record, item)
            elif before is not None:
                transaction.note_updated(name, before, body)
            results.append({"id": record["Id"], "success": True, "errors": [], "created": result.created})
        return _finish(transaction, results, all_or_none)


@sf_endpoint()
def retrieve_many(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str):
    name = sobject_name(org, sobject)
    if name is None:
        return not_found_error()
    if request.method == "POST":
        body = request_json(request) or {}
        wanted_ids = body.get("ids") or []
        field_text = ",".join(body.get("fields") or [])
    else:
        wanted_ids = [value for value in request.args.get("ids", "").split(",") if value]
        field_text = request.args.get("fields", "")
    if not field_text:
        return sf_error(400, "MISSING_ARGUMENT", "fields parameter is required")
    if len(wanted_ids) > 2000:
        return _too_many()
    try:
        fields = _field_list(org, name, field_text)
    except ApiError as error:
        return error_response(error)
    answer = []
    store = org.stores[name]
    for raw in wanted_ids:
        normalized = ids.normalize(raw)
        record = store.get(normalized) if normalized else None
        if record is None or record.get("IsDeleted"):
            answer.append(None)
        else:
            answer.append(record_json(org, name, record, fields, version=version))
    return json_response(answer)


@sf_endpoint()
def delete_many(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str):
    wanted_ids = [value for value in request.args.get("ids", "").split(",") if value]
    if len(wanted_ids) > MAX_RECORDS:
        return _too_many()
    all_or_none = request.args.get("allOrNone", "").lower() == "true"
    client = call_client(request)
    results: list[dict[str, Any]] = []
    with sandbox.lock:
        checks = []
        for raw in wanted_ids:
            normalized = ids.normalize(raw)
            sobject = ids.sobject_of(normalized) if normalized else None
            try:
                if sobject is None or sobject_name(org, sobject, writable=True) is None:
                    raise ApiError("MALFORMED_ID", f"malformed id {raw}")
                writes.live_record(org, sobject, normalized)
                checks.append((raw, sobject, normalized, None))
            except ApiError as error:
                checks.append((raw, sobject, normalized, error))
        failed = any(error is not None for *_, error in checks)
        for raw, sobject, normalized, error in checks:
            if error is not None:
                results.append({"id": normalized or raw, **_failure(error)})
            elif all_or_none and failed:
                results.append({"id": normalized, **_failure(ROLLED_BACK)})
            else:
                writes.delete(org, sobject, normalized, client=client)
                results.append({"id": normalized, "success": True, "errors": []})
        org.tally_written(sum(1 for result in results if result["success"]))
    return json_response(results)


BASE = "/services/data/v<version>/composite/sobjects"
ROUTES = [
    (BASE, ["POST"], create_many),
    (BASE, ["PATCH"], update_many),
    (BASE, ["DELETE"], delete_many),
    (f"{BASE}/<sobject>", ["GET", "POST"], retrieve_many),
    (f"{BASE}/<sobject>/<field>", ["PATCH"], upsert_many),
]
