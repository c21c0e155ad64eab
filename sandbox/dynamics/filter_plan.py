"""What a query can skip, read from its `$filter` (filter.py parses and compiles it): the primary ids a filter pins
(`leadid eq <guid> or ...`, a client reading rows by id) and the lower bound a keyset puts on a column
(`modifiedon gt T or (modifiedon eq T and leadid gt G)` bounds modifiedon by T), so queries.py reads about a page
of rows instead of the whole table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from odata_query import ast

from sandbox.dynamics.filter import (
    Compiler,
    Predicate,
    QueryRefused,
    edm_type,
    literal_of,
    normalized,
    parse,
    resolve_property,
)

if TYPE_CHECKING:
    from sandbox.dynamics.state_tables import Attribute, Table


@dataclass(frozen=True)
class Compiled:
    """A compiled `$filter`: its predicate, and what lets a query avoid scanning the whole table."""

    predicate: Predicate
    node: ast._Node
    table: Table

    @property
    def candidates(self) -> set[str] | None:
        """The primary ids the filter can match when it pins them (`leadid eq <guid> or ...`, as a client reading
        rows by id sends), else None."""
        return _candidates(self.node, self.table)

    def lower_bound(self, attribute: Attribute) -> Any:
        """A value every matching row's `attribute` is at least (normalised), or None: a keyset such as
        `modifiedon gt T or (modifiedon eq T and leadid gt G)` bounds modifiedon by T."""
        return _lower_bound(self.node, attribute, self.table)


def compile_query(text: str, table: Table, *, now: datetime | None = None) -> Compiled:
    node = parse(text)
    return Compiled(Compiler(table, now or datetime.now(UTC)).node(node), node, table)


def _lower_bound(node: ast._Node, attribute: Attribute, table: Table) -> Any:
    if isinstance(node, ast.BoolOp):
        left = _lower_bound(node.left, attribute, table)
        right = _lower_bound(node.right, attribute, table)
        if isinstance(node.op, ast.And):
            return right if left is None else left if right is None else max(left, right)
        return None if left is None or right is None else min(left, right)
    if (
        isinstance(node, ast.Compare)
        and isinstance(node.comparator, ast.Gt | ast.GtE | ast.Eq)
        and isinstance(node.left, ast.Identifier)
        and not node.left.namespace
        and not isinstance(node.right, ast.Identifier | ast.Null)
    ):
        try:
            if resolve_property(table, node.left.name) is not attribute:
                return None
            return normalized(edm_type(attribute), literal_of(node.right)[1])
        except (QueryRefused, ValueError, TypeError):
            return None
    return None


def _candidates(node: ast._Node, table: Table) -> set[str] | None:
    if isinstance(node, ast.BoolOp):
        left, right = _candidates(node.left, table), _candidates(node.right, table)
        if isinstance(node.op, ast.Or):
            return None if left is None or right is None else left | right
        return right if left is None else left if right is None else left & right
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Identifier):
        if node.left.name != table.primary_id or node.left.namespace:
            return None
        if isinstance(node.comparator, ast.Eq) and isinstance(node.right, ast.GUID):
            return {node.right.val.lower()}
        if isinstance(node.comparator, ast.In) and isinstance(node.right, ast.List):
            values = node.right.val
            if all(isinstance(value, ast.GUID) for value in values):
                return {value.val.lower() for value in values}
    return None
