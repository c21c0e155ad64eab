"""Zoho CRM's record mapping: from field metadata (`GET /settings/fields`) to typed keys, and from a Zoho record
to the values of a `crm.records.CanonicalRecord` (ZohoCrmProvider builds it from the MappedRecord here).

Each field gets a kind from its `data_type` (then `json_type`; docs/vendors/zoho-crm.md, Field metadata), which
decides how its value is typed: text trimmed, datetimes in UTC, currency to numeric(14,2) with the currency code,
lookups flattened to `<name>_id` / `<name>_name`, and so on. Standard fields are keyed in snake_case in `fields`;
custom fields and fields the metadata does not know (added since it was read) keep their API names in
`custom_fields`. A value that does not fit its kind is left out of the row and reported, so the caller can
quarantine it and go on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property, lru_cache
from typing import Any

from core.phone import e164_or_blank

TEXT, DATETIME, DATE, BOOLEAN, INTEGER, DECIMAL, CURRENCY, LOOKUP, USER_LOOKUP, MULTI, PHONE, OBJECT = (
    "text datetime date boolean integer decimal currency lookup user_lookup multi phone object".split()
)
DATA_TYPE_KINDS = {
    "datetime": DATETIME,
    "date": DATE,
    "boolean": BOOLEAN,
    "integer": INTEGER,
    "bigint": INTEGER,
    "long": INTEGER,
    "autonumber": TEXT,
    "double": DECIMAL,
    "decimal": DECIMAL,
    "percent": DECIMAL,
    "currency": CURRENCY,
    "lookup": LOOKUP,
    "ownerlookup": USER_LOOKUP,
    "userlookup": USER_LOOKUP,
    "multiselectpicklist": MULTI,
    "multiselectlookup": MULTI,
    "multiuserlookup": MULTI,
    "phone": PHONE,
}
JSON_TYPE_KINDS = {"integer": INTEGER, "double": DECIMAL, "boolean": BOOLEAN, "jsonobject": OBJECT, "jsonarray": MULTI}
# COQL cannot select these (no image-upload fields; subforms are separate modules; docs/vendors/zoho-crm.md, COQL),
# so they are not mirrored.
UNSELECTABLE = frozenset({"fileupload", "imageupload", "subform"})
CURRENCY_LIMIT = Decimal(10) ** 12  # numeric(14,2)
CENTS = Decimal("0.01")
# Columns of the table itself: a standard field of the same meaning lands there, not in `fields`.
COLUMN_FIELDS = {"Owner": "owner", "Email": "email", "Created_Time": "created_time", "Modified_Time": "modified_time"}


@lru_cache(maxsize=4096)
def snake_case(api_name: str) -> str:
    """Lead_Source -> lead_source, Converted__s -> converted_s, $state -> state."""
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", api_name.strip("$"))
    return re.sub(r"[^a-z0-9]+", "_", words.lower()).strip("_")


@dataclass(frozen=True)
class FieldSpec:
    """How one Zoho field is read and where it goes."""

    api_name: str
    kind: str
    custom: bool
    target: str = ""  # the module a lookup points at
    name_column: str = ""  # the dotted COQL column giving a lookup's name, e.g. Owner.full_name

    @property
    def key(self) -> str:
        return self.api_name if self.custom else snake_case(self.api_name)


@dataclass
class ModuleMapping:
    """The fields of one module, as the metadata describes them at the start of a run."""

    module: str
    specs: dict[str, FieldSpec]
    display_field: str = ""
    currency_code: str = ""

    @property
    def columns(self) -> list[str]:
        """Every COQL column to read: each field, and the name behind each lookup."""
        names = [spec.api_name for spec in self.specs.values()]
        names += [spec.name_column for spec in self.specs.values() if spec.name_column]
        return list(dict.fromkeys(names))

    @property
    def phone_fields(self) -> list[str]:
        return [spec.api_name for spec in self.specs.values() if spec.kind == PHONE]

    @cached_property
    def steps(self) -> dict[str, Step | None]:
        """Per record key, how its value is mapped (None: dropped), worked out once rather than per record."""
        steps: dict[str, Step | None] = {}
        for api_name, spec in self.specs.items():
            role = COLUMN_ROLES.get(api_name, "")
            if api_name == self.display_field:
                role = role or "name"
            steps[api_name] = Step(spec, spec.key, spec.custom, CONVERTERS.get(spec.kind) or _slow(spec.kind), role)
        for api_name in list(steps):
            if api_name.startswith("$"):
                steps[api_name] = None
        for spec in self.specs.values():
            if spec.name_column:
                steps[spec.name_column] = None
        steps["id"] = None
        return steps


@dataclass(frozen=True)
class Step:
    """One field's mapping: where its value goes and the converter that types it."""

    spec: FieldSpec
    key: str
    custom: bool
    convert: Callable[[Any], Any]
    role: str  # "email", "created_time", "name" (the display field): also a column; "" otherwise


@dataclass
class Problem:
    """A value that did not fit its field."""

    field: str
    value: Any
    reason: str


