"""SOQL AST to Python: checks a parsed query against an sObject's describe metadata (`Entity`, found through a
`Catalog`) and compiles it into column getters, a WHERE predicate and sort keys (`Compiled`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sandbox.salesforce.ids import normalize
from sandbox.salesforce.soql_parse import (
    LIKE_ANY,
    LIKE_ONE,
    Comparison,
    Count,
    Expr,
    FieldPath,
    Literal,
    Not,
    Query,
    Record,
    SoqlError,
    epoch,
    malformed,
    no_such_column,
    no_such_relation,
    plain,
    record_id,
    unsupported_type,
)
from sandbox.salesforce.soql_plan import Keyset, id_members_of, keyset_of

# --- metadata ------------------------------------------------------------------------------------------------

TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "textarea", "phone", "email", "url", "combobox", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
ID_TYPES = frozenset({"id", "reference"})
COMPOUND_TYPES = frozenset({"address", "location"})
LONG_TEXT_LENGTH = 255  # a textarea longer than this is long text (smaller query batches)
_LITERAL_TYPE_WORD = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "number": "double"}


@dataclass
class Entity:
    """An sObject's describe, indexed for the compiler: fields by lower-case name, relationships by lower-case
    relationship name, compound fields' parts."""

    name: str
    fields: dict[str, dict[str, Any]]
    relationships: dict[str, dict[str, Any]]
    components: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_describe(cls, describe: dict[str, Any]) -> Entity:
        fields = {meta["name"].lower(): meta for meta in describe["fields"]}
        relationships = {
            meta["relationshipName"].lower(): meta for meta in describe["fields"] if meta.get("relationshipName")
        }
        components: dict[str, list[dict[str, Any]]] = {}
        for meta in describe["fields"]:
            if meta.get("compoundFieldName"):
                components.setdefault(meta["compoundFieldName"], []).append(meta)
        return cls(describe["name"], fields, relationships, components)

    def field(self, name: str) -> dict[str, Any] | None:
        return self.fields.get(name.lower())

    def is_long_text(self, meta: dict[str, Any]) -> bool:
        return meta.get("type") == "textarea" and int(meta.get("length") or 0) > LONG_TEXT_LENGTH


class Catalog(Protocol):
    """What the compiler and runner need from an org: an sObject's metadata and a record by id (relationships)."""

    def entity(self, sobject: str) -> Entity | None: ...

    def record(self, sobject: str, record_id: str) -> Record | None: ...


# --- compiling -----------------------------------------------------------------------------------------------

Getter = Callable[[Record], Any]
Test = Callable[[Record], bool]


@dataclass
class Column:
    """A selected path: where it is read from and how it is shown (`path` as the query named it, canonical)."""

    path: tuple[str, ...]  # canonical names: ("Owner", "Name") or ("Email",)
    meta: dict[str, Any]
    get: Getter
    relation: tuple[dict[str, Any], ...] = ()  # the lookup fields walked through, outermost first


@dataclass
class Compiled:
    query: Query
    entity: Entity
    columns: list[Column]
    test: Test | None
    order: list[tuple[Getter, bool, bool]]  # (sort key getter, descending, nulls last)
    order_names: list[str]  # canonical single-field names of ORDER BY (relationship paths as dotted text)
    order_flags: list[tuple[bool, bool]]
    limit: int | None
    offset: int
    keyset: Keyset | None
    long_text_columns: int
    id_members: frozenset[str] | None = None  # the WHERE names its rows by id (`Id IN (...)`, `Id = x`)

    @property
    def is_count(self) -> bool:
        return self.query.is_count


def compile_query(query: Query, catalog: Catalog, *, now: datetime | None = None) -> Compiled:
    entity = catalog.entity(query.sobject)
    if entity is None:
        raise unsupported_type(query.sobject, query.sobject_position)
    resolver = _Resolver(entity, catalog)
    columns: list[Column] = []
    seen: set[str] = set()
    counts = [item for item in query.select if isinstance(item, Count)]
    if counts and len(query.select) > 1:
        raise malformed("unexpected token: ','", query.select[1].position if query.select else None)
    if counts and query.order_by:
        raise malformed("ORDER BY is not allowed with COUNT()", query.order_by[0].path.position)
    for item in query.select:
        if isinstance(item, Count):
            continue
        column = resolver.column(item)
        key = ".".join(column.path).lower()
        if key in seen:
            raise malformed(f"duplicate field selected: {'.'.join(column.path)}", item.position)
        seen.add(key)
        columns.append(column)
    moment = now or datetime.now(UTC)
    test = _compile_expr(query.where, resolver, moment) if query.where is not None else None
    order: list[tuple[Getter, bool, bool]] = []
    names: list[str] = []
    for item in query.order_by:
        column = resolver.column(item.path, clause="order")
        if column.meta.get("sortable") is False or column.meta.get("type") in COMPOUND_TYPES:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{column.meta['name']}' can not be sorted in a query call",
                item.path.position,
            )
        order.append((_sort_key(column), item.descending, item.nulls_last))
        names.append(".".join(column.path))
    long_text = sum(1 for column in columns if not column.relation and entity.is_long_text(column.meta))
    compiled = Compiled(
        query=query,
        entity=entity,
        columns=columns,
        test=test,
        order=order,
        order_names=names,
        order_flags=[(item.descending, item.nulls_last) for item in query.order_by],
        limit=query.limit,
        offset=query.offset or 0,
        keyset=None,
        long_text_columns=long_text,
    )
    compiled.keyset = keyset_of(query, entity, names, compiled.order_flags)
    compiled.id_members = id_members_of(query.where)
    return compiled


