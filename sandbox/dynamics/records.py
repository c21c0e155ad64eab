"""Single rows of the Dataverse Web API: `GET /WhoAmI`, `POST /<set>` (create: 204 + OData-EntityId, or 201 with
the row on `Prefer: return=representation`), `GET /<set>(<key>)`, `PATCH /<set>(<key>)` (upsert: creates when
missing unless `If-Match`; `If-Match: *` update only, 404 when missing; `If-Match: W/"<version>"` optimistic
concurrency, 412 on a mismatch; `If-None-Match: *` create only, 412 when it exists) and `DELETE /<set>(<key>)`.
A key is the row's GUID or an alternate key's columns (`lh_smses(lh_leadlinemessageid='m-1')`). Lookups are set
with `<navigation property>@odata.bind`; duplicate detection answers when the request says
`MSCRM.SuppressDuplicateDetection: false` (lead and contact rules on emailaddress1). Alternate keys stay unique,
plug-in refusals a test switched on answer, and each row written is tallied (rules.py)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sandbox.dynamics import rules
from sandbox.dynamics.calls import API_PREFIX, Call, Problem, dv_endpoint, problem
from sandbox.dynamics.records_values import (
    find_row,
    key_missing,
    parse_key,
    required_missing,
    settle_state,
    split_segment,
    values_from_body,
)
from sandbox.dynamics.shapes import context_url, entity_id_url, parse_select, row_json
from sandbox.dynamics.state import DuplicateRow, Row, Table
from sandbox.http import json_response

DUPLICATE = (
    "0x80040333",
    "A record was not created or updated because a duplicate of the current record already exists.",
)
VERSION_MISMATCH = "The version of the existing record doesn't match the RowVersion property provided."
ALREADY_EXISTS = "A record with matching key values already exists."
DUPLICATE_RULES = {"lead": ("emailaddress1",), "contact": ("emailaddress1",)}


def table_of(call: Call, entity_set: str) -> Table:
    table = call.environment.table_of_set(entity_set)
    if table is None:
        raise problem(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
    return table


def represent(call: Call, table: Table, row: Row, status: int) -> Response:
    asked = call.request.args.get("$select")
    select = parse_select(table, asked)
    named = [part.strip() for part in asked.split(",") if part.strip()] if asked else None
    body = {"@odata.context": context_url(call.api_url, table, named)}
    body.update(row_json(call.environment, table, row, select=select, annotations=call.annotations))
    response = json_response(body, status)
    response.headers["ETag"] = body["@odata.etag"]
    if call.annotations:
        response.headers["Preference-Applied"] = f'odata.include-annotations="{",".join(call.annotations)}"'
    return response


def entity_id_answer(call: Call, table: Table, row: Row, *, created: bool) -> Response:
    """204 with OData-EntityId, or the row (201 created / 200 updated) on `Prefer: return=representation`."""
    if call.prefer.get("return") == "representation":
        response = represent(call, table, row, 201 if created else 200)
        applied = [response.headers.get("Preference-Applied"), "return=representation"]
        response.headers["Preference-Applied"] = ",".join(part for part in applied if part)
    else:
        response = Response(status=204)
    response.headers["OData-EntityId"] = entity_id_url(call.api_url, table, row[table.primary_id])
    return response


def check_duplicates(call: Call, table: Table, values: dict[str, Any], row_id: str | None) -> None:
    suppress = call.request.headers.get("MSCRM.SuppressDuplicateDetection", "true").strip().lower()
    if suppress != "false" or not call.sandbox.config.dv_duplicate_detection:
        return
    for column in DUPLICATE_RULES.get(table.logical_name, ()):
        wanted = values.get(column)
        if not isinstance(wanted, str) or not wanted.strip():
            continue
        for other in table.rows.values():
            same = str(other.get(column) or "").strip().casefold() == wanted.strip().casefold()
            if same and other[table.primary_id] != row_id:
                code, message = DUPLICATE
                raise problem(call.sandbox.config.dv_duplicate_status, code, message)


def complete(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    if table.is_activity:
        values["activitytypecode"] = table.logical_name
    return values


def create_row(call: Call, table: Table, values: dict[str, Any], *, row_id: str | None = None) -> Row:
    settle_state(table, values, None)
    refusal = required_missing(table, values)
    if refusal is not None:
        raise Problem(refusal)
    rules.check_refusals(call.environment, table, values)
    check_duplicates(call, table, values, None)
    with call.environment.lock:
        rules.check_keys(table, values, None)
        try:
            row = call.environment.create(table.logical_name, complete(table, values), by=call.user_id, row_id=row_id)
        except DuplicateRow:
            raise problem(400, "0x80040237", "Cannot insert duplicate key.") from None
    rules.written(call.sandbox)
    return row


# --- handlers ----------------------------------------------------------------------------------------------


def whoami(call: Call) -> Response:
    return json_response(
        {
            "@odata.context": f"{call.api_url}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": call.environment.business_unit_id,
            "UserId": call.user_id,
            "OrganizationId": call.environment.organization_id,
        }
    )


def create(call: Call, entity_set: str) -> Response:
    table = table_of(call, entity_set)
    body = call.body()
    values = values_from_body(call.environment, table, body, creating=True)
    row = create_row(call, table, values, row_id=values.pop(table.primary_id, None))
    return entity_id_answer(call, table, row, created=True)


def read(call: Call, entity_set: str, key: str) -> Response:
    entity_set, key = split_segment(entity_set, key)
    table = table_of(call, entity_set)
    if call.request.args.get("$expand"):
        raise problem(400, "0x80060888", "The sandbox does not expand navigation properties ($expand).")
    row_id, key_values = parse_key(table, key)
    row = find_row(call.environment, table, row_id, key_values)
    if row is None:
        raise key_missing(table, row_id, key_values)
    etag = f'W/"{row.get("versionnumber")}"'
    if call.request.headers.get("If-None-Match", "").strip() == etag:
        return Response(status=304, headers={"ETag": etag})
    return represent(call, table, row, 200)


def upsert(call: Call, entity_set: str, key: str) -> Response:
    entity_set, key = split_segment(entity_set, key)
    table = table_of(call, entity_set)
    row_id, key_values = parse_key(table, key)
    body = call.body()
    if_match = call.request.headers.get("If-Match", "").strip()
    if_none_match = call.request.headers.get("If-None-Match", "").strip()
    with call.environment.lock:
        existing = find_row(call.environment, table, row_id, key_values)
        if existing is None:
            if if_match:
                raise key_missing(table, row_id, key_values)
            values = values_from_body(call.environment, table, body, creating=True)
            values.update(key_values)
            values.pop(table.primary_id, None)
            row = create_row(call, table, values, row_id=row_id)
            return entity_id_answer(call, table, row, created=True)
        if if_none_match == "*":
            raise problem(412, "", ALREADY_EXISTS)
        if if_match and if_match != "*" and if_match != f'W/"{existing.get("versionnumber")}"':
            raise problem(412, "", VERSION_MISMATCH)
        values = values_from_body(call.environment, table, body, creating=False)
        values.pop(table.primary_id, None)
        settle_state(table, values, existing)
        rules.check_refusals(call.environment, table, values)
        check_duplicates(call, table, values, existing[table.primary_id])
        rules.check_keys(table, values, existing)
        row = call.environment.update(table.logical_name, existing[table.primary_id], values, by=call.user_id)
    rules.written(call.sandbox)
    return entity_id_answer(call, table, row, created=False)


def delete(call: Call, entity_set: str, key: str) -> Response:
    entity_set, key = split_segment(entity_set, key)
    table = table_of(call, entity_set)
    row_id, key_values = parse_key(table, key)
    if_match = call.request.headers.get("If-Match", "").strip()
    with call.environment.lock:
        existing = find_row(call.environment, table, row_id, key_values)
        if existing is None:
            raise key_missing(table, row_id, key_values)
        if if_match and if_match != "*" and if_match != f'W/"{existing.get("versionnumber")}"':
            raise problem(412, "", VERSION_MISMATCH)
        call.environment.delete(table.logical_name, existing[table.primary_id], by=call.user_id)
    rules.written(call.sandbox)
    return Response(status=204)


ROUTES = [
    (f"{API_PREFIX}/WhoAmI", ["GET"], dv_endpoint(whoami)),
    (f"{API_PREFIX}/WhoAmI()", ["GET"], dv_endpoint(whoami)),
    (f"{API_PREFIX}/<entity_set>", ["POST"], dv_endpoint(create)),
    (f"{API_PREFIX}/<entity_set>(<key>)", ["GET"], dv_endpoint(read)),
    (f"{API_PREFIX}/<entity_set>(<key>)", ["PATCH"], dv_endpoint(upsert)),
    (f"{API_PREFIX}/<entity_set>(<key>)", ["DELETE"], dv_endpoint(delete)),
]
