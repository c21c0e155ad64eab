"""Rows as the Web API answers them: `@odata.etag` (W/"<versionnumber>"), every column (or the `$select`ed ones),
lookups as `_<column>_value`, datetimes ISO with `Z` (date-only columns as YYYY-MM-DD), and with `Prefer:
odata.include-annotations` the annotations asked for: `<column>@OData.Community.Display.V1.FormattedValue` (option
set labels, lookup names, Yes/No, money, dates) and, on lookups, `@Microsoft.Dynamics.CRM.lookuplogicalname` and
`@Microsoft.Dynamics.CRM.associatednavigationproperty`."""

from __future__ import annotations

import json
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
    """UTC, whole seconds, `Z` (isoformat is a few times quicker than strftime; the same text)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


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
    return Shaper(environment, table, select, annotations)(row)


def rows_json(
    environment: Environment,
    table: Table,
    rows: Iterable[Row],
    *,
    select: list[str] | None = None,
    annotations: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Many rows' JSON, shaped by one Shaper (a page of 5,000 pays for the plan and the annotations' choices once)."""
    shape = Shaper(environment, table, select, annotations)
    return [shape(row) for row in rows]


def rows_text(
    environment: Environment,
    table: Table,
    rows: Iterable[Row],
    *,
    select: list[str] | None = None,
    annotations: Iterable[str] = (),
) -> list[str]:
    """rows_json's rows as compact JSON texts (what a page's body splices in)."""
    shape = Shaper(environment, table, select, annotations)
    return [shape.text(row) for row in rows]


# What a column's formatted value is (found once per plan, not per value).
PLAIN, OPTION_SET, BOOLEAN, MONEY, INTEGER, MOMENT = range(6)


def _label_kind(attribute: Any) -> int:
    if attribute.is_option_set:
        return OPTION_SET
    return {"Boolean": BOOLEAN, "Money": MONEY, "Integer": INTEGER, "BigInt": INTEGER, "DateTime": MOMENT}.get(
        attribute.type, PLAIN
    )


_string_json = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes for a str


