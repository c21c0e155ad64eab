"""Rows as the Web API answers them: `@odata.etag` (W/"<versionnumber>"), every column (or the `$select`ed ones),
lookups as `_<column>_value`, datetimes ISO with `Z` (date-only columns as YYYY-MM-DD), and with `Prefer:
odata.include-annotations` the annotations asked for: `<column>@OData.Community.Display.V1.FormattedValue` (option
set labels, lookup names, Yes/No, money, dates) and, on lookups, `@Microsoft.Dynamics.CRM.lookuplogicalname` and
`@Microsoft.Dynamics.CRM.associatednavigationproperty`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.calls import problem

if TYPE_CHECKING:
    from sandbox.dynamics.state import Environment, Row, Table

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LABELLED_TYPES = ("Picklist", "State", "Status", "Boolean", "Money", "Integer", "BigInt", "DateTime")
LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"


def lookup_property(column: str) -> str:
    return f"_{column}_value"


def wants(annotations: Iterable[str], name: str) -> bool:
    """Whether `Prefer: odata.include-annotations` asked for `name` ("*", the name, or a "prefix.*" of it)."""
    for asked in annotations:
        if asked in ("*", name) or (asked.endswith(".*") and name.startswith(asked[:-1])):
            return True
    return False


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_select(table: Table, select: str | None) -> list[str] | None:
    """The stored columns a `$select` names (lookups named either way: `ownerid` or `_ownerid_value`); None
    for all. An unknown name: 400 0x80060888 as Dataverse answers."""
    if not select:
        return None
    columns = []
    for name in (part.strip() for part in select.split(",")):
        if not name:
            continue
        column = name
        if name.startswith("_") and name.endswith("_value"):
            column = name[1:-6]
            attribute = table.attribute(column)
            if attribute is None or not attribute.is_lookup:
                raise unknown_property(table, name)
        elif table.attribute(name) is None:
            raise unknown_property(table, name)
        columns.append(column)
    return columns


def unknown_property(table: Table, name: str):
    return problem(
        400,
        "0x80060888",
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'.",
    )


def row_json(
    environment: Environment,
    table: Table,
    row: Row,
    *,
    select: list[str] | None = None,
    annotations: Iterable[str] = (),
) -> dict[str, Any]:
    """The row's JSON (without @odata.context: the caller adds it for a single row)."""
    annotations = tuple(annotations)
    formatted = wants(annotations, FORMATTED) if annotations else False
    navigation = wants(annotations, NAVIGATION) if annotations else False
    logical = wants(annotations, LOOKUP_TABLE) if annotations else False
    body: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber")}"'}
    for column, name, attribute, default_target, labelled in _plan(table, select):
        value = row.get(column)
        if name is not None:  # a lookup
            if value is not None and annotations:
                target = row.get(f"{column}@table") or default_target
                if formatted:
                    body[f"{name}@{FORMATTED}"] = lookup_name(environment, target, value)
                if navigation:
                    body[f"{name}@{NAVIGATION}"] = navigation_property(attribute, target)
                if logical:
                    body[f"{name}@{LOOKUP_TABLE}"] = target
            body[name] = value
            continue
        if formatted and labelled and value is not None:
            label = formatted_value(attribute, value)
            if label is not None:
                body[f"{column}@{FORMATTED}"] = label
        kind = type(value)
        body[column] = json_value(value) if kind is datetime or kind is date else value
    return body


def _plan(table: Table, select: list[str] | None) -> list[tuple[str, str | None, Any, str, bool]]:
    """(column, lookup property or None, attribute, a lookup's default target, has a formatted value) per column
    answered, kept per table and selection (rows are shaped thousands at a time)."""
    key = tuple(select) if select is not None else None
    plans = table.__dict__.setdefault("_row_plans", {})
    found = plans.get(key)
    if found is None:
        columns = list(select) if select is not None else list(table.attributes)
        if table.primary_id not in columns:
            columns.append(table.primary_id)
        found = []
        for column in columns:
            attribute = table.attributes[column]
            if attribute.is_lookup:
                target = attribute.targets[0] if attribute.targets else ""
                found.append((column, lookup_property(column), attribute, target, True))
            else:
                found.append((column, None, attribute, "", attribute.type in LABELLED_TYPES))
        if len(plans) < 256:  # selections are few; never let odd clients grow this without bound
            plans[key] = found
    return found


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def formatted_value(attribute: Any, value: Any) -> str | None:
    if attribute.is_option_set:
        return attribute.label(value)
    if attribute.type == "Boolean":
        labels = dict(attribute.options) if attribute.options else {0: "No", 1: "Yes"}
        return labels.get(int(bool(value)), "Yes" if value else "No")
    if attribute.type == "Money":
        return f"${float(value):,.2f}"
    if attribute.type in ("Integer", "BigInt"):
        return f"{int(value):,}"
    if attribute.type == "DateTime":
        if isinstance(value, datetime):
            return f"{value.month}/{value.day}/{value.year} {value.strftime('%I:%M %p').lstrip('0')}"
        if isinstance(value, str) and len(value) == 10:
            return f"{int(value[5:7])}/{int(value[8:10])}/{value[:4]}"
    return None


def lookup_name(environment: Environment, target: str, row_id: str) -> str | None:
    table = environment.table(target)
    if table is None:
        return None
    found = table.rows.get(row_id)
    return found.get(table.primary_name) if found else None


def navigation_property(attribute: Any, target: str) -> str:
    """The single-valued navigation property a lookup's value goes through (what @odata.bind names): the column
    itself, or `<column>_<target>` on a lookup to several tables (e.g. regardingobjectid_lead_task)."""
    if attribute.type == "Owner":
        return "ownerid"
    if attribute.logical_name == "regardingobjectid":
        return f"regardingobjectid_{target}_{attribute.table}"
    if len(attribute.targets) > 1:
        return f"{attribute.logical_name}_{target}"
    return attribute.logical_name


def context_url(api_url: str, table: Table, select: list[str] | None = None, *, entity: bool = True) -> str:
    selected = f"({','.join(select)})" if select else ""
    return f"{api_url}$metadata#{table.entity_set_name}{selected}" + ("/$entity" if entity else "")


def entity_id_url(api_url: str, table: Table, row_id: str) -> str:
    return f"{api_url}{table.entity_set_name}({row_id})"