class _Resolver:
    def __init__(self, entity: Entity, catalog: Catalog) -> None:
        self.entity = entity
        self.catalog = catalog

    def column(self, path: FieldPath, *, clause: str = "select") -> Column:
        parts = list(path.parts)
        # A path may start with the object's own name (`SELECT Lead.Email FROM Lead`).
        if len(parts) > 1 and parts[0].lower() == self.entity.name.lower():
            parts = parts[1:]
        entity = self.entity
        relation: list[dict[str, Any]] = []
        canonical: list[str] = []
        for name in parts[:-1]:
            meta = entity.relationships.get(name.lower())
            if meta is None:
                raise no_such_relation(name, entity.name, path.position)
            target_name = (meta.get("referenceTo") or [None])[0]
            target = self.catalog.entity(target_name) if target_name else None
            if target is None:
                raise no_such_relation(name, entity.name, path.position)
            relation.append(meta)
            canonical.append(meta["relationshipName"])
            entity = target
        last = parts[-1]
        meta = entity.field(last)
        if meta is None:
            raise no_such_column(last, entity.name, path.position)
        canonical.append(meta["name"])
        get = self._getter(entity, meta, tuple(relation))
        return Column(tuple(canonical), meta, get, tuple(relation))

    def _getter(self, entity: Entity, meta: dict[str, Any], relation: tuple[dict[str, Any], ...]) -> Getter:
        name = meta["name"]
        if meta.get("type") in COMPOUND_TYPES:
            parts = entity.components.get(name, [])
            prefix = name[: -len("Address")] if name.endswith("Address") else ""

            def get_compound(record: Record) -> Any:
                value = {_component_key(part["name"], prefix): record.get(part["name"]) for part in parts}
                return value if any(item is not None for item in value.values()) else None

            own = get_compound
        elif name == "Id":
            own = record_id
        elif meta.get("type") == "boolean":
            own = lambda record: bool(record.get(name))  # noqa: E731 (booleans are never null in Salesforce)
        else:
            own = lambda record: record.get(name)  # noqa: E731
        if not relation:
            return own
        catalog = self.catalog

        def get_related(record: Record) -> Any:
            current: Record | None = record
            for lookup in relation:
                target_id = current.get(lookup["name"]) if current is not None else None
                if not target_id:
                    return None
                current = _related(catalog, lookup, target_id)
            return own(current) if current is not None else None

        return get_related


def _related(catalog: Catalog, lookup: dict[str, Any], target_id: str) -> Record | None:
    for sobject in lookup.get("referenceTo") or ():
        found = catalog.record(sobject, target_id)
        if found is not None:
            return found
    return None


def _component_key(name: str, prefix: str) -> str:
    short = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    return short[:1].lower() + short[1:]


def _compile_expr(node: Expr, resolver: _Resolver, now: datetime) -> Test:
    if isinstance(node, Comparison):
        return _compile_comparison(node, resolver, now)
    if isinstance(node, Not):
        inner = _compile_expr(node.item, resolver, now)
        return lambda record: not inner(record)
    tests = [_compile_expr(item, resolver, now) for item in node.items]
    if node.operator == "and":
        return lambda record: all(test(record) for test in tests)
    return lambda record: any(test(record) for test in tests)


def _type_error(meta: dict[str, Any], literal: Literal) -> SoqlError:
    kind = meta.get("type")
    name = meta["name"]
    if kind in TEXT_TYPES or kind in ID_TYPES:
        wanted, quoted = "string", "should be enclosed in quotes"
    else:
        wanted = {"datetime": "dateTime", "date": "date", "boolean": "boolean"}.get(kind, "double")
        quoted = "should not be enclosed in quotes"
    return SoqlError(
        "INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type {wanted} and {quoted}",
        literal.position,
    )  # fmt: skip


