"""Values between two CRMs: read typed from a mirror row, compared, hashed, and converted into the other side's terms.

    value = mirror_value(row, spec)                  # date, aware datetime, Decimal, bool, int, str, list or None
    target_value = convert(value, source=spec_a, target=spec_b, link_field=field, to_side="b", context=context)
    value_hash(target_value) == field_state["wb"]    # what we last wrote to B: our own write coming back

The mirror keeps a record's standard fields in `fields` by FieldSpec.key (lookups and owners under "<key>_id"),
custom fields in `custom_fields` by name, as JSON of typed values (`default=str`: a date "2026-12-07", a datetime its
str(), a Decimal its text); the e-mail, owner and name also sit in their own columns (some providers keep them only
there). Hashes are of the normalized value (datetimes in UTC to the second, numbers as decimals, multi-picklists
sorted), so a value written and read back hashes the same whatever text the CRM gave it back in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from core.phone import e164_or_blank
from crm.records import FieldSpec, FieldType
from links.models import LinkObject, RecordPair, Side, SyncLink

F = FieldType
TEXTUAL = frozenset({F.TEXT, F.EMAIL, F.PHONE, F.URL, F.PICKLIST})
NUMERIC = frozenset({F.NUMBER, F.DECIMAL, F.CURRENCY})
TEMPORAL = frozenset({F.DATE, F.DATETIME})
# The record columns a provider may keep a field in instead of `fields` (by the field's key).
COLUMN_OF_KEY = {"email": "email", "owner": "owner_id", "owner_id": "owner_id", "name": "name"}


class Unconvertible(ValueError):
    """A value that cannot be written to the target field (the message says why)."""


class OwnerUnmapped(Unconvertible):
    """An owner with no counterpart on the other side: the field is left out (never a wrong owner)."""


class LookupPending(Exception):
    """A lookup whose record is not linked (yet) to a record of the other side: the field waits."""


# --- reading ---------------------------------------------------------------------------------------------------
def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def mirror_value(row: Any, spec: FieldSpec) -> Any:
    """A field's typed value from a mirror row (sync.models.CrmRecord), None if absent or empty."""
    if row is None:
        return None
    container = (row.custom_fields if spec.custom else row.fields) or {}
    key = spec.name if spec.custom else spec.key
    reference = spec.type in (F.LOOKUP, F.USER)
    raw: Any = None
    for candidate in (f"{key}_id", key) if reference else (key,):
        if candidate in container:
            raw = container[candidate]
            break
    else:
        if spec.custom and spec.key in container:
            raw = container[spec.key]
        elif spec.type == F.USER or spec.key in COLUMN_OF_KEY:
            column = "owner_id" if spec.type == F.USER else COLUMN_OF_KEY[spec.key]
            raw = getattr(row, column, None)
        elif spec.type == F.EMAIL:
            raw = getattr(row, "email", None)
    return typed(raw, spec)


def typed(raw: Any, spec: FieldSpec) -> Any:
    """A JSON value (as the mirror or a LinkWrite keeps it) as the Python value of the field's type."""
    if is_empty(raw):
        return None
    kind = spec.type
    try:
        if kind == F.BOOLEAN:
            if isinstance(raw, str):
                return raw.strip().lower() in ("true", "1", "yes")
            return bool(raw)
        if kind == F.NUMBER:
            return int(Decimal(str(raw)))
        if kind in (F.DECIMAL, F.CURRENCY):
            return Decimal(str(raw))
        if kind == F.DATE:
            if isinstance(raw, datetime):
                return raw.date()
            if isinstance(raw, date):
                return raw
            return date.fromisoformat(str(raw)[:10])
        if kind == F.DATETIME:
            moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if kind == F.MULTI_PICKLIST:
            items = raw.split(";") if isinstance(raw, str) else list(raw)
            return [str(item).strip() for item in items if str(item).strip()] or None
        if kind == F.PHONE:
            text = str(raw).strip()
            return e164_or_blank(text, settings.SYNC_PHONE_DEFAULT_REGION) or text
        if kind == F.JSON:
            return raw
    except (ValueError, TypeError, InvalidOperation):
        return str(raw)
    return raw if isinstance(raw, str) else str(raw)


