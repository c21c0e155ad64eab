"""Columns of a COQL query resolved against the org: which field, of which kind, read how from a record.

A field's kind decides which operators it takes and how values compare. It comes from the org's field metadata
(`org.fields[module]`: `api_name`, `data_type`, `json_type`, `lookup`) when the module has any; otherwise from
the values the records hold, then from the literal in the query. With metadata, unknown columns are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sandbox.zoho_crm.coql import errors
from sandbox.zoho_crm.coql.lexer import Token

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

TEXT, TEXTAREA, MULTI, NUMBER, ID, DATETIME, DATE, BOOLEAN, LOOKUP = (
    "text",
    "textarea",
    "multiselectpicklist",
    "number",
    "id",
    "datetime",
    "date",
    "boolean",
    "lookup",
)
DATA_TYPE_KINDS = {
    "text": TEXT,
    "email": TEXT,
    "phone": TEXT,
    "website": TEXT,
    "picklist": TEXT,
    "autonumber": TEXT,
    "textarea": TEXTAREA,
    "multiselectpicklist": MULTI,
    "integer": NUMBER,
    "bigint": NUMBER,
    "long": NUMBER,
    "double": NUMBER,
    "decimal": NUMBER,
    "currency": NUMBER,
    "percent": NUMBER,
    "date": DATE,
    "datetime": DATETIME,
    "boolean": BOOLEAN,
    "lookup": LOOKUP,
    "ownerlookup": LOOKUP,
    "userlookup": LOOKUP,
}
JSON_TYPE_KINDS = {
    "string": TEXT,
    "integer": NUMBER,
    "double": NUMBER,
    "boolean": BOOLEAN,
    "jsonobject": LOOKUP,
    "jsonarray": MULTI,
}
_ALL = frozenset({"=", "!=", ">", "<", ">=", "<=", "between", "not between", "in", "not in", "is null", "is not null"})
_TEXTUAL = frozenset({"=", "!=", "like", "not like", "in", "not in", "is null", "is not null"})
# Operators per kind (COQL overview tables and Kaizen #80/#81; multi-line text takes no criteria at all).
OPERATORS: dict[str, frozenset[str]] = {
    TEXT: _TEXTUAL,
    MULTI: _TEXTUAL,
    TEXTAREA: frozenset(),
    NUMBER: _ALL,
    ID: _ALL,
    DATETIME: _ALL,
    DATE: _ALL,
    BOOLEAN: frozenset({"="}),
    LOOKUP: frozenset({"=", "!=", "in", "not in", "is null", "is not null"}),
}
# Fields every module has, whatever the metadata says.
SYSTEM_KINDS = {
    "id": ID,
    "Created_Time": DATETIME,
    "Modified_Time": DATETIME,
    "Owner": LOOKUP,
    "Created_By": LOOKUP,
    "Modified_By": LOOKUP,
}
USER_LOOKUPS = frozenset({"Owner", "Created_By", "Modified_By"})
USER_FIELDS = frozenset({"id", "first_name", "last_name", "full_name", "email"})  # documented for COQL
USERS = "users"  # the target of user lookups

DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_INFER_SAMPLE = 2000


@lru_cache(maxsize=1 << 18)
def epoch(text: str) -> float | None:
    """A Zoho datetime as epoch seconds (an instant: offsets compared correctly); None when not one."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def kind_of_metadata(meta: dict[str, Any]) -> str:
    data_type = str(meta.get("data_type") or "").lower()
    if data_type in DATA_TYPE_KINDS:
        return DATA_TYPE_KINDS[data_type]
    if data_type == "formula":
        return_type = str((meta.get("formula") or {}).get("return_type") or "").lower()
        if return_type in DATA_TYPE_KINDS:
            return DATA_TYPE_KINDS[return_type]
    return JSON_TYPE_KINDS.get(str(meta.get("json_type") or "").lower(), TEXT)


def kind_of_value(value: Any) -> str | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, dict):
        return LOOKUP
    if isinstance(value, list):
        return MULTI
    text = str(value)
    if DATETIME_TEXT.fullmatch(text):
        return DATETIME
    if DATE_TEXT.fullmatch(text):
        return DATE
    return TEXT


