"""The objects API, one record at a time: list, read, create, update, archive (both path families).

- `GET .../objects/{type}?limit&after&properties&propertiesWithHistory&associations&archived`: records by id
  ascending; `limit` 10 by default, at most `hs_list_page_max` (100, UNCONFIRMED; more is a 400); `after` is the
  last id the previous page returned, answered as `paging.next.after` with a `link` (absent on the last page);
  `archived=true` lists archived records instead (with `archivedAt`).
- `GET .../objects/{type}/{id}?properties&associations&archived&idProperty`: 404 OBJECT_NOT_FOUND when missing.
- `POST .../objects/{type} {properties, associations: [{to: {id}, types: [{associationCategory,
  associationTypeId}]}]}` -> 201. Unknown or read-only properties, bad values: 400 VALIDATION_ERROR "Property values
  were not valid: [...]"; tasks need `hs_timestamp`; a contact whose email another contact has: 409 CONFLICT
  "Contact already exists. Existing ID: N".
- `PATCH .../objects/{type}/{id}[?idProperty=] {properties}` -> 200 ("" clears a value); 404 when missing.
- `DELETE .../objects/{type}/{id}` -> 204 (also when already archived or missing: HubSpot answers 204 for an id it
  does not have, as public clients observe).
API writes are checked by `Portal.check_write` (the portal's property validation rules and unique-value
properties: another record holding the value is a 400 VALIDATION_ERROR) and tallied (`Portal.written`).
- `POST .../objects/contacts/gdpr-delete {objectId, idProperty?}` -> 204: gone for good (privacyDeletion).

The type in the path may be a name ("contacts", "contact") or a type id ("0-1"). Writes are the token's app's
(changeSource INTEGRATION, sourceId = app id; state.py).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import (
    Call,
    Problem,
    both_families,
    hs_endpoint,
    not_found,
    unknown_object_type,
    validation_error,
)
from sandbox.hubspot.catalog import ObjectType, resolve
from sandbox.hubspot.shapes import record_json, shown_properties
from sandbox.kit.http import json_response, no_content

Record = dict[str, Any]
REQUIRED_ON_CREATE = {"tasks": ("hs_timestamp",)}


def kind_of(name: str) -> ObjectType:
    kind = resolve(name)
    if kind is None:
        raise Problem(unknown_object_type(name))
    return kind


def read_scopes(object_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(object_type)
    return kind.read_scopes() if kind else ()


def write_scopes(object_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(object_type)
    return kind.write_scopes() if kind else ()


def property_errors(errors: list[Record]) -> Response:
    """400 VALIDATION_ERROR for per-property problems, worded as HubSpot words them."""
    detail = [{key: error[key] for key in ("isValid", "message", "error", "name")} for error in errors]
    return validation_error(
        "Property values were not valid: " + json.dumps(detail),
        errors=[
            {"message": error["message"], "code": error["error"], "context": {"propertyName": [error["name"]]}}
            for error in errors
        ],
    )


def clean_for_write(
    call: Call, kind: ObjectType, values: Any, *, creating: bool, record_id: str | None = None
) -> dict[str, str]:
    """Checked values of a write (Portal.check_write: validation rules, unique values), or a Problem (400) naming
    every bad property."""
    if not isinstance(values, dict):
        raise Problem(validation_error("Invalid input JSON: properties must be an object."))
    clean, errors = call.portal.check_write(kind.name, values, record_id=record_id)
    if creating:
        for name in REQUIRED_ON_CREATE.get(kind.name, ()):
            if not clean.get(name) and not any(error["name"] == name for error in errors):
                errors.append(
                    {"isValid": False, "message": f"{name} is required", "error": "REQUIRED_PROPERTY", "name": name}
                )
    if errors:
        raise Problem(property_errors(errors))
    return clean


def email_conflict(call: Call, kind: ObjectType, clean: dict[str, str], record_id: str | None = None) -> None:
    if kind.name != "contacts" or not clean.get("email"):
        return
    found = call.portal.find_by("contacts", "email", clean["email"])
    if found is not None and found["id"] != record_id:
        raise Problem(call_conflict(f"Contact already exists. Existing ID: {found['id']}"))


def call_conflict(message: str) -> Response:
    from sandbox.hubspot.calls import hs_error

    return hs_error(409, "CONFLICT", message)


def check_associations(call: Call, kind: ObjectType, specs: Any) -> list[tuple[str, str, int | None]]:
    """[(to type, to id, type id)] from a create's `associations`, each target checked: 400 when not."""
    from sandbox.hubspot.catalog import association_type

    if not specs:
        return []
    if not isinstance(specs, list):
        raise Problem(validation_error("Invalid input JSON: associations must be a list."))
    found = []
    for spec in specs:
        to_id = str(((spec or {}).get("to") or {}).get("id") or "")
        types = (spec or {}).get("types") or [{}]
        for kind_spec in types:
            type_id = kind_spec.get("associationTypeId")
            target = None
            for other in ("contacts", "companies", "deals", "tasks", "notes", "communications"):
                if type_id is not None and association_type(kind.name, other, int(type_id)) is not None:
                    target = other
                    break
            if target is None:
                raise Problem(validation_error(f"{type_id} is not a valid association type id from {kind.label}"))
            if not call.portal.alive(target, to_id):
                raise Problem(
                    validation_error(
                        f"One or more associations are invalid: {target} {to_id} was not found.",
                        ids=[to_id],
                    )
                )
            found.append((target, to_id, int(type_id)))
    return found


