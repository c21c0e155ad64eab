"""Dataverse rows in Leadline's terms: a row as the Web API sends it (typed JSON values, lookups as `_<name>_value`,
annotations such as `<column>@OData.Community.Display.V1.FormattedValue`) as a `crm.records.CanonicalRecord`, typed
by the table's schema (schema.py).

- Lookups become two fields: `<name>` (the id, lower-case) and `<name>_name` (the FormattedValue annotation: the
  record's display name); the owner (`_ownerid_value`) is the record's owner_id/owner_name instead.
- Option sets become `<name>` (the option's number as text, "8": the value `FieldSpec.choices` lists and a write
  takes, so a value written reads back the same) and `<name>_label` (the annotation, else the metadata's label);
  multi-select ones a list of such texts (Dataverse sends "1,3").
- Phone columns keep what a person typed in `fields`, and their E.164 form (default region
  SYNC_PHONE_DEFAULT_REGION) goes into `phones`, whatever the format ("(415) 555-0142", "+1 415-555-0143").
- Datetimes (ISO with `Z`) are read as ISO text in UTC, dates as YYYY-MM-DD, money and decimals as floats.
- Custom columns (publisher prefix, IsCustomAttribute) go into custom_fields by logical name; a column the schema
  does not know (created since it was read) is kept there as sent.

A value that does not fit its column's type is left out (None) and reported as a FieldProblem. `raw` is the row as
sent, so a caller reads a column as `record.raw["lastname"]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from core.phone import e164_or_blank
from crm.providers.dynamics.schema import (
    CREATED_COLUMN,
    EMAIL_COLUMN,
    MODIFIED_COLUMN,
    NAME_PARTS,
    OWNER_COLUMN,
    TableSchema,
    value_column,
)
from crm.records import CanonicalRecord, FieldProblem, FieldType

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LOOKUP_TABLE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
ETAG = "@odata.etag"
TEXT_CACHE = 8192
# A lead's status reason's label is its status as the product shows it (the widget's card reads `lead_status`).
STATUS_LABEL_KEY = "statuscode_label"
LEAD_STATUS_KEY = "lead_status"


@lru_cache(maxsize=TEXT_CACHE)
def parse_datetime(raw: str) -> datetime:
    """A Dataverse datetime ("2026-12-07T14:03:56Z") as an aware UTC datetime."""
    text = str(raw).strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a datetime: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def odata_datetime(moment: datetime) -> str:
    """A datetime as a `$filter` literal (UTC, `Z`; whole seconds unless it has a fraction)."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _boolean(raw: Any) -> Any:
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _integer(raw: Any) -> Any:
    if isinstance(raw, bool):
        raise ValueError(f"not a number: {raw!r}")
    if isinstance(raw, int):
        return raw
    number = _decimal(raw)
    if not number.is_integer():
        raise ValueError(f"not a whole number: {raw!r}")
    return int(number)


def _decimal(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"not a number: {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {raw!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {raw!r}")
    return number


def _date(raw: Any) -> Any:
    text = str(raw).strip()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ValueError(f"not a date: {raw!r}") from None


def _datetime(raw: Any) -> Any:
    return parse_datetime(str(raw)).isoformat()


def _option(raw: Any) -> Any:
    return str(_integer(raw))


def _multi(raw: Any) -> Any:
    if isinstance(raw, list):
        return [_option(item) for item in raw]
    return [_option(item) for item in str(raw).split(",") if item.strip()]


def _text(raw: Any) -> Any:
    if isinstance(raw, dict | list):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    return raw if isinstance(raw, str) else str(raw)


def _guid(raw: Any) -> Any:
    return str(raw).strip().lower()


CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.BOOLEAN: _boolean,
    FieldType.NUMBER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.CURRENCY: _decimal,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.PICKLIST: _option,
    FieldType.MULTI_PICKLIST: _multi,
    FieldType.LOOKUP: _guid,
    FieldType.USER: _guid,
}


def value_convert(field_type: FieldType, raw: Any) -> Any:
    """A column's value as Leadline reads it; None for no value ("" too); ValueError when it does not fit."""
    if raw is None or raw == "":
        return None
    return CONVERTERS.get(field_type, _text)(raw)


# What a column's value brings with it besides itself (found once per schema).
PLAIN, LOOKUP, PICKLIST, MULTI_PICKLIST, PHONE = range(5)
_EXTRA = {
    FieldType.LOOKUP: LOOKUP,
    FieldType.PICKLIST: PICKLIST,
    FieldType.MULTI_PICKLIST: MULTI_PICKLIST,
    FieldType.PHONE: PHONE,
}


