"""Salesforce's record mapping: from an sObject's describe (`GET sobjects/<X>/describe`) to Leadline's field specs,
and from a record (REST JSON, or a Bulk API 2.0 CSV row put back in that shape) to a `crm.records.CanonicalRecord`.

Each field gets a FieldType from its describe `type` (docs/vendors/salesforce.md, Field metadata): `phone` ->
PHONE, `boolean` -> BOOLEAN, `reference` -> LOOKUP (USER when it points at users, as OwnerId does), picklists,
numbers, dates. Standard fields are keyed in snake_case in `fields` (a reference by its relationship name plus
`_id`: ConvertedContactId -> `converted_contact_id`, as the mirror's views read lookups); custom fields (`__c`) keep
their API names in `custom_fields`. The record's own columns come from Id, Name (else FirstName LastName), Email,
OwnerId, CreatedDate and SystemModstamp (the change cursor's time), and are not repeated in `fields`, except Email:
it is a field people and two-way sync write (its spec's key, `email`), so it is read back there too.

Compound fields (`address`, `location`) are not selected: their parts are ordinary fields (Street, City, ...).
`base64` fields cannot be read by a query of many rows, so they are left out too.

Phone fields hold what a person typed ("(415) 555-0142"): the value stays as typed in `fields`, and its E.164
form (default region SYNC_PHONE_DEFAULT_REGION) goes into `phones` for routing; a value that is no dialable number is
kept as typed and not indexed. A value that does not fit its field's type is left out (None) and reported as a
FieldProblem, so the mirror quarantines it and goes on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from core.phone import e164_or_blank
from crm.records import CanonicalRecord, FieldProblem, FieldSpec, FieldType, ObjectSpec

# describe `type` -> FieldType (docs/vendors/salesforce.md lists Salesforce's types).
FIELD_TYPES: dict[str, FieldType] = {
    "string": FieldType.TEXT,
    "textarea": FieldType.TEXT,
    "encryptedstring": FieldType.TEXT,
    "id": FieldType.TEXT,
    "time": FieldType.TEXT,
    "anytype": FieldType.TEXT,
    "combobox": FieldType.PICKLIST,
    "picklist": FieldType.PICKLIST,
    "multipicklist": FieldType.MULTI_PICKLIST,
    "boolean": FieldType.BOOLEAN,
    "int": FieldType.NUMBER,
    "long": FieldType.NUMBER,
    "double": FieldType.DECIMAL,
    "percent": FieldType.DECIMAL,
    "currency": FieldType.CURRENCY,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "reference": FieldType.LOOKUP,
    "phone": FieldType.PHONE,
    "email": FieldType.EMAIL,
    "url": FieldType.URL,
}
# Not selected: compound fields (their parts are) and binary bodies (one row per query only).
UNSELECTED_TYPES = frozenset({"address", "location", "complexvalue", "base64"})
LONG_TEXT_LENGTH = 255  # a textarea longer than this is "long text": two of them shrink query batches to 200
# The record's own columns: a field holding one is read into the record, not `fields`.
COLUMN_KEYS = {
    "Id": "id",
    "Name": "name",
    "Email": "email",
    "OwnerId": "owner",
    "CreatedDate": "created_time",
    "SystemModstamp": "modified_time",
}
MODIFIED_FIELD = "SystemModstamp"
OWNER_FIELD = "OwnerId"
OWNER_NAME = "Owner.Name"  # the owner's name through the relationship (a user's or a queue's)
USER_OBJECTS = frozenset({"User", "Group"})  # OwnerId points at a user or a queue


@lru_cache(maxsize=4096)
def snake_case(api_name: str) -> str:
    """LeadSource -> lead_source, MobilePhone -> mobile_phone, SMS_Opt_Out__c -> sms_opt_out_c."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", api_name)
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


