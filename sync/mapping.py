"""From Zoho field metadata (`GET /settings/fields`) to the mirror's columns, and from a Zoho record to a row.

Each field gets a kind from its `data_type` (then `json_type`, api-facts A11), which decides how its value is
typed: text trimmed, datetimes in UTC, currency to numeric(14,2) with the currency code, lookups flattened to
`<name>_id` / `<name>_name`, and so on. Standard fields are keyed in snake_case in `fields`; custom fields and
fields the metadata does not know (added since it was read) keep their API names in `custom_fields`. A value that
does not fit its kind is left out of the row and reported, so the caller can quarantine it and go on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError

from core.phone import normalize_e164

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
# COQL cannot select these (api-facts A3: no image-upload fields; subforms are separate modules); not mirrored.
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

    @property
    def content_hash(self) -> str:
        """A digest of everything mirrored, so an unchanged record read again is not rewritten."""
        payload = [self.name, self.email, self.owner_id, self.owner_name, self.fields, self.custom_fields]
        text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


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
    name_columns = {spec.name_column for spec in mapping.specs.values() if spec.name_column}
    has_currency = False
    for api_name, raw in record.items():
        if api_name == "id" or api_name.startswith("$") or api_name in name_columns:
            continue  # $-keys are Zoho's internal state ($approval_state...), not data: dropped on purpose
        spec = mapping.specs.get(api_name)
        if spec is None:  # a field created after the metadata was read: kept as Zoho sent it
            mapped.custom_fields[api_name] = raw
            continue
        target = mapped.custom_fields if spec.custom else mapped.fields
        if spec.kind in (LOOKUP, USER_LOOKUP):
            lookup_id, lookup_name = _lookup(raw, record.get(spec.name_column) if spec.name_column else None)
            target[f"{spec.key}_id"], target[f"{spec.key}_name"] = lookup_id, lookup_name
            if api_name == "Owner":
                mapped.owner_id, mapped.owner_name = lookup_id or "", lookup_name or ""
            continue
        try:
            value = typed_value(spec.kind, raw)
        except ValueError as exc:
            mapped.problems.append(Problem(api_name, raw, str(exc)))
            target[spec.key] = None
            continue
        has_currency = has_currency or spec.kind == CURRENCY
        target[spec.key] = _jsonable(value)
        if spec.kind == PHONE and value:
            phone = _e164(value, region)
            if phone:
                mapped.phones[api_name] = phone
        if api_name == "Email":
            mapped.email = value or ""
        elif api_name == "Created_Time":
            mapped.created_time = value
        if api_name == mapping.display_field:
            mapped.name = value or ""
    if has_currency:
        code = record.get("Currency") if isinstance(record.get("Currency"), str) else mapping.currency_code
        mapped.fields["currency_code"] = code or None
    return mapped


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


def _e164(value: str, region: str) -> str:
    try:
        return normalize_e164(value, default_region=region)
    except ValidationError:
        return ""  # not a dialable number: kept as typed in `fields`, just not indexed for routing
