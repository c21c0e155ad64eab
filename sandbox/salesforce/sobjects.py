"""sObject REST: describe global, describe, create, retrieve, update, delete and upsert by external id
(REST API guide: sObject Basic Information, Describe, Rows, Upsert; fact sheet §1.3).

- `GET sobjects` -> {encoding, maxBatchSize: 200, sobjects: [global entries]}
- `GET sobjects/<X>` -> {objectDescribe, recentItems}; `GET sobjects/<X>/describe` -> the full describe
- `POST sobjects/<X>` (and `POST sobjects/<X>/Id`, v37+) -> 201 {id, success: true, errors: []}
- `GET sobjects/<X>/<id>[?fields=A,B]` -> the record (every field, or those named)
- `PATCH sobjects/<X>/<id>` -> 204; `DELETE sobjects/<X>/<id>` -> 204 (to the Recycle Bin)
- `PATCH sobjects/<X>/<field>/<value>[?updateOnly=true]` -> 201 {id, success, errors, created: true} when created,
  200 {id, success, errors, created: false} when one record was updated (204 before v46.0: an UNCONFIRMED
  point, the fact sheet says accept both), 300 [record URLs] when several match, 404 when nothing may be
  created or the value ends like a file suffix (".inc"); `GET sobjects/<X>/<field>/<value>` reads by external id.
Each record written counts in the kit's `salesforce.records_written:<org id>` tally (`SfOrg.tally_written`).
An unknown sObject answers 404 NOT_FOUND; a deleted record 404 ENTITY_IS_DELETED; a record id that is not an id
404 "Provided external ID field does not exist or is not accessible: <value>".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, no_content, request_json
from sandbox.salesforce import writes
from sandbox.salesforce.calls import call_client, not_found_error, record_json, record_url, sf_endpoint, sf_error
from sandbox.salesforce.state import RECORD_SOBJECTS
from sandbox.salesforce.validation import ApiError

if TYPE_CHECKING:
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState

UPSERT_BODY_SINCE = 46.0  # from v46.0 an upsert that updated answers 200 with a body (before: 204)


def error_response(error: ApiError, status: int | None = None) -> Response:
    # The row the URL names is missing or deleted: 404 (no fields); a field's reference is: 400 naming the field.
    about_the_row = error.code in ("NOT_FOUND", "ENTITY_IS_DELETED") and not error.fields
    if status is None:
        status = 404 if about_the_row else 400
    fields = None if about_the_row else error.fields
    return sf_error(status, error.code, error.message, fields)


def sobject_name(org: SfOrg, name: str, *, writable: bool = False) -> str | None:
    """The canonical sObject name for a URL's (case-insensitive), None when not served (or not writable)."""
    store = org.store(name)
    if store is None or (writable and store.sobject not in RECORD_SOBJECTS):
        return None
    return store.sobject


@sf_endpoint()
def describe_global(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str):
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [schema.global_entry(version) for schema in org.schema.values()],
        }
    )


@sf_endpoint()
def sobject_info(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject):
    name = sobject_name(org, sobject)
    if name is None:
        return not_found_error()
    store = org.stores[name]
    with store.lock:
        recent = [record for _, record in zip(range(8), store.iter_by_modified(descending=True), strict=False)]
    fields = ["Id", "Name"] if org.schema[name].field("Name") else ["Id"]
    return json_response(
        {
            "objectDescribe": org.schema[name].global_entry(version),
            "recentItems": [record_json(org, name, record, fields, version=version) for record in recent],
        }
    )


@sf_endpoint()
def describe(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str):
    name = sobject_name(org, sobject)
    if name is None:
        return not_found_error()
    return json_response(org.schema[name].describe(version))


def _created(record: dict[str, Any]) -> Response:
    return json_response({"id": record["Id"], "success": True, "errors": []}, 201)


@sf_endpoint()
def create(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str):
    name = sobject_name(org, sobject, writable=True)
    if name is None:
        return not_found_error()
    try:
        record = writes.create(org, name, request_json(request), user_id=session.user_id, client=call_client(request))
    except ApiError as error:
        return error_response(error)
    org.tally_written(1)
    return _created(record)


@sf_endpoint()
def create_by_id_field(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str, field: str
):
    """`POST sobjects/<X>/Id`: create (v37+); POST on another field is not a resource."""
    if field != "Id":
        return sf_error(405, "METHOD_NOT_ALLOWED", "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE")
    return create.__wrapped__(sandbox, request, org, session, version=version, sobject=sobject)