# --- values ------------------------------------------------------------------------------------------------------
def parse_datetime(raw: Any) -> datetime:
    """Salesforce's datetimes ("2026-12-07T14:03:56.000+0000", Bulk CSV's "...Z") as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"not a datetime: {raw!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"datetime without an offset: {raw!r}")
    return moment.astimezone(UTC)


def _text(raw: Any) -> Any:
    if isinstance(raw, dict | list):
        raise ValueError(f"expected text, got {type(raw).__name__}")
    return raw if isinstance(raw, str) else str(raw)


def _boolean(raw: Any) -> Any:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"not a boolean: {raw!r}")


def _integer(raw: Any) -> Any:
    if isinstance(raw, bool):
        raise ValueError(f"not an integer: {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
        return int(raw.strip())
    raise ValueError(f"not an integer: {raw!r}")


def _decimal(raw: Any) -> Any:
    """Numbers as JSON floats, whether JSON said 1500000 or 1500000.0 or a CSV said "1500000" (one content hash)."""
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
    try:
        return date.fromisoformat(str(raw)).isoformat()
    except ValueError:
        raise ValueError(f"not a date: {raw!r}") from None


def _datetime(raw: Any) -> Any:
    return parse_datetime(raw).isoformat()


def _multi(raw: Any) -> Any:
    if isinstance(raw, list):
        return [str(item) for item in raw]
    if isinstance(raw, str):
        return [item for item in raw.split(";") if item]
    raise ValueError(f"not a multi-select value: {raw!r}")


CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.BOOLEAN: _boolean,
    FieldType.NUMBER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.CURRENCY: _decimal,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
    FieldType.MULTI_PICKLIST: _multi,
}


# --- describe -> mapping -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldMapping:
    """How one Salesforce field is read and where its value goes."""

    name: str
    type: FieldType
    key: str  # fields[key] (standard), custom_fields[name] (custom); a lookup's value sits at `<key>_id`
    custom: bool
    sf_type: str
    long_text: bool = False
    convert: Callable[[Any], Any] | None = None


@dataclass
class ObjectMapping:
    """An sObject's describe, read once: its selectable fields in query order and how each is mapped."""

    object: str  # Leadline's name (lead)
    vendor_name: str  # Salesforce's (Lead)
    spec: ObjectSpec
    fields: list[FieldMapping]
    by_name: dict[str, FieldMapping] = field(default_factory=dict)
    routes: dict[str, tuple[int, str, Callable[[Any], Any] | None, bool]] = field(default_factory=dict)
    external_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.by_name = {mapping.name: mapping for mapping in self.fields}
        self.routes = {mapping.name: _route(mapping) for mapping in self.fields}

    @property
    def columns(self) -> list[str]:
        """Every selectable field: Id and SystemModstamp first, the owner's name (`Owner.Name`, no extra call), the
        long texts last (a split puts them apart)."""
        names = [mapping.name for mapping in self.fields if mapping.name not in ("Id", MODIFIED_FIELD)]
        if OWNER_FIELD in self.by_name and self.by_name[OWNER_FIELD].key == "owner":
            names.insert(names.index(OWNER_FIELD) + 1, OWNER_NAME)
        short = [name for name in names if name == OWNER_NAME or not self.by_name[name].long_text]
        long = [name for name in names if name != OWNER_NAME and self.by_name[name].long_text]
        return ["Id", MODIFIED_FIELD, *short, *long]

    def long_texts(self, names: list[str]) -> int:
        return sum(1 for name in names if name in self.by_name and self.by_name[name].long_text)


def _field_type(meta: Mapping[str, Any]) -> FieldType:
    sf_type = str(meta.get("type") or "").lower()
    field_type = FIELD_TYPES.get(sf_type, FieldType.TEXT)
    if field_type == FieldType.LOOKUP:
        targets = set(meta.get("referenceTo") or [])
        if targets and targets <= USER_OBJECTS and "User" in targets:
            return FieldType.USER
    return field_type


def _key(meta: Mapping[str, Any], field_type: FieldType) -> str:
    name = str(meta["name"])
    if name in COLUMN_KEYS:
        return COLUMN_KEYS[name]
    if meta.get("custom"):
        return name
    if field_type in (FieldType.LOOKUP, FieldType.USER):
        relationship = str(meta.get("relationshipName") or "")
        if relationship:
            return snake_case(relationship)
        return snake_case(name[:-2] if name.endswith("Id") and len(name) > 2 else name)
    return snake_case(name)


def object_mapping_build(
    *, describe: Mapping[str, Any], object: str, canonical_of: Callable[[str], str]
) -> ObjectMapping:
    """The mapping of an sObject from its describe; `canonical_of` names a lookup's target in Leadline's terms."""
    vendor_name = str(describe.get("name") or "")
    mappings: list[FieldMapping] = []
    specs: list[FieldSpec] = []
    name_field = ""
    external_ids = []
    for meta in describe.get("fields") or []:
        name = str(meta.get("name") or "")
        sf_type = str(meta.get("type") or "").lower()
        if not name or sf_type in UNSELECTED_TYPES:
            continue
        field_type = _field_type(meta)
        key = _key(meta, field_type)
        custom = bool(meta.get("custom"))
        long_text = sf_type == "textarea" and int(meta.get("length") or 0) > LONG_TEXT_LENGTH
        convert = CONVERTERS.get(field_type, _text)
        mappings.append(FieldMapping(name, field_type, key, custom, sf_type, long_text, convert))
        if meta.get("nameField"):
            name_field = name
        if meta.get("externalId") or (meta.get("idLookup") and meta.get("unique")):
            external_ids.append(name)
        if name == "Id":
            continue  # the record's id, not one of its fields
        targets = [str(target) for target in meta.get("referenceTo") or []]
        specs.append(
            FieldSpec(
                name=name,
                type=field_type,
                key=key,
                label=str(meta.get("label") or ""),
                custom=custom,
                required=not meta.get("nillable", True)
                and bool(meta.get("createable"))
                and not meta.get("defaultedOnCreate"),
                read_only=not (meta.get("createable") or meta.get("updateable")) or bool(meta.get("calculated")),
                unique=bool(meta.get("externalId") or meta.get("unique")),
                lookup_target=canonical_of(targets[0]) if len(targets) == 1 else "",
                choices=tuple(
                    str(entry.get("value"))
                    for entry in meta.get("picklistValues") or []
                    if entry.get("active", True) and entry.get("value") is not None
                ),
                vendor_type=sf_type,
            )
        )
    spec = ObjectSpec(
        name=object,
        vendor_name=vendor_name,
        fields=tuple(specs),
        label=str(describe.get("labelPlural") or describe.get("label") or ""),
        name_field=name_field,
        modified_time_field=MODIFIED_FIELD,
    )
    return ObjectMapping(
        object=object, vendor_name=vendor_name, spec=spec, fields=mappings, external_ids=tuple(external_ids)
    )