def value_text(value: Any) -> str:
    """`value` as json.dumps(value, separators=(",", ":"), ensure_ascii=False) writes it, the common types quickly."""
    kind = type(value)
    if kind is str:
        return _string_json(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Shaper:
    """Shapes rows of one table for one request: the table's plan of columns, which annotations were asked for,
    and per request the option sets' labels, the lookups' target tables and navigation properties, so a row costs
    dictionary reads, not attribute dispatch. The same JSON as formatted_value / lookup_name / navigation_property."""

    def __init__(
        self, environment: Environment, table: Table, select: list[str] | None, annotations: Iterable[str]
    ) -> None:
        annotations = tuple(annotations)
        self.environment = environment
        self.plan = _plan(table, select)
        self.annotated = bool(annotations)
        self.formatted = wants(annotations, FORMATTED) if annotations else False
        self.navigation = wants(annotations, NAVIGATION) if annotations else False
        self.logical = wants(annotations, LOOKUP_TABLE) if annotations else False
        self.labels: dict[str, dict[Any, str]] = {}  # column -> option labels (first of a value wins, as label())
        self.targets: dict[str, tuple[dict[str, Row], str] | None] = {}  # table -> (rows, primary name column)
        self.navigations: dict[tuple[str, str], str] = {}
        self.keys: dict[str, str] = {}  # a property name as JSON text with its colon
        self.text_plan: list[tuple] | None = None  # the plan with its property names as JSON text (text())

    def _key(self, name: str) -> str:
        found = self.keys.get(name)
        if found is None:
            found = self.keys[name] = _string_json(name) + ":"
        return found

    def __call__(self, row: Row) -> dict[str, Any]:
        body: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber")}"'}
        annotated, formatted = self.annotated, self.formatted
        for column, name, attribute, default_target, kind, target_key, label_key in self.plan:
            value = row.get(column)
            if name is not None:  # a lookup
                if value is not None and annotated:
                    target = row.get(target_key) or default_target
                    if formatted:
                        body[label_key] = self._lookup_name(target, value)
                    if self.navigation:
                        body[f"{name}@{NAVIGATION}"] = self._navigation(attribute, target)
                    if self.logical:
                        body[f"{name}@{LOOKUP_TABLE}"] = target
                body[name] = value
                continue
            if formatted and kind and value is not None:
                label = self._label(kind, attribute, value)
                if label is not None:
                    body[label_key] = label
            value_type = type(value)
            if value_type is datetime:
                body[column] = iso(value)
            elif value_type is date:
                body[column] = value.isoformat()
            else:
                body[column] = value
        return body

    def text(self, row: Row) -> str:
        """json.dumps(self(row), separators=(",", ":"), ensure_ascii=False), written directly (a page is thousands of
        rows: no dict built to be encoded again)."""
        if self.text_plan is None:
            key = self._key
            self.text_plan = [
                (column, name, attribute, default_target, kind, target_key, key(label_key), key(name or column))
                + ((key(f"{name}@{NAVIGATION}"), key(f"{name}@{LOOKUP_TABLE}")) if name else ("", ""))
                for column, name, attribute, default_target, kind, target_key, label_key in self.plan
            ]
        annotated, formatted = self.annotated, self.formatted
        parts = ['{"@odata.etag":', _string_json(f'W/"{row.get("versionnumber")}"')]
        append = parts.append
        for (
            column,
            name,
            attribute,
            default_target,
            kind,
            target_key,
            label,
            own,
            navigation,
            logical,
        ) in self.text_plan:
            value = row.get(column)
            if name is not None:  # a lookup
                if value is not None and annotated:
                    target = row.get(target_key) or default_target
                    if formatted:
                        append(f",{label}{value_text(self._lookup_name(target, value))}")
                    if self.navigation:
                        append(f",{navigation}{value_text(self._navigation(attribute, target))}")
                    if self.logical:
                        append(f",{logical}{value_text(target)}")
                append(f",{own}{value_text(value)}")
                continue
            if formatted and kind and value is not None:
                text = self._label(kind, attribute, value)
                if text is not None:
                    append(f",{label}{value_text(text)}")
            value_type = type(value)
            if value_type is str:
                append(f",{own}{_string_json(value)}")
            elif value_type is datetime:
                append(f',{own}"{iso(value)}"')
            elif value_type is date:
                append(f',{own}"{value.isoformat()}"')
            else:
                append(f",{own}{value_text(value)}")
        append("}")
        return "".join(parts)

    def _label(self, kind: int, attribute: Any, value: Any) -> str | None:
        if kind == MOMENT and type(value) is datetime:
            hour = value.hour
            return (
                f"{value.month}/{value.day}/{value.year} {hour % 12 or 12}:{value.minute:02d} "
                f"{'AM' if hour < 12 else 'PM'}"
            )
        if kind == OPTION_SET:
            labels = self.labels.get(attribute.logical_name)
            if labels is None:
                labels = self.labels[attribute.logical_name] = {}
                for number, text in attribute.options:
                    labels.setdefault(number, text)
            try:
                return labels.get(value)
            except TypeError:  # an unhashable value compares equal to no option
                return attribute.label(value)
        return formatted_value(attribute, value)

    def _lookup_name(self, target: str, row_id: str) -> str | None:
        found = self.targets.get(target, False)
        if found is False:
            table = self.environment.table(target)
            found = self.targets[target] = (table.rows, table.primary_name) if table is not None else None
        if found is None:
            return None
        referenced = found[0].get(row_id)
        return referenced.get(found[1]) if referenced else None

    def _navigation(self, attribute: Any, target: str) -> str:
        key = (attribute.logical_name, target)
        found = self.navigations.get(key)
        if found is None:
            found = self.navigations[key] = navigation_property(attribute, target)
        return found


PlanEntry = tuple[str, "str | None", Any, str, int, str, str]


def _plan(table: Table, select: list[str] | None) -> list[PlanEntry]:
    """(column, lookup property or None, attribute, a lookup's default target, its formatted value's kind (PLAIN:
    none), the row key of a lookup's target table, the formatted value's key) per column answered, kept per table,
    selection and column count (rows are shaped thousands at a time)."""
    key = (tuple(select) if select is not None else None, len(table.attributes))
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
                name = lookup_property(column)
                found.append((column, name, attribute, target, PLAIN, f"{column}@table", f"{name}@{FORMATTED}"))
            else:
                kind = _label_kind(attribute) if attribute.type in LABELLED_TYPES else PLAIN
                found.append((column, None, attribute, "", kind, "", f"{column}@{FORMATTED}"))
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
