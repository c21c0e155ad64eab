"""HubSpot records in Leadline's terms: an object as the API sends it (`{id, properties: {name: text}, createdAt,
updatedAt, archived}`, every value a string or null) as a `crm.records.CanonicalRecord`, typed by the object's
schema (schema.py).

Values: HubSpot sends every property as text; booleans ("true"/"false"), numbers, dates and datetimes (ISO text or
epoch milliseconds) and multi-select values (`a;b`) are converted by their property's type, "" is no value (None).
A value that does not fit its type is left out (None) and reported as a FieldProblem. Phone properties keep what a
person typed in `fields`, and their E.164 form (default region SYNC_PHONE_DEFAULT_REGION) goes into `phones`.

The record's columns: id (`id`, else hs_object_id), modified time (the object's modified-time property the reads
page on: lastmodifieddate for contacts, hs_lastmodifieddate otherwise; `updatedAt` when absent), created time
(`createdAt`, else createdate), name (firstname lastname, name, dealname...), email, owner (hubspot_owner_id).
Associations read beside the records (`associations`: {to type: [ids]}) are flattened: a contact's first company
as `company_id`, a deal's `contact_ids` and `company_ids`.

`raw` is the record flat: its properties by name beside `id`, `createdAt`, `updatedAt`, `archived` (and
`archivedAt`, `associations` when sent), so a caller reads a property as `record.raw["lastname"]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from core.phone import e164_or_blank
from crm.providers.hubspot.schema import CREATED_PROPERTIES, ID_PROPERTY, NAME_PROPERTIES, OWNER_PROPERTY, ObjectSchema
from crm.records import CanonicalRecord, FieldProblem, FieldType

EPOCH_MS = re.compile(r"-?\d{10,14}")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RECORD_KEYS = ("id", "createdAt", "updatedAt", "archived", "archivedAt")


# --- values ------------------------------------------------------------------------------------------------------
# The mirror maps every property of every record it reads, so the converters of text that repeats (a page's modified
# times are parsed by the reads and again by the mapping; dates and datetimes recur across records) keep their
# answers for the last few thousand texts. A value that does not fit raises each time (exceptions are not kept).
TEXT_CACHE = 8192


def parse_datetime(raw: Any) -> datetime:
    """HubSpot's datetimes as an aware UTC datetime: ISO text ("2026-12-07T14:03:56.123Z") or epoch milliseconds
    (as text or a number)."""
    return _datetime_parsed(raw if type(raw) is str else str(raw))


@lru_cache(maxsize=TEXT_CACHE)
def _datetime_parsed(raw: str) -> datetime:
    text = raw.strip()
    if EPOCH_MS.fullmatch(text):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a datetime: {raw!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # HubSpot's datetimes are UTC
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """A datetime as the epoch milliseconds HubSpot's search filters compare."""
    return round((moment - EPOCH) / timedelta(milliseconds=1))


BOOLEANS = {"true": True, "false": False}


def _boolean(raw: str) -> Any:
    found = BOOLEANS.get(raw)  # HubSpot's own spelling
    if found is not None:
        return found
    lowered = raw.strip().lower()
    if lowered in BOOLEANS:
        return BOOLEANS[lowered]
    raise ValueError(f"not a boolean: {raw!r}")


def _decimal(raw: str) -> Any:
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"not a number: {raw!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {raw!r}")
    return number


@lru_cache(maxsize=TEXT_CACHE)
def _date(raw: str) -> Any:
    text = raw.strip()
    if EPOCH_MS.fullmatch(text):  # date properties set through the API may come back as midnight UTC in ms
        return parse_datetime(text).date().isoformat()
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise ValueError(f"not a date: {raw!r}") from None


@lru_cache(maxsize=TEXT_CACHE)
def _datetime(raw: str) -> Any:
    return parse_datetime(raw).isoformat()


def _multi(raw: str) -> Any:
    return [item for item in raw.split(";") if item]


def _integer(raw: str) -> Any:
    """An id-like number as an int ("9001" or "9001.0"); a value with a fraction stays a float."""
    if raw.isascii() and raw.isdigit():
        return int(raw)
    number = _decimal(raw)
    return int(number) if number.is_integer() else number


CONVERTERS: dict[FieldType, Callable[[str], Any]] = {
    FieldType.BOOLEAN: _boolean,
    FieldType.NUMBER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.CURRENCY: _decimal,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.MULTI_PICKLIST: _multi,
}


def value_convert(field_type: FieldType, raw: Any) -> Any:
    """A property's value (HubSpot's text) as Leadline reads it; None for no value; ValueError when it does not fit
    its type."""
    if raw is None:
        return None
    if isinstance(raw, bool) and field_type == FieldType.BOOLEAN:
        return raw
    if isinstance(raw, dict | list):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    text = raw if isinstance(raw, str) else str(raw)
    if text == "":
        return None
    convert = CONVERTERS.get(field_type)
    return convert(text) if convert else text


def value_text(value: Any) -> str:
    """A value as HubSpot's API takes it in `properties` (booleans "true"/"false", "" clears)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return str(epoch_ms(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(str(item) for item in value)
    return str(value)


# --- records -----------------------------------------------------------------------------------------------------
def flat(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the API sends it, flat: properties by name beside the record's keys. A record already flat (the
    mirror's raw) is returned as is."""
    properties = record.get("properties")
    if not isinstance(properties, Mapping):
        return dict(record)
    row: dict[str, Any] = dict(properties)
    for key in RECORD_KEYS:
        if key in record:
            row[key] = record[key]
    if record.get("associations") is not None:
        row["associations"] = record["associations"]
    return row


