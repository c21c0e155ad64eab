"""Dataverse's metadata Web API for the emulator's tables:

- `GET /EntityDefinitions` (`$select`, `$filter` such as `LogicalName eq 'lead'` or `IsActivity eq true`) and
  `GET /EntityDefinitions(LogicalName='lead')` or `(<MetadataId>)` (`$select`; `$expand=Attributes`, `Keys`,
  `ManyToOneRelationships`, `OneToManyRelationships`, each with an optional nested `$select`).
- `GET .../Attributes` (`$select` of AttributeMetadata's own properties, `$filter`); a derived type's
  properties (FormatName, MaxLength, Targets, OptionSet...) are selected through a cast, as in Dataverse:
  `.../Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName,FormatName`,
  `.../Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet`; without
  `$select` every attribute comes with its derived properties. `.../Attributes(LogicalName='x')[/<cast>]`.
- `GET .../ManyToOneRelationships`, `.../OneToManyRelationships` (ReferencingEntityNavigationPropertyName is the
  name `@odata.bind` uses, e.g. regardingobjectid_lead_task), `.../Keys` (alternate keys: KeyAttributes).
- `GET /$metadata`: a CSDL document of the entity types, their properties, navigation properties and sets."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from sandbox.dynamics.calls import API_PREFIX, Call, dv_endpoint, problem
from sandbox.dynamics.metadata_csdl import csdl
from sandbox.dynamics.metadata_shapes import (
    BASE_ATTRIBUTE,
    DERIVED,
    NAVIGATIONS,
    apply_filter,
    attribute_class,
    attribute_json,
    entity_json,
    keys_json,
    many_to_one_json,
    one_to_many_json,
    select,
)
from sandbox.dynamics.records_values import key_literal
from sandbox.dynamics.state import Table
from sandbox.http import json_response

CAST_PREFIX = "Microsoft.Dynamics.CRM."
RELATIONSHIP_PROPERTIES = (
    "MetadataId",
    "SchemaName",
    "RelationshipType",
    "IsCustomRelationship",
    "IsManaged",
    "ReferencedEntity",
    "ReferencedAttribute",
    "ReferencingEntity",
    "ReferencingAttribute",
    "ReferencedEntityNavigationPropertyName",
    "ReferencingEntityNavigationPropertyName",
    "IsHierarchical",
    "HasChanged",
)
KEY_PROPERTIES = (
    "MetadataId",
    "LogicalName",
    "SchemaName",
    "KeyAttributes",
    "EntityLogicalName",
    "EntityKeyIndexStatus",
    "DisplayName",
    "IsManaged",
    "HasChanged",
)
_EXPAND = re.compile(r"([A-Za-z]+)(?:\(\$select=([^)]*)\))?")


def _context(call: Call, fragment: str) -> str:
    return f"{call.api_url}$metadata#{fragment}"


def _table(call: Call, key: str) -> Table:
    text = key.strip()
    wanted = key_literal(text.split("=", 1)[1]) if text.startswith("LogicalName") else None
    for table in call.environment.tables.values():
        if wanted is not None and table.logical_name == wanted:
            return table
        if wanted is None and table.metadata_id == key_literal(text):
            return table
    raise problem(404, "0x80040217", f"Could not find entity with key '{text}'.")


def _expands(text: str | None) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    depth, start, parts = 0, 0, []
    for index, char in enumerate(text or ""):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if text:
        parts.append(text[start:])
    for part in parts:
        match = _EXPAND.fullmatch(part.strip())
        if match is None:
            raise problem(400, "0x80060888", f"The $expand '{part}' is not supported by the sandbox.")
        found[match.group(1)] = match.group(2)
    return found


def _attribute_allowed(cast: str | None) -> tuple[str, ...]:
    return BASE_ATTRIBUTE + (DERIVED.get(cast, ()) if cast else ())


def _attributes(call: Call, table: Table, cast: str | None, *, one: str | None = None) -> list[dict[str, Any]]:
    if cast is not None and cast not in DERIVED:
        raise problem(404, "0x80060888", f"Resource not found for the segment '{CAST_PREFIX}{cast}'.")
    expand = _expands(call.request.args.get("$expand"))
    allowed_navigations = tuple(name for name in NAVIGATIONS if cast and name in DERIVED.get(cast, ()))
    for name in expand:
        if name not in allowed_navigations:
            type_name = cast or "AttributeMetadata"
            raise problem(
                400,
                "0x80060888",
                f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.",
            )
    items = []
    for attribute in table.attributes.values():
        if one is not None and attribute.logical_name != one and attribute.metadata_id != one:
            continue
        if cast is not None and attribute_class(attribute) != cast:
            continue
        items.append(attribute_json(table, attribute, expand=tuple(expand)))
    items = apply_filter(items, call.request.args.get("$filter"))
    allowed = _attribute_allowed(cast)
    chosen = select(items, call.request.args.get("$select"), type_name=cast or "AttributeMetadata", allowed=allowed)
    if call.request.args.get("$select"):
        for original, item in zip(items, chosen, strict=True):
            item.update({name: original[name] for name in expand if name in original})
    return chosen


# --- handlers ----------------------------------------------------------------------------------------------------
def entity_definitions(call: Call) -> Response:
    items = [entity_json(table) for table in call.environment.tables.values()]
    items = apply_filter(items, call.request.args.get("$filter"))
    items = select(
        items, call.request.args.get("$select"), type_name="EntityMetadata", allowed=tuple(items[0]) if items else ()
    )
    return json_response({"@odata.context": _context(call, "EntityDefinitions"), "value": items})


def entity_definition(call: Call, key: str) -> Response:
    table = _table(call, key)
    body = entity_json(table)
    expand = _expands(call.request.args.get("$expand"))
    (body,) = select([body], call.request.args.get("$select"), type_name="EntityMetadata", allowed=tuple(body))
    for name, nested in expand.items():
        if name == "Attributes":
            found = [attribute_json(table, attribute) for attribute in table.attributes.values()]
            body[name] = select(found, nested, type_name="AttributeMetadata", allowed=BASE_ATTRIBUTE)
        elif name == "Keys":
            body[name] = select(keys_json(table), nested, type_name="EntityKeyMetadata", allowed=KEY_PROPERTIES)
        elif name in ("ManyToOneRelationships", "OneToManyRelationships"):
            found = (many_to_one_json if name.startswith("Many") else one_to_many_json)(call.environment, table)
            body[name] = select(
                found, nested, type_name="OneToManyRelationshipMetadata", allowed=RELATIONSHIP_PROPERTIES
            )
        else:
            raise problem(
                400,
                "0x80060888",
                f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.EntityMetadata'.",
            )
    return json_response({"@odata.context": _context(call, "EntityDefinitions/$entity"), **body})


def attributes(call: Call, key: str, cast: str | None = None) -> Response:
    table = _table(call, key)
    cast = _cast(cast)
    items = _attributes(call, table, cast)
    fragment = f"EntityDefinitions('{table.metadata_id}')/Attributes" + (f"/{CAST_PREFIX}{cast}" if cast else "")
    return json_response({"@odata.context": _context(call, fragment), "value": items})


def attribute(call: Call, key: str, attribute_key: str, cast: str | None = None) -> Response:
    table = _table(call, key)
    cast = _cast(cast)
    text = attribute_key.strip()
    wanted = key_literal(text.split("=", 1)[1]) if text.startswith("LogicalName") else key_literal(text)
    items = _attributes(call, table, cast, one=str(wanted))
    if not items:
        raise problem(404, "0x80040217", f"Could not find attribute with key '{text}' on entity {table.logical_name}.")
    fragment = f"EntityDefinitions('{table.metadata_id}')/Attributes" + (f"/{CAST_PREFIX}{cast}" if cast else "")
    return json_response({"@odata.context": _context(call, fragment + "/$entity"), **items[0]})


def many_to_one(call: Call, key: str) -> Response:
    return _relationships(call, key, many_to_one_json, "ManyToOneRelationships")


def one_to_many(call: Call, key: str) -> Response:
    return _relationships(call, key, one_to_many_json, "OneToManyRelationships")


def _relationships(call: Call, key: str, build: Any, name: str) -> Response:
    table = _table(call, key)
    items = apply_filter(build(call.environment, table), call.request.args.get("$filter"))
    items = select(
        items,
        call.request.args.get("$select"),
        type_name="OneToManyRelationshipMetadata",
        allowed=RELATIONSHIP_PROPERTIES,
    )
    fragment = f"EntityDefinitions('{table.metadata_id}')/{name}"
    return json_response({"@odata.context": _context(call, fragment), "value": items})


def keys(call: Call, key: str) -> Response:
    table = _table(call, key)
    items = select(
        keys_json(table), call.request.args.get("$select"), type_name="EntityKeyMetadata", allowed=KEY_PROPERTIES
    )
    fragment = f"EntityDefinitions('{table.metadata_id}')/Keys"
    return json_response({"@odata.context": _context(call, fragment), "value": items})


def metadata_document(call: Call) -> Response:
    return Response(csdl(call.environment), mimetype="application/xml")


def _cast(cast: str | None) -> str | None:
    if cast is None:
        return None
    if not cast.startswith(CAST_PREFIX):
        raise problem(404, "0x80060888", f"Resource not found for the segment '{cast}'.")
    return cast[len(CAST_PREFIX) :]


DEFINITION = f"{API_PREFIX}/EntityDefinitions(<key>)"
ROUTES = [
    (f"{API_PREFIX}/EntityDefinitions", ["GET"], dv_endpoint(entity_definitions)),
    (DEFINITION, ["GET"], dv_endpoint(entity_definition)),
    (f"{DEFINITION}/Attributes", ["GET"], dv_endpoint(attributes)),
    (f"{DEFINITION}/Attributes/<cast>", ["GET"], dv_endpoint(attributes)),
    (f"{DEFINITION}/Attributes(<attribute_key>)", ["GET"], dv_endpoint(attribute)),
    (f"{DEFINITION}/Attributes(<attribute_key>)/<cast>", ["GET"], dv_endpoint(attribute)),
    (f"{DEFINITION}/ManyToOneRelationships", ["GET"], dv_endpoint(many_to_one)),
    (f"{DEFINITION}/OneToManyRelationships", ["GET"], dv_endpoint(one_to_many)),
    (f"{DEFINITION}/Keys", ["GET"], dv_endpoint(keys)),
    (f"{API_PREFIX}/$metadata", ["GET"], dv_endpoint(metadata_document)),
]
