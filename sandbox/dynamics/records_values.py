"""Reading what a write sends: the key in `/<set>(<key>)` (a GUID or alternate key columns), `@odata.bind`
references, and column values checked against the column's type, length and options, in Dataverse's words."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.calls import Problem, dv_error, problem

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from sandbox.dynamics.state import Attribute, Environment, Row, Table

PAYLOAD = "0x80048d19"
NOT_EXIST = "0x80040217"
_KEY_PART = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")
_REFERENCE = re.compile(r"^(?:.*/)?([A-Za-z_][A-Za-z0-9_]*)\((.+)\)$")


def payload_error(table: Table, message: str) -> Problem:
    return problem(
        400,
        PAYLOAD,
        f"Error identified in Payload provided by the user for Entity :'{table.entity_set_name}', For more "
        "information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293"
        f"  ---->  InnerException : Microsoft.OData.ODataException: {message}",
    )


def not_exist(table: Table, row_id: str) -> Problem:
    return problem(404, NOT_EXIST, f"{table.logical_name} With Id = {row_id} Does Not Exist")


def split_segment(entity_set: str, key: str) -> tuple[str, str]:
    """The router splits `leads(lh_x='a(b)')` at the first '(' it can; rejoin and split at the first '('."""
    whole = f"{entity_set}({key})"
    name, _, rest = whole.partition("(")
    return name, rest[:-1]


def key_literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text


def parse_key(table: Table, text: str) -> tuple[str | None, dict[str, Any]]:
    """(row id, {}) for a GUID key; (None, {column: value}) for an alternate key defined on the table."""
    text = text.strip()
    try:
        return str(uuid.UUID(text.strip("{}"))), {}
    except ValueError:
        pass
    values: dict[str, Any] = {}
    position = 0
    while position < len(text):
        match = _KEY_PART.match(text, position)
        if match is None or match.end() == position:
            raise bad_key(table, text)
        values[match.group(1)] = key_literal(match.group(2))
        position = match.end()
    if list(values) == [table.primary_id]:
        return str(values[table.primary_id]), {}
    if set(values) not in [set(columns) for columns in table.alternate_keys.values()]:
        raise bad_key(table, text)
    return None, values


def bad_key(table: Table, text: str) -> Problem:
    return problem(
        400,
        "0x80060888",
        f"The key '{text}' is not a primary id or an alternate key defined on entity '{table.logical_name}'.",
    )


def find_row(environment: Environment, table: Table, row_id: str | None, key: dict[str, Any]) -> Row | None:
    if row_id is not None:
        return table.rows.get(row_id)
    return table.find_by_key(key)


def key_missing(table: Table, row_id: str | None, key: dict[str, Any]) -> Problem:
    if row_id is not None:
        return not_exist(table, row_id)
    described = ",".join(f"{name}:{value}" for name, value in key.items())
    return problem(
        404,
        NOT_EXIST,
        f"A record with the specified key values does not exist in {table.logical_name} entity ({described})",
    )


def lookup_of_navigation(table: Table, navigation: str) -> tuple[Attribute, str | None] | None:
    """The lookup column a navigation property sets and the target table it names (None: any of its targets)."""
    attribute = table.attribute(navigation)
    if attribute is not None and attribute.is_lookup:
        return attribute, None
    for attribute in table.lookups():
        for target in attribute.targets:
            names = {f"{attribute.logical_name}_{target}", f"{attribute.logical_name}_{target}_{table.logical_name}"}
            if navigation in names:
                return attribute, target
    return None


def resolve_reference(environment: Environment, table: Table, reference: Any) -> tuple[str, str]:
    """`/accounts(<guid>)` (or a full URL, or an alternate key) -> (target table, row id); 404 when missing."""
    match = _REFERENCE.match(str(reference or "").strip())
    target = environment.table_of_set(match.group(1)) if match else None
    if match is None or target is None:
        raise payload_error(table, f"The reference '{reference}' in an @odata.bind annotation is not valid.")
    row_id, key = parse_key(target, match.group(2))
    row = find_row(environment, target, row_id, key)
    if row is None:
        raise key_missing(target, row_id, key)
    return target.logical_name, row[target.primary_id]


def values_from_body(environment: Environment, table: Table, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The stored values a write's JSON sets (read-only platform columns are ignored, as Dataverse does)."""
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            navigation = name[: -len("@odata.bind")]
            found = lookup_of_navigation(table, navigation)
            if found is None:
                raise payload_error(table, _undeclared(table, navigation))
            attribute, expected = found
            if value is None:
                values[attribute.logical_name], values[f"{attribute.logical_name}@table"] = None, None
                continue
            target, row_id = resolve_reference(environment, table, value)
            if (expected and target != expected) or target not in attribute.targets:
                raise payload_error(table, f"The reference '{value}' does not match the navigation property "
                                           f"'{navigation}'.")  # fmt: skip
            values[attribute.logical_name], values[f"{attribute.logical_name}@table"] = row_id, target
            continue
        if "@" in name:
            continue  # instance annotations (@odata.type and the like) carry no value
        attribute = table.attribute(name)
        if attribute is None:
            raise payload_error(table, _undeclared(table, name))
        if attribute.is_lookup:
            raise payload_error(
                table,
                "A 'PrimitiveValue' node with non-null value was found when trying to read the value of a navigation "
                "property; however, a 'StartArray' node, a 'StartObject' node, or a 'PrimitiveValue' node with null "
                "value was expected.",
            )
        if not (attribute.valid_for_create if creating else attribute.valid_for_update):
            if name != table.primary_id:
                continue
        values[name] = typed_value(table, attribute, value)
    return values


