"""A parsed query checked against the org and turned into something to run: resolved columns, a predicate per
criterion (typed per the field), the ordering, LIMIT and OFFSET within Zoho's caps."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.zoho_crm.coql import errors
from sandbox.zoho_crm.coql.fields import MULTI, OPERATORS, FieldRef, Resolver, coerce
from sandbox.zoho_crm.coql.lexer import Token
from sandbox.zoho_crm.coql.parser import Condition, Criteria, Query

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg
    from sandbox.zoho_crm.store import RecordStore

DEFAULT_LIMIT = 200
MAX_LIMIT = 2000  # records per call (v8)
MAX_REACH = 100_000  # OFFSET + LIMIT (v8)
MAX_SELECT = 500  # columns (v7+)
MAX_ORDER_BY = 10

Record = dict[str, Any]
Test = Callable[[Record], bool]


@dataclass
class Check:
    """One criterion: `ref operator values`, with its compiled test."""

    ref: FieldRef
    operator: str
    values: list[Any]
    test: Test


@dataclass
class Junction:
    operator: str  # and | or
    left: Node
    right: Node
    test: Test


Node = Check | Junction


@dataclass
class Plan:
    module: str
    store: RecordStore
    columns: list[FieldRef]
    where: Node | None
    order: list[tuple[FieldRef, bool]]  # (column, descending); never empty: `id asc` by default
    limit: int
    offset: int
    id_ref: FieldRef
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def credits(self) -> int:
        """1 for LIMIT 1-200, 2 for 201-1000, 3 for 1001-2000 (Vertical Solutions docs; UNCONFIRMED for CRM)."""
        return 1 if self.limit <= 200 else 2 if self.limit <= 1000 else 3


def plan(org: ZohoOrg, query: Query) -> Plan:
    limit, offset = _limits(query)
    store = org.module(query.module)
    if store is None:
        raise errors.invalid_module()
    resolver = Resolver(org, query.module)
    if len(query.columns) > MAX_SELECT:
        raise errors.limit_exceeded({"limit": MAX_SELECT, "clause": "select"})
    columns: list[FieldRef] = []
    seen: set[str] = set()
    for column in query.columns:
        if column.name in seen:
            raise errors.duplicate_column(column.name)
        seen.add(column.name)
        columns.append(resolver.resolve(column.name, "select"))
    where = _compile(resolver, query.where) if query.where is not None else None
    if len(query.order_by) > MAX_ORDER_BY:
        raise errors.limit_exceeded({"limit": MAX_ORDER_BY, "clause": "order by"})
    order: list[tuple[FieldRef, bool]] = []
    seen = set()
    for item in query.order_by:
        if item.column.name in seen:
            raise errors.duplicate_column(item.column.name, "order by")
        seen.add(item.column.name)
        ref = resolver.resolve(item.column.name, "order by")
        if not ref.dotted and ref.meta is not None and ref.meta.get("sortable") is False:
            raise errors.invalid_column(item.column.name, "order by")
        order.append((ref, item.descending))
    id_ref = resolver.resolve("id", "select")
    return Plan(
        module=query.module,
        store=store,
        columns=columns,
        where=where,
        order=order or [(id_ref, False)],
        limit=limit,
        offset=offset,
        id_ref=id_ref,
        metadata=resolver.metadata(query.module),
    )


def _limits(query: Query) -> tuple[int, int]:
    limit = DEFAULT_LIMIT
    if query.limit is not None:
        if not _is_integer(query.limit):
            raise errors.invalid_limit(query.limit.text)
        limit = int(query.limit.text)
        if limit <= 0:
            raise errors.limit_not_positive()
        if limit > MAX_LIMIT:
            raise errors.limit_exceeded({"limit": MAX_LIMIT})
    offset = 0
    if query.offset is not None:
        if not _is_integer(query.offset) or int(query.offset.text) < 0:
            raise errors.invalid_offset(query.offset.text)
        offset = int(query.offset.text)
    if offset + limit > MAX_REACH:
        raise errors.limit_exceeded({"limit": MAX_REACH})
    return limit, offset


def _is_integer(token: Token) -> bool:
    return token.kind == "number" and re.fullmatch(r"-?\d+", token.text) is not None


# --- criteria ------------------------------------------------------------------------------------------------
def _compile(resolver: Resolver, node: Criteria) -> Node:
    if isinstance(node, Condition):
        literal = node.values[0] if node.values else None
        ref = resolver.resolve(node.column.name, "where", literal)
        unfilterable = not ref.dotted and ref.meta is not None and ref.meta.get("filterable") is False
        if unfilterable or node.operator not in OPERATORS[ref.kind]:
            raise errors.invalid_operator(node.column.name, node.operator)
        values = [coerce(ref, token) for token in node.values]
        return Check(ref, node.operator, values, _test(ref, node.operator, values))
    left, right = _compile(resolver, node.left), _compile(resolver, node.right)
    left_test, right_test = left.test, right.test
    if node.operator == "and":
        return Junction("and", left, right, lambda record: left_test(record) and right_test(record))
    return Junction("or", left, right, lambda record: left_test(record) or right_test(record))


def like_pattern(pattern: str) -> re.Pattern[str]:
    """`%` matches any run of characters (starts with, ends with, contains); the rest is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("%")), re.DOTALL)


def _test(ref: FieldRef, operator: str, values: list[Any]) -> Test:
    value_of = ref.value
    if operator == "is null":
        return lambda record: value_of(record) is None
    if operator == "is not null":
        return lambda record: value_of(record) is not None
    if ref.kind == MULTI:
        return _multi_test(value_of, operator, values)
    first = values[0]
    if operator == "=":
        return lambda record: value_of(record) == first
    if operator == "!=":
        return lambda record: (value := value_of(record)) is not None and value != first
    if operator == ">":
        return lambda record: (value := value_of(record)) is not None and value > first
    if operator == "<":
        return lambda record: (value := value_of(record)) is not None and value < first
    if operator == ">=":
        return lambda record: (value := value_of(record)) is not None and value >= first
    if operator == "<=":
        return lambda record: (value := value_of(record)) is not None and value <= first
    if operator in ("between", "not between"):
        low, high = values
        if operator == "between":
            return lambda record: (value := value_of(record)) is not None and low <= value <= high
        return lambda record: (value := value_of(record)) is not None and not low <= value <= high
    if operator in ("in", "not in"):
        members = frozenset(values)
        if operator == "in":
            return lambda record: value_of(record) in members
        return lambda record: (value := value_of(record)) is not None and value not in members
    pattern = like_pattern(str(first))
    if operator == "like":
        return lambda record: (value := value_of(record)) is not None and pattern.fullmatch(value) is not None
    return lambda record: (value := value_of(record)) is not None and pattern.fullmatch(value) is None


def _multi_test(value_of: Callable[[Record], Any], operator: str, values: list[Any]) -> Test:
    """Multi-select picklists: = / in when any chosen value matches (UNCONFIRMED semantics)."""
    members = frozenset(values)
    if operator in ("=", "in"):
        return lambda record: bool(members.intersection(value_of(record) or ()))
    if operator in ("!=", "not in"):
        return lambda record: (chosen := value_of(record)) is not None and not members.intersection(chosen)
    pattern = like_pattern(str(values[0]))
    if operator == "like":
        return lambda record: any(pattern.fullmatch(item) for item in value_of(record) or ())
    return lambda record: (chosen := value_of(record)) is not None and not any(pattern.fullmatch(i) for i in chosen)