def _field_list(org: SfOrg, sobject: str, text: str | None) -> list[str] | None:
    if not text:
        return None
    fields = []
    for raw in text.split(","):
        meta = org.schema[sobject].field(raw.strip())
        if meta is None:
            raise ApiError(
                "INVALID_FIELD",
                f"No such column '{raw.strip()}' on entity '{sobject}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
            )
        if meta["name"] not in fields:
            fields.append(meta["name"])
    if "Id" not in fields:
        fields.insert(0, "Id")
    return fields


@sf_endpoint()
def retrieve(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str, record_id
):
    name = sobject_name(org, sobject)
    if name is None:
        return not_found_error()
    try:
        record = writes.live_record(org, name, record_id)
        fields = _field_list(org, name, request.args.get("fields"))
    except ApiError as error:
        return error_response(error)
    return json_response(record_json(org, name, record, fields, version=version))


@sf_endpoint()
def update(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str, record_id
):
    name = sobject_name(org, sobject, writable=True)
    if name is None:
        return not_found_error()
    try:
        writes.update(org, name, record_id, request_json(request), user_id=session.user_id, client=call_client(request))
    except ApiError as error:
        return error_response(error)
    org.tally_written(1)
    return no_content()


@sf_endpoint()
def delete(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, sobject: str, record_id
):
    name = sobject_name(org, sobject, writable=True)
    if name is None:
        return not_found_error()
    try:
        writes.delete(org, name, record_id, client=call_client(request))
    except ApiError as error:
        return error_response(error)
    org.tally_written(1)
    return no_content()


@sf_endpoint()
def upsert(
    sandbox: SandboxState,
    request: Request,
    org: SfOrg,
    session: Session,
    *,
    version: str,
    sobject: str,
    field: str,
    value: str,
):
    name = sobject_name(org, sobject, writable=True)
    if name is None:
        return not_found_error()
    update_only = request.args.get("updateOnly", "").lower() == "true"
    try:
        result = writes.upsert(
            org,
            name,
            field,
            value,
            request_json(request),
            user_id=session.user_id,
            client=call_client(request),
            update_only=update_only,
        )
    except ApiError as error:
        return error_response(error)
    if result.matches:
        return json_response([record_url(version, name, record["Id"]) for record in result.matches], 300)
    record = result.record
    if record is None:  # never: an upsert either matched several, updated one or created one
        return not_found_error()
    org.tally_written(1)
    with_body = float(version) >= UPSERT_BODY_SINCE
    if result.created:
        body: dict[str, Any] = {"id": record["Id"], "success": True, "errors": []}
        if with_body:
            body["created"] = True
        return json_response(body, 201)
    if not with_body:
        return no_content()
    return json_response({"id": record["Id"], "success": True, "errors": [], "created": False}, 200)


@sf_endpoint()
def retrieve_by_external_id(
    sandbox: SandboxState,
    request: Request,
    org: SfOrg,
    session: Session,
    *,
    version: str,
    sobject: str,
    field: str,
    value: str,
):
    name = sobject_name(org, sobject)
    if name is None:
        return not_found_error()
    try:
        meta = writes.external_field(org, name, field)
        if meta["name"] == "Id":
            matches = [writes.live_record(org, name, value)]
        else:
            matches = org.stores[name].lookup(meta["name"], value)
        fields = _field_list(org, name, request.args.get("fields"))
    except ApiError as error:
        return error_response(error)
    if not matches:
        return not_found_error()
    if len(matches) > 1:
        return json_response([record_url(version, name, record["Id"]) for record in matches], 300)
    return json_response(record_json(org, name, matches[0], fields, version=version))


BASE = "/services/data/v<version>/sobjects"
ROUTES = [
    (BASE, ["GET"], describe_global),
    (f"{BASE}/<sobject>", ["GET"], sobject_info),
    (f"{BASE}/<sobject>", ["POST"], create),
    (f"{BASE}/<sobject>/describe", ["GET"], describe),
    (f"{BASE}/<sobject>/<field>", ["POST"], create_by_id_field),
    (f"{BASE}/<sobject>/<record_id>", ["GET"], retrieve),
    (f"{BASE}/<sobject>/<record_id>", ["PATCH"], update),
    (f"{BASE}/<sobject>/<record_id>", ["DELETE"], delete),
    (f"{BASE}/<sobject>/<field>/<path:value>", ["PATCH"], upsert),
    (f"{BASE}/<sobject>/<field>/<path:value>", ["GET"], retrieve_by_external_id),
]