# --- record -> CanonicalRecord -------------------------------------------------------------------------------------
_SKIP, _FIELD, _CUSTOM = 0, 1, 2
_COLUMN_KEYS = frozenset(COLUMN_KEYS.values())
ALSO_FIELDS = frozenset({"Email"})  # record columns also kept in `fields` under their key


def _route(spec: FieldMapping) -> tuple[int, str, Callable[[Any], Any] | None, bool]:
    """Where a field's value goes (skipped: a record column; `fields[key]`; `custom_fields[name]`), its converter
    (None: text, kept as sent when it is a string) and whether it is a phone field."""
    if spec.custom:
        target, key = _CUSTOM, spec.name
    elif spec.key in _COLUMN_KEYS and spec.name not in ALSO_FIELDS:
        target, key = _SKIP, spec.key
    elif spec.type in (FieldType.LOOKUP, FieldType.USER):
        target, key = _FIELD, f"{spec.key}_id"
    else:
        target, key = _FIELD, spec.key
    convert = None if spec.convert is _text else spec.convert
    return target, key, convert, spec.type == FieldType.PHONE


def record_map(*, mapping: ObjectMapping, row: Mapping[str, Any], region: str) -> CanonicalRecord:
    """A record as Salesforce sent it (attributes ignored) in Leadline's terms. KeyError/ValueError when it has no Id
    or no SystemModstamp (which Salesforce never sends without)."""
    record_id = str(row["Id"])
    modified_time = parse_datetime(row[MODIFIED_FIELD])
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    phones: dict[str, str] = {}
    problems: list[FieldProblem] = []
    routes = mapping.routes
    for name, raw in row.items():
        route = routes.get(name)
        if route is None:
            if name != "attributes" and "." not in name and not isinstance(raw, dict):
                custom[name] = raw  # a field added since the describe was read: kept as sent
            continue
        target, key, convert, phone = route
        if target == _SKIP:
            continue  # the record's own columns, read below
        value = raw
        if raw is not None and (convert is not None or type(raw) is not str):
            try:
                value = (convert or _text)(raw)
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
    created = row.get("CreatedDate")
    owner = row.get("Owner")
    owner_name = owner.get("Name") if isinstance(owner, dict) else row.get(OWNER_NAME)
    name_value = row.get("Name")
    if not name_value:
        name_value = " ".join(str(row[part]) for part in ("FirstName", "LastName") if row.get(part))
    return CanonicalRecord(
        object=mapping.object,
        id=record_id,
        modified_time=modified_time,
        name=str(name_value or ""),
        email=str(row.get("Email") or ""),
        phones=phones,
        owner_id=str(row.get("OwnerId") or ""),
        owner_name=str(owner_name or ""),
        created_time=parse_datetime(created) if created else None,
        fields=fields,
        custom_fields=custom,
        problems=tuple(problems),
        raw={name: value for name, value in row.items() if name != "attributes"},
    )


# --- Bulk API 2.0 CSV -> the REST shape ----------------------------------------------------------------------------
def csv_value(sf_type: str, text: str) -> Any:
    """A CSV cell as the REST API's JSON would carry it: "" is null, booleans true/false, numbers as numbers; the
    rest stays text and goes through the same mapping as a query's rows."""
    if text == "":
        return None
    if sf_type == "boolean":
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else text
    if sf_type in ("int", "long"):
        try:
            return int(text)
        except ValueError:
            return text
    if sf_type in ("double", "percent", "currency"):
        try:
            return float(text)
        except ValueError:
            return text
    return text