def find_record(call: Call, kind: ObjectType, object_id: str, *, archived: bool = False) -> Record | None:
    id_property = call.arg("idProperty")
    if archived:
        return call.portal.get(kind.name, object_id, archived=True)
    if id_property and id_property != "hs_object_id":
        return call.portal.find_by(kind.name, id_property, object_id)
    return call.portal.get(kind.name, object_id)


def _next_link(call: Call, after: str) -> str:
    params = [(key, value) for key, value in call.request.args.items(multi=True) if key != "after"]
    params.append(("after", after))
    return f"{call.request.base_url}?{urlencode(params)}"


def page_limit(call: Call, *, default: int, cap: int) -> int:
    text = call.arg("limit")
    try:
        limit = int(text) if text not in (None, "") else default
    except ValueError:
        raise Problem(validation_error(f"limit must be a number, not {text!r}")) from None
    if limit < 1 or limit > cap:
        raise Problem(validation_error(f"limit must be between 1 and {cap}, not {limit}"))
    return limit


# --- handlers ------------------------------------------------------------------------------------------------
@hs_endpoint(scopes=read_scopes)
def list_objects(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    limit = page_limit(call, default=10, cap=call.config.hs_list_page_max)
    after = call.arg("after")
    if after is not None and not after.isdigit():
        raise Problem(validation_error(f"after must be a record id cursor, not {after!r}"))
    names = shown_properties(call.portal, kind, call.list_arg("properties"))
    history = call.list_arg("propertiesWithHistory")
    associations = call.list_arg("associations")
    if call.flag("archived"):
        chosen = call.portal.archived[kind.name].page(after, limit + 1)
    else:
        store = call.portal.store(kind.name)
        with store.lock:
            chosen = []
            for record in store.iter_by_id(after=after or None):
                chosen.append(record)
                if len(chosen) > limit:
                    break
    more = len(chosen) > limit
    chosen = chosen[:limit]
    body: Record = {
        "results": [
            record_json(call.portal, kind, record, names, associations=associations, with_history=history)
            for record in chosen
        ]
    }
    if more and chosen:
        last = chosen[-1]["id"]
        body["paging"] = {"next": {"after": last, "link": _next_link(call, last)}}
    return json_response(body)


@hs_endpoint(scopes=read_scopes)
def read_object(call: Call, object_type: str, object_id: str) -> Response:
    kind = kind_of(object_type)
    record = find_record(call, kind, object_id, archived=call.flag("archived"))
    if record is None:
        return not_found("Object not found.  objectId are usually numeric.", id=[object_id])
    names = shown_properties(call.portal, kind, call.list_arg("properties"))
    return json_response(
        record_json(
            call.portal,
            kind,
            record,
            names,
            associations=call.list_arg("associations"),
            with_history=call.list_arg("propertiesWithHistory"),
        )
    )


def all_properties(record: Record) -> list[str]:
    return sorted(record["properties"])


@hs_endpoint(scopes=write_scopes)
def create_object(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    body = call.body()
    if not isinstance(body, dict):
        raise Problem(validation_error("Invalid input JSON: the body must be an object."))
    clean = clean_for_write(call, kind, body.get("properties") or {}, creating=True)
    email_conflict(call, kind, clean)
    links = check_associations(call, kind, body.get("associations"))
    record = call.portal.create(kind.name, clean, source=call.source)
    call.portal.written()
    for target, to_id, type_id in links:
        call.portal.associate(kind.name, record["id"], target, to_id, type_id, source=call.source)
    return json_response(record_json(call.portal, kind, record, all_properties(record)), 201)


@hs_endpoint(scopes=write_scopes)
def update_object(call: Call, object_type: str, object_id: str) -> Response:
    kind = kind_of(object_type)
    record = find_record(call, kind, object_id)
    if record is None:
        return not_found("Object not found.  objectId are usually numeric.", id=[object_id])
    body = call.body()
    if not isinstance(body, dict):
        raise Problem(validation_error("Invalid input JSON: the body must be an object."))
    clean = clean_for_write(call, kind, body.get("properties") or {}, creating=False, record_id=record["id"])
    email_conflict(call, kind, clean, record["id"])
    record = call.portal.update(kind.name, record["id"], clean, source=call.source)
    call.portal.written()
    return json_response(record_json(call.portal, kind, record, all_properties(record)))


@hs_endpoint(scopes=write_scopes)
def archive_object(call: Call, object_type: str, object_id: str) -> Response:
    kind = kind_of(object_type)
    if call.portal.archive(kind.name, object_id, source=call.source) is not None:
        call.portal.written()
    return no_content()


@hs_endpoint(scopes=write_scopes)
def gdpr_delete(call: Call, object_type: str) -> Response:
    """`POST .../objects/contacts/gdpr-delete {objectId, idProperty?}`: the contact is deleted for good (not
    archived), 204; a contact that does not exist: 404."""
    kind = kind_of(object_type)
    if kind.name != "contacts":
        raise Problem(validation_error("GDPR delete is only for contacts."))
    body = call.body()
    if not isinstance(body, dict) or not body.get("objectId"):
        raise Problem(validation_error("objectId is required"))
    id_property = body.get("idProperty")
    record = (
        call.portal.find_by(kind.name, id_property, str(body["objectId"]))
        if id_property and id_property != "hs_object_id"
        else call.portal.get(kind.name, str(body["objectId"]))
        or call.portal.get(kind.name, str(body["objectId"]), archived=True)
    )
    if record is None:
        return not_found("Object not found.  objectId are usually numeric.", id=[str(body["objectId"])])
    call.portal.purge(kind.name, record["id"], source=call.source)
    call.portal.written()
    return no_content()


ROUTES = [
    *both_families("objects", "/<object_type>/gdpr-delete", ["POST"], gdpr_delete),
    *both_families("objects", "/<object_type>", ["GET"], list_objects),
    *both_families("objects", "/<object_type>", ["POST"], create_object),
    *both_families("objects", "/<object_type>/<object_id>", ["GET"], read_object),
    *both_families("objects", "/<object_type>/<object_id>", ["PATCH"], update_object),
    *both_families("objects", "/<object_type>/<object_id>", ["DELETE"], archive_object),
]