@dataclass
class MappedRecord:
    """One Zoho record as a mirror row: typed columns, the two JSON columns, its phones and its problems."""

    zoho_id: str
    modified_time: datetime
    name: str = ""
    email: str = ""
    owner_id: str = ""
    owner_name: str = ""
    created_time: datetime | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    _serialized: tuple[str, str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        """A digest of everything mirrored, so an unchanged record read again is not rewritten."""
        return self.serialized()[0]

    def serialized(self) -> tuple[str, str, str]:
        """(content hash, `fields` as JSON, `custom_fields` as JSON), computed once: the upsert writes the same
        JSON the hash was taken of. The hash is the md5 of json.dumps([name, email, owner_id, owner_name, fields,
        custom_fields], sort_keys=True), built from the two dumps instead of a third."""
        if self._serialized is None:
            fields_json, custom_json = _dumps(self.fields), _dumps(self.custom_fields)
            scalars = ",".join(_dumps(value) for value in (self.name, self.email, self.owner_id, self.owner_name))
            text = f"[{scalars},{fields_json},{custom_json}]"
            digest = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
            self._serialized = (digest, fields_json, custom_json)
        return self._serialized


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def module_mapping_build(
    *, module: str, metadata: list[dict[str, Any]], display_fields: dict[str, str], currency_code: str = ""
) -> ModuleMapping:
    """The mapping of a module from its field metadata; `display_fields` names each lookup target's name field."""
    specs: dict[str, FieldSpec] = {}
    display = ""
    for meta in metadata:
        api_name = meta.get("api_name")
        data_type = str(meta.get("data_type") or "").lower()
        if not api_name or data_type in UNSELECTABLE:
            continue
        kind = field_kind(meta)
        target = ((meta.get("lookup") or {}).get("module") or {}).get("api_name") or ""
        name_column = ""
        if kind == USER_LOOKUP:
            name_column = f"{api_name}.full_name"
        elif kind == LOOKUP and display_fields.get(target):
            name_column = f"{api_name}.{display_fields[target]}"
        specs[api_name] = FieldSpec(api_name, kind, bool(meta.get("custom_field")), target, name_column)
        if meta.get("display_field"):
            display = api_name
    return ModuleMapping(module=module, specs=specs, display_field=display, currency_code=currency_code)


def field_kind(meta: dict[str, Any]) -> str:
    """The kind of a field: by data_type first, then json_type (formulas carry their return type there)."""
    data_type = str(meta.get("data_type") or "").lower()
    if data_type in DATA_TYPE_KINDS:
        return DATA_TYPE_KINDS[data_type]
    return JSON_TYPE_KINDS.get(str(meta.get("json_type") or "").lower(), TEXT)


def display_field_of(metadata: list[dict[str, Any]]) -> str:
    """The API name of a module's name field (Full_Name, Account_Name, Deal_Name...), or ""."""
    return next((meta["api_name"] for meta in metadata if meta.get("display_field") and meta.get("api_name")), "")


def crm_record_map(*, mapping: ModuleMapping, record: dict[str, Any], region: str) -> MappedRecord:
    """A Zoho record (COQL shape, dotted lookup names as flat keys) as a mirror row."""
    mapped = MappedRecord(zoho_id=str(record["id"]), modified_time=_datetime(record["Modified_Time"]))
    steps = mapping.steps
    fields, custom_fields = mapped.fields, mapped.custom_fields
    has_currency = False
    for api_name, raw in record.items():
        step = steps.get(api_name, _UNKNOWN)
        if step is None:
            continue  # the id, lookup names (read with their lookup) and $-keys (Zoho's internal state)
        if step is _UNKNOWN:
            if api_name.startswith("$"):
                continue
            custom_fields[api_name] = raw  # a field created after the metadata was read: kept as Zoho sent it
            continue
        spec = step.spec
        target = custom_fields if step.custom else fields
        kind = spec.kind
        if kind in (LOOKUP, USER_LOOKUP):
            lookup_id, lookup_name = _lookup(raw, record.get(spec.name_column) if spec.name_column else None)
            target[f"{step.key}_id"], target[f"{step.key}_name"] = lookup_id, lookup_name
            if api_name == "Owner":
                mapped.owner_id, mapped.owner_name = lookup_id or "", lookup_name or ""
            continue
        try:
            if step.role:
                typed = typed_value(kind, raw)  # the columns take the typed value (a datetime, say)
                value = _jsonable(typed)
            else:
                value = step.convert(raw)
        except ValueError as exc:
            mapped.problems.append(Problem(api_name, raw, str(exc)))
            target[step.key] = None
            continue
        target[step.key] = value
        if kind == CURRENCY:
            has_currency = True
        elif kind == PHONE and value:
            phone = e164_or_blank(value, region)
            if phone:
                mapped.phones[api_name] = phone
        if step.role == "email":
            mapped.email = typed or ""
        elif step.role == "created_time":
            mapped.created_time = typed
        if api_name == mapping.display_field:
            mapped.name = typed or ""
    if has_currency:
        code = record.get("Currency") if isinstance(record.get("Currency"), str) else mapping.currency_code
        fields["currency_code"] = code or None
    return mapped


_UNKNOWN = object()
COLUMN_ROLES = {"Email": "email", "Created_Time": "created_time"}


def typed_value(kind: str, raw: Any) -> Any:
    """The value typed for its kind; ValueError (the quarantine reason) when it does not fit."""
    if raw is None or raw == "":
        return [] if kind == MULTI and raw == "" else None
    if kind in (TEXT, PHONE):
        if isinstance(raw, dict | list):
            raise ValueError(f"expected text, got {type(raw).__name__}")
        return str(raw).strip()
    if kind == DATETIME:
        return _datetime(raw)
    if kind == DATE:
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise ValueError(f"not a date: {raw!r}") from None
    if kind == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        raise ValueError(f"not a boolean: {raw!r}")
    if kind == INTEGER:
        if isinstance(raw, bool) or not re.fullmatch(r"-?\d+", str(raw).strip()):
            raise ValueError(f"not an integer: {raw!r}")
        return int(str(raw).strip())
    if kind in (DECIMAL, CURRENCY):
        if isinstance(raw, bool):
            raise ValueError(f"not a number: {raw!r}")
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {raw!r}") from None
        if not number.is_finite():
            raise ValueError(f"not a finite number: {raw!r}")
        if kind == CURRENCY:
            number = number.quantize(CENTS, rounding=ROUND_HALF_UP)
            if abs(number) >= CURRENCY_LIMIT:
                raise ValueError(f"currency out of range for numeric(14,2): {raw!r}")
        return number
    if kind == MULTI:
        if not isinstance(raw, list):
            raise ValueError(f"expected a list, got {type(raw).__name__}")
        return [item.strip() if isinstance(item, str) else item for item in raw]
    return raw


def _datetime(raw: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"not a datetime: {raw!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"datetime without an offset: {raw!r}")
    return moment.astimezone(UTC)


def _lookup(raw: Any, name: Any) -> tuple[str | None, str | None]:
    """(id, name) of a lookup: COQL gives {"id"} and the name in a dotted column; Get Records {"id", "name"}."""
    if not isinstance(raw, dict):
        return (str(raw) if raw else None), None
    lookup_id = raw.get("id")
    lookup_name = name if name is not None else raw.get("name")
    return (str(lookup_id) if lookup_id else None), (str(lookup_name).strip() if lookup_name else None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # JSON numbers, so jsonb compares them as numbers; numeric(14,2) fits a double exactly enough to print.
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    return value


# --- converters: the common shape of each kind fast, anything else through typed_value (same result) -----------
def _slow(kind: str) -> Callable[[Any], Any]:
    def convert(raw: Any) -> Any:
        return _jsonable(typed_value(kind, raw))

    return convert


def _text_converter(kind: str) -> Callable[[Any], Any]:
    slow = _slow(kind)

    def convert(raw: Any) -> Any:
        return raw.strip() if type(raw) is str and raw else slow(raw)

    return convert


@lru_cache(maxsize=4096)
def _utc_iso(raw: str) -> str:
    """A Zoho datetime as a UTC ISO string; cached because a record repeats its stamps (created, modified...)."""
    return _datetime(raw).isoformat()


def _datetime_value(raw: Any) -> Any:
    return _utc_iso(raw) if type(raw) is str and raw else _slow(DATETIME)(raw)


def _date_value(raw: Any) -> Any:
    if type(raw) is str and raw:
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError(f"not a date: {raw!r}") from None
    return _slow(DATE)(raw)


def _boolean_value(raw: Any) -> Any:
    return raw if raw is True or raw is False else _slow(BOOLEAN)(raw)


def _integer_value(raw: Any) -> Any:
    return raw if type(raw) is int else _slow(INTEGER)(raw)


PLAIN_FLOAT_LIMIT = 1e15  # below this a float's repr has no exponent, so Decimal(repr) round-trips to itself


def _decimal_value(raw: Any) -> Any:
    if type(raw) is int or (type(raw) is float and math.isfinite(raw) and abs(raw) < PLAIN_FLOAT_LIMIT):
        return raw
    return _slow(DECIMAL)(raw)


def _currency_value(raw: Any) -> Any:
    # Whole amounts need no rounding; typed_value gives them as 2-decimal numbers, i.e. floats in JSON.
    if (type(raw) is int or (type(raw) is float and raw.is_integer())) and abs(raw) < CURRENCY_LIMIT:
        return float(raw)
    return _slow(CURRENCY)(raw)


def _multi_value(raw: Any) -> Any:
    if type(raw) is list:
        return [item.strip() if isinstance(item, str) else item for item in raw]
    return _slow(MULTI)(raw)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    TEXT: _text_converter(TEXT),
    PHONE: _text_converter(PHONE),
    DATETIME: _datetime_value,
    DATE: _date_value,
    BOOLEAN: _boolean_value,
    INTEGER: _integer_value,
    DECIMAL: _decimal_value,
    CURRENCY: _currency_value,
    MULTI: _multi_value,
    OBJECT: _slow(OBJECT),
}