class Routes:
    """Where each column of a schema goes, worked out once per schema: column in the row -> (logical name, type,
    key, custom, converter, what else it brings (PLAIN, LOOKUP, PICKLIST, MULTI_PICKLIST, PHONE), the key of its
    FormattedValue annotation). The record's own columns (id, times, e-mail, owner) are read apart (`own`)."""

    __slots__ = ("own", "routes")

    def __init__(self, schema: TableSchema) -> None:
        self.own = frozenset(
            {schema.primary_id, MODIFIED_COLUMN, CREATED_COLUMN, EMAIL_COLUMN, f"_{OWNER_COLUMN}_value"}
        )
        self.routes: dict[str, tuple[str, FieldType, str, bool, Callable[[Any], Any], int, str]] = {}
        for name, field_type in schema.types.items():
            if name in self.own or name == OWNER_COLUMN:
                continue
            column = value_column(name, field_type)
            self.routes[column] = (
                name,
                field_type,
                schema.keys[name],
                name in schema.custom,
                CONVERTERS.get(field_type, _text),
                _EXTRA.get(field_type, PLAIN),
                column + FORMATTED,
            )


def routes_of(schema: TableSchema) -> Routes:
    if schema.routes is None:
        schema.routes = Routes(schema)
    return schema.routes


def row_id(schema: TableSchema, row: Mapping[str, Any]) -> str:
    """The row's primary id, lower-case."""
    return str(row[schema.primary_id]).strip().lower()


def modified_time_of(row: Mapping[str, Any]) -> datetime:
    raw = row.get(MODIFIED_COLUMN)
    if not raw:
        raise ValueError(f"no {MODIFIED_COLUMN}")
    return parse_datetime(str(raw))


def record_map(*, schema: TableSchema, record: Mapping[str, Any], region: str) -> CanonicalRecord:
    """A Dataverse row in Leadline's terms. KeyError/ValueError when it has no id or no modifiedon."""
    row = record
    record_id = row_id(schema, row)
    modified = modified_time_of(row)
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    phones: dict[str, str] = {}
    problems: list[FieldProblem] = []
    plan = routes_of(schema)
    routes, own = plan.routes, plan.own
    for column, raw in row.items():
        route = routes.get(column)
        if route is None:
            if "@" in column or column in own:
                continue  # annotations, the row's own columns (read below)
            if column.startswith("_") and column.endswith("_value"):
                name = column[1 : -len("_value")]
                target = custom if name in schema.custom or "_" in name else fields
                target[name] = _guid(raw) if raw else None
                target[f"{name}_name"] = row.get(column + FORMATTED) or None
            else:
                custom[column] = raw  # a column created since the schema was read: kept as sent
            continue
        name, _type, key, is_custom, convert, extra, formatted = route
        target = custom if is_custom else fields
        if raw is None or raw == "":
            value = None
        elif convert is _text and type(raw) is str:
            value = raw  # the common case, as _text answers it
        else:
            try:
                value = convert(raw)
            except ValueError as exc:
                problems.append(FieldProblem(name, raw, str(exc)))
                value = None
        target[key] = value
        if extra:
            if extra == LOOKUP:
                target[f"{key}_name"] = row.get(formatted) or None
            elif extra == PICKLIST:
                target[f"{key}_label"] = _option_label(schema, name, value, row.get(formatted))
            elif extra == MULTI_PICKLIST:
                target[f"{key}_label"] = row.get(formatted) or None
            elif value:  # a phone
                e164 = e164_or_blank(value, region)
                if e164:
                    phones[name] = e164
    email_key = schema.keys.get(EMAIL_COLUMN)
    if email_key:  # the record's e-mail is a field too (its spec's key), as a write sets it
        fields[email_key] = row.get(EMAIL_COLUMN) or None
    if schema.object == "lead" and fields.get(STATUS_LABEL_KEY):
        fields[LEAD_STATUS_KEY] = fields[STATUS_LABEL_KEY]  # the status reason people see ("New", "Contacted")
    owner_column = f"_{OWNER_COLUMN}_value"
    created_raw = row.get(CREATED_COLUMN)
    return CanonicalRecord(
        object=schema.object,
        id=record_id,
        modified_time=modified,
        name=_name(schema, row),
        email=str(row.get(EMAIL_COLUMN) or ""),
        phones=phones,
        owner_id=_guid(row[owner_column]) if row.get(owner_column) else "",
        owner_name=str(row.get(owner_column + FORMATTED) or ""),
        created_time=parse_datetime(str(created_raw)) if created_raw else None,
        fields=fields,
        custom_fields=custom,
        problems=tuple(problems),
        raw=row,
    )


def _option_label(schema: TableSchema, name: str, value: Any, formatted: Any) -> str | None:
    if formatted:
        return str(formatted)
    if value is None:
        return None
    try:
        return schema.options.get(name, {}).get(int(value)) or None
    except (TypeError, ValueError):
        return None


def _name(schema: TableSchema, row: Mapping[str, Any]) -> str:
    """The primary name column (fullname, name, subject), else the first and last names joined."""
    name = str(row.get(schema.primary_name) or "").strip() if schema.primary_name else ""
    if name:
        return name
    parts = [str(row.get(part) or "").strip() for part in NAME_PARTS]
    return " ".join(part for part in parts if part)