def kind_of_literal(token: Token | None) -> str:
    if token is None:
        return TEXT
    if token.kind == "number":
        return NUMBER
    if token.word in ("true", "false"):
        return BOOLEAN
    return kind_of_value(token.text) or TEXT


@dataclass
class FieldRef:
    """A resolved column: its name as written, kind, metadata (base fields) and how to read it off a record."""

    name: str
    kind: str
    read: Callable[[dict[str, Any]], Any]
    meta: dict[str, Any] | None = None
    base: str = ""  # the module's own field ("Owner" for "Owner.email")

    @property
    def dotted(self) -> bool:
        return "." in self.name

    @property
    def data_type(self) -> str:
        return str(self.meta.get("data_type")) if self.meta and self.meta.get("data_type") else self.kind

    def value(self, record: dict[str, Any]) -> Any:
        """The record's value normalised for comparing and sorting (None for empty)."""
        return normalise(self.kind, self.read(record))


def normalise(kind: str, raw: Any) -> Any:
    if raw is None or raw == "" or raw == []:
        return False if kind == BOOLEAN else None
    if kind == TEXT:
        return raw.casefold() if isinstance(raw, str) else str(raw).casefold()
    if kind == DATETIME:
        return epoch(raw) if isinstance(raw, str) else None
    if kind == ID:
        try:
            return int(raw)
        except (TypeError, ValueError):
            return None
    if kind == LOOKUP:
        if isinstance(raw, dict):
            return str(raw["id"]) if raw.get("id") else None
        return str(raw)
    if kind == NUMBER:
        if isinstance(raw, bool):
            return None
        if isinstance(raw, int | float):
            return raw
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    if kind == BOOLEAN:
        return raw if isinstance(raw, bool) else str(raw).lower() == "true"
    if kind == MULTI:
        items = raw if isinstance(raw, list) else [raw]
        return tuple(str(item).casefold() for item in items)
    if kind == DATE:
        return str(raw)[:10]
    return str(raw).casefold()  # TEXTAREA


def coerce(ref: FieldRef, token: Token) -> Any:
    """A literal of the query as a value of the column's kind, or INVALID_QUERY."""
    kind, text = ref.kind, token.text
    is_string = token.kind == "string"
    bad = errors.invalid_value(ref.name, ref.data_type)
    if kind in (TEXT, MULTI, TEXTAREA):
        return text.casefold()
    if kind == NUMBER:
        if token.kind == "number" or is_string:
            try:
                return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
            except ValueError:
                raise bad from None
        raise bad
    if kind in (ID, LOOKUP):
        if (token.kind == "number" or is_string) and re.fullmatch(r"\d+", text):
            return int(text) if kind == ID else text
        raise bad
    if kind == DATETIME:
        moment = epoch(text) if is_string and DATETIME_TEXT.fullmatch(text) else None
        if moment is None:
            raise bad
        return moment
    if kind == DATE:
        if is_string and DATE_TEXT.fullmatch(text):
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise bad from None
        raise bad
    if kind == BOOLEAN:
        word = token.word or (text.lower() if is_string else "")
        if word in ("true", "false"):
            return word == "true"
        raise bad
    raise bad