# --- hashing and comparing -----------------------------------------------------------------------------------------
def _normal(value: Any) -> Any:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value)).normalize()
        return ["n", format(number, "f")]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return ["t", moment.astimezone(UTC).replace(microsecond=0).isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, list | tuple):
        return ["l", sorted(json.dumps(_normal(item), sort_keys=True) for item in value)]
    if isinstance(value, Mapping):
        return ["m", {str(k): _normal(v) for k, v in value.items()}]
    return ["s", str(value)]


def value_hash(value: Any) -> str:
    """A short, stable hash of a value as it compares: the same for a value written and the same value read back."""
    text = json.dumps(_normal(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def values_equal(a: Any, b: Any, spec: FieldSpec) -> bool:
    """Whether two values of a field (both in its side's terms) are the same for the CRM: e-mails regardless of
    case, phones by E.164, text regardless of surrounding blanks, datetimes to the second, lists as sets."""
    if is_empty(a) and is_empty(b):
        return True
    if is_empty(a) or is_empty(b):
        return False
    if spec.type == F.EMAIL:
        return str(a).strip().lower() == str(b).strip().lower()
    if spec.type == F.PHONE:
        return typed(a, spec) == typed(b, spec)
    if spec.type in (F.TEXT, F.URL):
        return str(a).strip() == str(b).strip()
    a, b = typed(a, spec) if isinstance(a, str) else a, typed(b, spec) if isinstance(b, str) else b
    return _normal(a) == _normal(b)


# --- compatibility ---------------------------------------------------------------------------------------------
ACCEPTS: dict[FieldType, frozenset[FieldType]] = {
    F.TEXT: frozenset(FieldType) - {F.LOOKUP, F.USER, F.JSON},
    F.EMAIL: frozenset({F.EMAIL, F.TEXT}),
    F.PHONE: frozenset({F.PHONE, F.TEXT}),
    F.URL: frozenset({F.URL, F.TEXT}),
    F.PICKLIST: frozenset({F.PICKLIST, F.TEXT}),
    F.MULTI_PICKLIST: frozenset({F.MULTI_PICKLIST, F.PICKLIST}),
    F.NUMBER: NUMERIC,
    F.DECIMAL: NUMERIC,
    F.CURRENCY: NUMERIC,
    F.BOOLEAN: frozenset({F.BOOLEAN}),
    F.DATE: TEMPORAL,
    F.DATETIME: TEMPORAL,
    F.LOOKUP: frozenset({F.LOOKUP}),
    F.USER: frozenset({F.USER}),
    F.JSON: frozenset({F.JSON}),
}
WORDS = {
    F.TEXT: "a text",
    F.NUMBER: "a number",
    F.DECIMAL: "a decimal",
    F.CURRENCY: "an amount",
    F.BOOLEAN: "a boolean",
    F.DATE: "a date",
    F.DATETIME: "a date and time",
    F.PICKLIST: "a picklist",
    F.MULTI_PICKLIST: "a multi-select picklist",
    F.LOOKUP: "a lookup",
    F.USER: "a user",
    F.PHONE: "a phone",
    F.EMAIL: "an e-mail",
    F.URL: "a URL",
    F.JSON: "a structured value",
}


def compatible(source: FieldSpec, target: FieldSpec) -> str:
    """ "" when values of `source` can be written to `target`, else why not ("a date cannot go into a boolean")."""
    if source.type not in ACCEPTS.get(target.type, frozenset()):
        return f"{WORDS[source.type]} cannot go into {WORDS[target.type]}"
    if source.type == F.LOOKUP and source.lookup_target and target.lookup_target:
        if source.lookup_target != target.lookup_target:
            return f"a lookup of {source.lookup_target} cannot go into a lookup of {target.lookup_target}"
    return ""


# --- converting ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConversionContext:
    """What converting needs beyond the two fields: the link's zone (a date meeting a datetime), the owner map
    (side written to -> {source user id: target user id}) and the lookup resolver (`lookup(object, from_side,
    record_id)` -> the other side's id, None while not linked)."""

    time_zone: ZoneInfo
    owners: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    lookup: Callable[[str, str, str], str | None] = lambda object, from_side, record_id: None


# --- lookups through the id map ----------------------------------------------------------------------------------
class PairLookup:
    """Resolves a lookup's record id on one side to its counterpart through the RecordPairs of the LinkObject whose
    object is the lookup's target; ids are read in bulk (`prefetch`) and remembered for the chunk."""

    def __init__(self, link: SyncLink) -> None:
        self.link = link
        self.objects = list(LinkObject.objects.unscoped().filter(link=link))
        self.known: dict[tuple[str, str, str], str | None] = {}

    def link_object(self, object: str, side: str) -> LinkObject | None:
        return next((lo for lo in self.objects if (lo.object_a if side == Side.A else lo.object_b) == object), None)

    def prefetch(self, object: str, from_side: str, record_ids: set[str]) -> None:
        link_object = self.link_object(object, from_side)
        wanted = {record_id for record_id in record_ids if (object, from_side, record_id) not in self.known}
        if not wanted:
            return
        for record_id in wanted:
            self.known[(object, from_side, record_id)] = None
        if link_object is None:
            return
        column, other = ("id_a", "id_b") if from_side == Side.A else ("id_b", "id_a")
        rows = (
            RecordPair.objects.unscoped()
            .filter(link_object=link_object, **{f"{column}__in": wanted})
            .exclude(**{column: ""})  # the partial unique index on (link object, id)
        )
        for source_id, target_id in rows.values_list(column, other):
            self.known[(object, from_side, source_id)] = target_id or None

    def __call__(self, object: str, from_side: str, record_id: str) -> str | None:
        if (object, from_side, record_id) not in self.known:
            self.prefetch(object, from_side, {record_id})
        return self.known[(object, from_side, record_id)]


def conversion_context(link: Any, *, lookup: Callable[[str, str, str], str | None] | None = None) -> ConversionContext:
    """The link's context: the owner map from members holding a CRM user id on both connections plus the link's
    own `owners` ([{"a": id, "b": id}]), and a lookup through the link's RecordPairs (`PairLookup`
    when None: it reads pairs in bulk per chunk)."""
    from studios.models import MemberCrmUser

    ids: dict[int, dict[int, str]] = {}
    rows = MemberCrmUser.objects.unscoped().filter(
        organization_id=link.organization_id, connection_id__in=[link.connection_a_id, link.connection_b_id]
    )
    for membership_id, connection_id, crm_user_id in rows.values_list("membership_id", "connection_id", "crm_user_id"):
        ids.setdefault(membership_id, {})[connection_id] = crm_user_id
    to_b: dict[str, str] = {}
    to_a: dict[str, str] = {}
    for held in ids.values():
        user_a, user_b = held.get(link.connection_a_id), held.get(link.connection_b_id)
        if user_a and user_b:
            to_b[user_a], to_a[user_b] = user_b, user_a
    for entry in link.owners or []:
        user_a, user_b = str(entry.get("a") or ""), str(entry.get("b") or "")
        if user_a and user_b:
            to_b[user_a], to_a[user_b] = user_b, user_a
    if lookup is None:
        lookup = PairLookup(link)
    return ConversionContext(time_zone=ZoneInfo(link.time_zone), owners={"a": to_a, "b": to_b}, lookup=lookup)


def _choice(value: str, *, source: FieldSpec, target: FieldSpec, mapped: Mapping[str, str]) -> str:
    """A picklist value in the target's values: the link's value map, else the same value, else the same label."""
    if value in mapped:
        return str(mapped[value])
    choices = target.choices
    if not choices or value in choices:
        return value
    folded = value.casefold()
    for choice in choices:
        if choice.casefold() == folded:
            return choice
    label = _label(value, source).casefold()
    target_labels = target.choice_labels or target.choices
    for choice, choice_label in zip(choices, target_labels, strict=False):
        if choice_label.casefold() in (label, folded):
            return choice
    raise Unconvertible(f"{value!r} is not a value of {target.name} and the link maps it to none")


def _label(value: str, spec: FieldSpec) -> str:
    if spec.choice_labels and value in spec.choices:
        return spec.choice_labels[spec.choices.index(value)]
    return value


def _value_map(link_field: Any, to_side: str) -> dict[str, str]:
    """Source value -> target value: the field's own map toward `to_side`, and the reverse of the other map."""
    forward = link_field.values_a_to_b if to_side == "b" else link_field.values_b_to_a
    backward = link_field.values_b_to_a if to_side == "b" else link_field.values_a_to_b
    mapped = {str(target): str(source) for source, target in (backward or {}).items()}
    mapped.update({str(source): str(target) for source, target in (forward or {}).items()})
    return mapped


def convert(
    value: Any, *, source: FieldSpec, target: FieldSpec, link_field: Any, to_side: str, context: ConversionContext
) -> Any:
    """`value` (typed, in the source field's terms) as the target field takes it. Unconvertible when it cannot go
    (OwnerUnmapped for an owner with no counterpart), LookupPending when a lookup's record is not linked yet."""
    if is_empty(value):
        return None
    kind, source_kind = target.type, source.type
    if kind == F.USER:
        mapped = (context.owners.get(to_side) or {}).get(str(value))
        if not mapped:
            raise OwnerUnmapped(f"owner {value} has no counterpart on side {to_side.upper()}")
        return mapped
    if kind == F.LOOKUP:
        obj = source.lookup_target or target.lookup_target
        from_side = "a" if to_side == "b" else "b"
        found = context.lookup(obj, from_side, str(value))
        if not found:
            raise LookupPending(f"{obj} {value} is not linked yet")
        return found
    if kind == F.PICKLIST:
        return _choice(str(value), source=source, target=target, mapped=_value_map(link_field, to_side))
    if kind == F.MULTI_PICKLIST:
        mapped = _value_map(link_field, to_side)
        items = value if isinstance(value, list) else [value]
        return [_choice(str(item), source=source, target=target, mapped=mapped) for item in items]
    if kind == F.DATE:
        if isinstance(value, datetime):
            return value.astimezone(context.time_zone).date()
        return value if isinstance(value, date) else typed(value, target)
    if kind == F.DATETIME:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime.combine(value, time(), tzinfo=context.time_zone)
        return typed(value, target)
    if kind == F.NUMBER:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
        if number is None or number != number.to_integral_value():
            raise Unconvertible(f"{value} is not a whole number ({target.name} takes integers)")
        return int(number)
    if kind in (F.DECIMAL, F.CURRENCY):
        if isinstance(value, bool):
            raise Unconvertible(f"{value} is not a number")
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise Unconvertible(f"{value!r} is not a number") from exc
    if kind == F.BOOLEAN:
        if not isinstance(value, bool):
            raise Unconvertible(f"{value!r} is not a boolean")
        return value
    if kind == F.PHONE:
        text = str(value).strip()
        return e164_or_blank(text, settings.SYNC_PHONE_DEFAULT_REGION) or text
    if kind in (F.TEXT, F.EMAIL, F.URL):
        if source_kind == F.PICKLIST:
            return _label(str(value), source)
        if isinstance(value, list):
            return "; ".join(str(item) for item in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value).strip() if kind == F.EMAIL else str(value)
    return value


# --- JSON (LinkWrite.values) --------------------------------------------------------------------------------------
def value_jsonable(value: Any) -> Any:
    """A typed value as LinkWrite.values keeps it (JSON): dates and datetimes ISO, Decimals their text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [value_jsonable(item) for item in value]
    return value


def value_from_json(value: Any, spec: FieldSpec) -> Any:
    """A LinkWrite value back as the provider's writes take it (crm.provider: typed values)."""
    if value is None:
        return None
    return typed(value, spec)