def _undeclared(table: Table, name: str) -> str:
    return (
        f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{table.logical_name}'. Make sure to "
        "only use property names that are defined by the type or mark the type as open type."
    )


EDM = {"String": "Edm.String", "Memo": "Edm.String", "Integer": "Edm.Int32", "BigInt": "Edm.Int64",
       "Picklist": "Edm.Int32", "State": "Edm.Int32", "Status": "Edm.Int32", "Boolean": "Edm.Boolean",
       "Money": "Edm.Decimal", "Decimal": "Edm.Decimal", "Double": "Edm.Double", "DateTime": "Edm.DateTimeOffset",
       "Uniqueidentifier": "Edm.Guid", "EntityName": "Edm.String"}  # fmt: skip


def typed_value(table: Table, attribute: Attribute, value: Any) -> Any:
    """The stored form of a JSON value, or Dataverse's error for the wrong type, length or option."""
    if value is None:
        return None
    kind = attribute.type

    def wrong() -> Problem:
        return payload_error(table, f"Cannot convert the literal '{value}' to the expected type '{EDM.get(kind)}'.")

    if kind in ("String", "Memo", "EntityName"):
        if not isinstance(value, str):
            raise wrong()
        if attribute.max_length and len(value) > attribute.max_length:
            raise problem(
                400,
                "0x80044331",
                f"A validation error occurred.  The length of the '{attribute.logical_name}' attribute of the "
                f"'{table.logical_name}' entity exceeded the maximum allowed length of '{attribute.max_length}'.",
            )
        return value
    if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        if attribute.is_option_set and attribute.label(value) is None:
            accepted = ",".join(str(number) for number, _ in attribute.options)
            raise problem(
                400,
                "0x8004431a",
                f"A validation error occurred. The value {value} of '{attribute.logical_name}' on record of type "
                f"'{table.logical_name}' is outside the valid range. Accepted Values: {accepted}",
            )
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise wrong()
        return value
    if kind in ("Money", "Decimal", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong()
        return float(value)
    if kind == "DateTime":
        return _datetime(attribute, value, wrong)
    if kind == "Uniqueidentifier":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise wrong() from None
    return value


def _datetime(attribute: Attribute, value: Any, wrong: Any) -> Any:
    if not isinstance(value, str):
        raise wrong()
    text = value.strip()
    try:
        if attribute.format == "DateOnly":
            return date.fromisoformat(text[:10]).isoformat()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise wrong() from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def required_missing(table: Table, values: dict[str, Any]) -> Response | None:
    """A create lacking a column the table requires (ApplicationRequired or SystemRequired, not set by the
    platform). UNCONFIRMED strictness: real orgs enforce business-required columns in forms, not always in the
    API; the emulator refuses so clients always send them."""
    for attribute in table.attributes.values():
        if attribute.required not in ("ApplicationRequired", "SystemRequired") or not attribute.valid_for_create:
            continue
        if attribute.logical_name in (table.primary_id, "ownerid", "statecode"):
            continue
        if values.get(attribute.logical_name) in (None, ""):
            return dv_error(
                400,
                "0x80040203",
                f"Required field '{attribute.logical_name}' is missing: {table.logical_name} requires a value for "
                f"'{attribute.display_name or attribute.logical_name}'.",
            )
    return None


def settle_state(table: Table, values: dict[str, Any], existing: Row | None) -> None:
    """statecode and statuscode agree, as Dataverse requires: a state alone takes its default status reason, a
    status reason alone its state; a status reason of another state is refused."""
    from sandbox.dynamics.seed_tables import DEFAULT_STATUS, STATUS_STATES

    states = STATUS_STATES.get(table.logical_name)
    if not states or ("statecode" not in values and "statuscode" not in values):
        return
    state = values.get("statecode")
    status = values.get("statuscode")
    if state is None and status is not None:
        values["statecode"] = state = states.get(status, existing.get("statecode") if existing else 0)
    if state is not None and status is None:
        values["statuscode"] = status = DEFAULT_STATUS[table.logical_name].get(state)
    if state is not None and status is not None and states.get(status) != state:
        state_label = table.attributes["statecode"].label(state) or state
        row_id = existing[table.primary_id] if existing else "00000000-0000-0000-0000-000000000000"
        raise problem(
            400,
            "0x80040203",
            f"{status} is not a valid status code for state code {schema(table)}State.{state_label} on "
            f"{table.logical_name} with Id {row_id}.",
        )


def schema(table: Table) -> str:
    return table.logical_name[:1].upper() + table.logical_name[1:]