class Resolver:
    """Resolves column names of one module of one org, lookups included."""

    def __init__(self, org: ZohoOrg, module: str) -> None:
        self.org = org
        self.module = module
        self.store = org.module(module)
        self._meta = {self.module: self._metadata(module)}

    def _metadata(self, module: str) -> dict[str, dict[str, Any]]:
        return {item["api_name"]: item for item in (self.org.fields.get(module) or []) if item.get("api_name")}

    def metadata(self, module: str) -> dict[str, dict[str, Any]]:
        if module not in self._meta:
            self._meta[module] = self._metadata(module)
        return self._meta[module]

    def resolve(self, name: str, clause: str, literal: Token | None = None) -> FieldRef:
        def refuse() -> errors.CoqlError:
            return errors.unsupported_column(name) if clause == "select" else errors.invalid_column(name, clause)

        segments = name.split(".")
        if segments[0].startswith("!"):  # !Leads.Owner.email: the base module named explicitly
            if segments[0][1:] != self.module or len(segments) < 2:
                raise refuse()
            segments = segments[1:]
        if any(not segment for segment in segments):
            raise refuse()
        base = segments[0]
        last = len(segments) - 1
        kind, meta, target = self._field(self.module, base, _fallback(literal, last == 0))
        if kind is None:
            raise refuse()
        if last == 0:
            return FieldRef(name, kind, _reader(base), meta, base)
        steps: list[tuple[str | None, str]] = []  # (module to look the id up in, field to read there)
        for position, segment in enumerate(segments[1:], start=1):
            if kind != LOOKUP:
                raise refuse()
            fallback = _fallback(literal, position == last)
            if target is None:  # no metadata says where the lookup points: the id is found in any module
                kind, next_target = self._infer_related(segment, fallback), None
            else:
                kind, _meta, next_target = self._field(target, segment, fallback)
            if kind is None:
                raise refuse()
            steps.append((target, segment))
            target = next_target
        return FieldRef(name, kind, self._path_reader(base, steps), meta, base)

    def _field(self, module: str, field: str, fallback: str) -> tuple[str | None, dict | None, str | None]:
        """(kind, metadata, lookup target) of a field of a module (or of users), or (None, ...) if unknown."""
        if module == USERS:
            if field == "id":
                return ID, None, None
            known = USER_FIELDS.union(*(user.keys() for user in self.org.users.values()))
            if field not in known:
                return None, None, None
            values = (user.get(field) for user in self.org.users.values())
            return self._infer(values, fallback), None, None
        metadata = self.metadata(module)
        meta = metadata.get(field)
        target = USERS if field in USER_LOOKUPS else None
        if meta is not None:
            lookup = meta.get("lookup") or {}
            lookup_module = (lookup.get("module") or {}).get("api_name") if isinstance(lookup, dict) else None
            if str(meta.get("data_type")).lower() in ("ownerlookup", "userlookup"):
                target = USERS
            elif lookup_module:
                target = lookup_module
            return (SYSTEM_KINDS.get(field) or kind_of_metadata(meta)), meta, target
        if field in SYSTEM_KINDS:
            return SYSTEM_KINDS[field], None, target
        if metadata:  # the module is described and this field is not in it
            return None, None, None
        store = self.org.module(module)
        records = () if store is None else store.records.values() if store is self.store else _snapshot(store)
        return self._infer((record.get(field) for record in records), fallback), None, target

    @staticmethod
    def _infer(values: Iterable[Any], fallback: str) -> str:
        """The kind of the first non-empty value among the first few; `fallback` when all are empty."""
        for index, value in enumerate(values):
            if index >= _INFER_SAMPLE:
                break
            kind = kind_of_value(value)
            if kind is not None:
                return kind
        return fallback

    def _infer_related(self, field: str, fallback: str) -> str:
        if field == "id":
            return ID
        stores = list(self.org.modules.values())
        values = (record.get(field) for store in stores for record in _snapshot(store))
        return self._infer(values, fallback)

    def _fetch(self, target: str | None, record_id: str) -> dict[str, Any] | None:
        if target == USERS:
            return self.org.users.get(record_id)
        if target is not None:
            store = self.org.module(target)
            return store.get(record_id) if store else None
        for store in self.org.modules.values():
            found = store.get(record_id)
            if found is not None:
                return found
        return self.org.users.get(record_id)

    def _path_reader(self, base: str, steps: list[tuple[str | None, str]]) -> Callable[[dict[str, Any]], Any]:
        def read(record: dict[str, Any]) -> Any:
            value = record.get(base)
            for target, field in steps:
                related_id = value.get("id") if isinstance(value, dict) else value
                if not related_id:
                    return None
                if field == "id":
                    value = str(related_id)
                    continue
                related = self._fetch(target, str(related_id))
                if related is None:
                    return None
                value = related.get(field)
            return value

        return read


def _snapshot(store: Any) -> list[dict[str, Any]]:
    """The first records of a store whose lock this query does not hold (a copy: writers may be busy)."""
    return list(store.records.values())[:_INFER_SAMPLE]


def _fallback(literal: Token | None, last: bool) -> str:
    """Kind of a field nothing describes: from the query's literal for the last segment, a lookup before it."""
    return kind_of_literal(literal) if last else LOOKUP


def _reader(field: str) -> Callable[[dict[str, Any]], Any]:
    def read(record: dict[str, Any]) -> Any:
        return record.get(field)

    return read