def modified_time_of(schema: ObjectSchema, row: Mapping[str, Any]) -> datetime:
    raw = row.get(schema.modified_property) or row.get("updatedAt")
    if not raw:
        raise ValueError(f"no {schema.modified_property} or updatedAt")
    return parse_datetime(raw)


_SKIP, _FIELD, _CUSTOM = 0, 1, 2


class Routes:
    """Where each property of a schema goes, worked out once per schema (mapping.py runs per record, per property):
    `text` the plain text fields (no converter, no phone: their key), `routes` the rest (target, key, converter of
    non-empty text, phone or not); the record's own columns (id, times, owner) are skipped."""

    __slots__ = ("routes", "skipped", "text")

    def __init__(self, schema: ObjectSchema) -> None:
        # The e-mail is the record's column and a field too (`record.get("email")`, as the field spec keys it).
        skipped = {schema.modified_property, ID_PROPERTY, OWNER_PROPERTY, *CREATED_PROPERTIES}
        self.skipped = frozenset(skipped | set(RECORD_KEYS) | {"associations"})
        self.text: dict[str, str] = {}
        self.routes: dict[str, tuple[int, str, Callable[[str], Any] | None, bool]] = {}
        for name, field_type in schema.types.items():
            if name in skipped:
                continue
            convert, phone = CONVERTERS.get(field_type), field_type == FieldType.PHONE
            if name in schema.custom:
                target, key = _CUSTOM, name
            elif field_type in (FieldType.USER, FieldType.LOOKUP):
                target, key = _FIELD, f"{schema.keys[name]}_id"
            else:
                target, key = _FIELD, schema.keys[name]
            if target == _FIELD and convert is None and not phone:
                self.text[name] = key
            else:
                self.routes[name] = (target, key, convert, phone)


def routes_of(schema: ObjectSchema) -> Routes:
    if schema.routes is None:
        schema.routes = Routes(schema)
    return schema.routes


def record_map(
    *, schema: ObjectSchema, record: Mapping[str, Any], region: str, owner_name: Callable[[str], str] | None = None
) -> CanonicalRecord:
    """A HubSpot record (API shape or flat) in Leadline's terms (`owner_name`: an owner id's name, asked only for a
    record that has an owner).
    KeyError/ValueError when it has no id or no modified time (HubSpot never sends one without)."""
    row = flat(record)
    record_id = str(row.get("id") or row[ID_PROPERTY])
    modified = modified_time_of(schema, row)
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    phones: dict[str, str] = {}
    problems: list[FieldProblem] = []
    plan = routes_of(schema)
    text, routes, skipped = plan.text, plan.routes, plan.skipped
    for name, raw in row.items():
        key = text.get(name)
        if key is not None and type(raw) is str:  # the most common: a text property, kept as sent ("" is None)
            fields[key] = raw or None
            continue
        route = routes.get(name)
        if route is None:
            if key is not None:  # a text property not sent as text
                route = (_FIELD, key, None, False)
            elif name in skipped:
                continue  # the record's own columns, read below
            else:
                custom[name] = raw  # a property created since the schema was read: kept as sent
                continue
        target, key, convert, phone = route
        value = raw
        try:
            if type(raw) is str and raw:  # HubSpot's usual: text, converted by the property's type
                if convert is not None:
                    value = convert(raw)
            elif raw is not None:  # "", or a value not sent as text
                value = value_convert(schema.types[name], raw)
        except ValueError as exc:
            problems.append(FieldProblem(name, raw, str(exc)))
            value = None
        if phone and value:
            e164 = e164_or_blank(value, region)
            if e164:
                phones[name] = e164
        if target == _FIELD:
            fields[key] = value
        else:
            custom[key] = value
    if schema.associations:
        _associations_flatten(schema, row, fields)
    created_raw = row.get("createdAt") or next((row[name] for name in CREATED_PROPERTIES if row.get(name)), None)
    name_parts = [str(row[part]).strip() for part in NAME_PROPERTIES.get(schema.object_type, ()) if row.get(part)]
    owner_id = str(row.get(OWNER_PROPERTY) or "")
    return CanonicalRecord(
        object=schema.object,
        id=record_id,
        modified_time=modified,
        name=" ".join(part for part in name_parts if part),
        email=str(row.get("email") or ""),
        phones=phones,
        owner_id=owner_id,
        owner_name=owner_name(owner_id) if owner_name is not None and owner_id else "",
        created_time=parse_datetime(created_raw) if created_raw else None,
        fields=fields,
        custom_fields=custom,
        problems=tuple(problems),
        raw=row,
    )


def _associations_flatten(schema: ObjectSchema, row: Mapping[str, Any], fields: dict[str, Any]) -> None:
    """The schema's association keys, from the ids read with the associations API (`associations`: {to type: [ids]},
    as reads.py attaches them), else from the property naming the associated record (a contact's
    associatedcompanyid). Nothing when the record came with neither (the key is left out, so a record read without
    them does not clear the mirror's)."""
    associations = row.get("associations")
    if not isinstance(associations, Mapping):
        associations = {}
    for to_type, key, _target, many in schema.associations:
        prop = schema.association_property(to_type)
        if to_type in associations:
            ids = sorted({_id_of(value) for value in associations.get(to_type) or []} - {""}, key=_id_order)
            if many:
                fields[key] = ids
            else:  # the primary one when the record names it among them, else the first
                primary = _id_of(row.get(prop)) if prop else ""
                fields[key] = primary if primary in ids else (ids[0] if ids else None)
        elif prop and prop in row and not many:
            fields[key] = _id_of(row[prop]) or None


def _id_of(value: Any) -> str:
    """A record id as text, from an id ("9001", 9001, "9001.0") or an association item ({toObjectId} or {id})."""
    if isinstance(value, Mapping):
        value = value.get("toObjectId") or value.get("id")
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (0, value)