def _compile_comparison(node: Comparison, resolver: _Resolver, now: datetime) -> Test:
    column = resolver.column(node.path, clause="where")
    meta = column.meta
    kind = meta.get("type")
    if kind in COMPOUND_TYPES or meta.get("filterable") is False:
        raise SoqlError(
            "INVALID_FIELD",
            f"field '{meta['name']}' can not be filtered in a query call",
            node.path.position,
        )
    get = column.get
    operator = node.operator
    if operator == "like":
        if kind not in TEXT_TYPES and kind not in ID_TYPES:
            raise SoqlError(
                "INVALID_FIELD",
                f"invalid operator on {_LITERAL_TYPE_WORD.get(kind, kind)} field: {meta['name']}",
                node.position,
            )
        literal = node.values[0]
        if literal.kind != "string":
            raise _type_error(meta, literal)
        pattern = _like(literal.value)
        return lambda record: (value := get(record)) is not None and pattern.fullmatch(str(value)) is not None
    normal = _normalizer(meta)
    literals = [_coerce(meta, literal, now) for literal in node.values]
    if any(isinstance(value, _Range) for value in literals):
        if operator in ("in", "notin"):
            raise malformed("date literals are not allowed in IN", node.position)
        return _range_test(get, normal, operator, literals[0])
    if operator in ("in", "notin"):
        members = frozenset(literals)
        if operator == "in":
            return lambda record: normal(get(record)) in members
        return lambda record: normal(get(record)) not in members
    target = literals[0]
    if operator == "=":
        return lambda record: normal(get(record)) == target
    if operator == "!=":
        return lambda record: normal(get(record)) != target
    if target is None:
        return lambda record: False
    compare = {
        "<": lambda value: value < target,
        "<=": lambda value: value <= target,
        ">": lambda value: value > target,
        ">=": lambda value: value >= target,
    }[operator]
    return lambda record: (value := normal(get(record))) is not None and compare(value)


@dataclass(frozen=True)
class _Range:
    start: Any  # inclusive
    end: Any  # exclusive


def _range_test(get: Getter, normal: Callable[[Any], Any], operator: str, span: _Range) -> Test:
    start, end = span.start, span.end
    checks: dict[str, Callable[[Any], bool]] = {
        "=": lambda value: start <= value < end,
        "!=": lambda value: not start <= value < end,
        "<": lambda value: value < start,
        "<=": lambda value: value < end,
        ">": lambda value: value >= end,
        ">=": lambda value: value >= start,
    }
    check = checks[operator]
    return lambda record: (value := normal(get(record))) is not None and check(value)


def _normalizer(meta: dict[str, Any]) -> Callable[[Any], Any]:
    kind = meta.get("type")
    if kind == "datetime":
        return lambda value: None if value is None else epoch(value)
    if kind in TEXT_TYPES:
        return lambda value: None if value is None else str(value).casefold()
    if kind in NUMBER_TYPES:
        return lambda value: None if value is None else float(value)
    if kind == "boolean":
        return lambda value: bool(value)
    return lambda value: value  # ids, dates (ISO text sorts as dates do)


def _coerce(meta: dict[str, Any], literal: Literal, now: datetime) -> Any:
    """A literal as the field's normalized value (what `_normalizer` makes of stored values), or a type error."""
    kind = meta.get("type")
    if literal.kind == "null":
        return None
    if literal.kind == "date_literal":
        if kind not in ("date", "datetime"):
            raise _type_error(meta, literal)
        name, days = literal.value
        today = now.astimezone(UTC).date()
        first, last = {
            "TODAY": (today, today),
            "YESTERDAY": (today - timedelta(days=1), today - timedelta(days=1)),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=1)),
            "LAST_N_DAYS": (today - timedelta(days=days), today),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=days)),
        }[name]
        after = last + timedelta(days=1)
        if kind == "date":
            return _Range(first.isoformat(), after.isoformat())
        midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(after.year, after.month, after.day, tzinfo=UTC)
        return _Range(midnight.timestamp(), end.timestamp())
    if kind == "datetime":
        if literal.kind != "datetime":
            raise _type_error(meta, literal)
        return literal.value.timestamp()
    if kind == "date":
        if literal.kind != "date":
            raise _type_error(meta, literal)
        return literal.value
    if kind == "boolean":
        if literal.kind != "boolean":
            raise _type_error(meta, literal)
        return literal.value
    if kind in NUMBER_TYPES:
        if literal.kind != "number":
            raise _type_error(meta, literal)
        return float(literal.value)
    if kind in ID_TYPES:
        if literal.kind != "string":
            raise _type_error(meta, literal)
        value = plain(literal.value)
        canonical = normalize(value)
        if canonical is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}", literal.position)
        return canonical
    if literal.kind != "string":
        raise _type_error(meta, literal)
    return plain(literal.value).casefold()


def _like(value: str) -> re.Pattern[str]:
    parts = []
    for chunk in re.split(f"({re.escape(LIKE_ANY)}|{re.escape(LIKE_ONE)})", value):
        parts.append(".*" if chunk == LIKE_ANY else "." if chunk == LIKE_ONE else re.escape(chunk))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _sort_key(column: Column) -> Getter:
    normal = _normalizer(column.meta)
    get = column.get
    return lambda record: normal(get(record))
