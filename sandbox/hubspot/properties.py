"""The properties API (both path families: `/hubspot/crm/v3/properties/{type}` and
`/hubspot/crm/properties/<YYYY-MM>/{type}`).

- `GET {type}[?archived=true]` -> {results: [definition, ...]} (schema.py's shape; `hubspot_owner_id` lists the
  portal's owners as its options, as HubSpot's external options do).
- `GET {type}/{name}` -> one definition; 404 OBJECT_NOT_FOUND when the portal has no such property.
- `POST {type} {name, label, type, fieldType, groupName, options?, hasUniqueValue?, description?, hidden?,
  displayOrder?, formField?}` -> 201; name, label, type, fieldType and groupName are required, enumeration types
  need options (bool ones get Yes/No); an existing name -> 409 CONFLICT.
- `PATCH {type}/{name}` (label, description, options, hidden, displayOrder, groupName, fieldType) -> 200;
  HubSpot's own properties refuse it (400, readOnlyDefinition).
- `DELETE {type}/{name}` -> 204 (custom properties only; archived ones stop taking values).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import Call, Problem, both_families, hs_endpoint, hs_error, not_found, validation_error
from sandbox.hubspot.catalog import resolve
from sandbox.hubspot.objects import kind_of
from sandbox.hubspot.schema import BOOL_OPTIONS, definition, iso_ms, options_json
from sandbox.kit.http import json_response, no_content

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool", "phone_number")
FIELD_TYPES = (
    "text",
    "textarea",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "number",
    "date",
    "file",
    "html",
    "phonenumber",
    "calculation_equation",
)
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
EDITABLE = ("label", "description", "hidden", "displayOrder", "groupName", "fieldType", "formField")


def schema_read(object_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(object_type)
    return kind.schema_read_scopes() if kind else ()


def schema_write(object_type: str = "", **_: Any) -> tuple[str, ...]:
    kind = resolve(object_type)
    return kind.schema_write_scopes() if kind else ()


def shown(call: Call, meta: dict[str, Any]) -> dict[str, Any]:
    if meta["name"] != "hubspot_owner_id":
        return meta
    found = copy.deepcopy(meta)
    found["externalOptions"] = True
    found["options"] = options_json(
        [
            (f"{owner.get('firstName', '')} {owner.get('lastName', '')}".strip(), str(owner["id"]))
            for owner in call.portal.owners
            if not owner.get("archived")
        ]
    )
    return found


@hs_endpoint(scopes=schema_read)
def list_properties(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    archived = call.flag("archived")
    metas = [meta for meta in call.portal.properties[kind.name].values() if bool(meta.get("archived")) == archived]
    return json_response({"results": [shown(call, meta) for meta in metas]})


@hs_endpoint(scopes=schema_read)
def read_property(call: Call, object_type: str, name: str) -> Response:
    kind = kind_of(object_type)
    meta = call.portal.properties[kind.name].get(name)
    if meta is None or (meta.get("archived") and not call.flag("archived")):
        return not_found(f"Unable to find property with name: {name}", name=[name])
    return json_response(shown(call, meta))


def _options(body: dict[str, Any], kind: str) -> tuple[tuple[str, str], ...]:
    raw = body.get("options") or []
    if kind == "bool" and not raw:
        return BOOL_OPTIONS
    if not isinstance(raw, list):
        raise Problem(validation_error("options must be a list"))
    options = []
    for item in raw:
        if not isinstance(item, dict) or item.get("value") in (None, ""):
            raise Problem(validation_error("each option needs a label and a value"))
        options.append((str(item.get("label") or item["value"]), str(item["value"])))
    if kind == "enumeration" and not options:
        raise Problem(validation_error("enumeration properties need options"))
    return tuple(options)


@hs_endpoint(scopes=schema_write)
def create_property(call: Call, object_type: str) -> Response:
    kind = kind_of(object_type)
    body = call.body()
    if not isinstance(body, dict):
        raise Problem(validation_error("Invalid input JSON: the body must be an object."))
    missing = [key for key in ("name", "label", "type", "fieldType", "groupName") if not body.get(key)]
    if missing:
        raise Problem(validation_error(f"Missing required fields: {', '.join(missing)}", missing=missing))
    name = str(body["name"])
    if not NAME.match(name):
        raise Problem(validation_error(f"Property name {name!r} must be lower case letters, digits and underscores"))
    if body["type"] not in TYPES or body["fieldType"] not in FIELD_TYPES:
        raise Problem(validation_error(f"Invalid type/fieldType: {body['type']}/{body['fieldType']}"))
    existing = call.portal.properties[kind.name].get(name)
    if existing is not None:
        return hs_error(409, "CONFLICT", f"Property named '{name}' already exists.", sub_category="PROPERTY_EXISTS")
    meta = definition(
        name,
        str(body["label"]),
        str(body["type"]),
        str(body["fieldType"]),
        group=str(body["groupName"]),
        options=_options(body, str(body["type"])),
        unique=bool(body.get("hasUniqueValue")),
        hidden=bool(body.get("hidden")),
        hubspot_defined=False,
        created_at=iso_ms(call.sandbox.clock.now()),
        display_order=int(body.get("displayOrder", -1)),
        description=str(body.get("description") or ""),
    )
    meta["formField"] = bool(body.get("formField", meta["formField"]))
    meta["createdUserId"] = str(call.token.user_id or "")
    call.portal.properties[kind.name][name] = meta
    return json_response(meta, 201)


@hs_endpoint(scopes=schema_write)
def update_property(call: Call, object_type: str, name: str) -> Response:
    kind = kind_of(object_type)
    meta = call.portal.properties[kind.name].get(name)
    if meta is None:
        return not_found(f"Unable to find property with name: {name}", name=[name])
    if meta["hubspotDefined"]:
        return validation_error(f"{name} is a HubSpot defined property; its definition is read only.")
    body = call.body()
    if not isinstance(body, dict):
        raise Problem(validation_error("Invalid input JSON: the body must be an object."))
    for key in EDITABLE:
        if key in body:
            meta[key] = body[key]
    if "options" in body:
        meta["options"] = options_json(_options(body, meta["type"]))
    meta["updatedAt"] = iso_ms(call.sandbox.clock.now())
    return json_response(meta)


@hs_endpoint(scopes=schema_write)
def archive_property(call: Call, object_type: str, name: str) -> Response:
    kind = kind_of(object_type)
    meta = call.portal.properties[kind.name].get(name)
    if meta is None:
        return not_found(f"Unable to find property with name: {name}", name=[name])
    if not meta["modificationMetadata"]["archivable"]:
        return validation_error(f"{name} cannot be archived.")
    meta["archived"] = True
    meta["archivedAt"] = iso_ms(call.sandbox.clock.now())
    return no_content()


ROUTES = [
    *both_families("properties", "/<object_type>", ["GET"], list_properties),
    *both_families("properties", "/<object_type>", ["POST"], create_property),
    *both_families("properties", "/<object_type>/<name>", ["GET"], read_property),
    *both_families("properties", "/<object_type>/<name>", ["PATCH"], update_property),
    *both_families("properties", "/<object_type>/<name>", ["DELETE"], archive_property),
]
