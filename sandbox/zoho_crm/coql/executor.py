"""Running a plan: the page of records it selects, and whether more match.

Orderings the store keeps sorted indexes for, `id` and `(Modified_Time, id)`, are read from those indexes: the
start is bisected from the lower bound the WHERE implies (the keyset continuation
`((Modified_Time > t) or (Modified_Time = t and id > x))` bounds the composite key at (t, x)), reading stops
past the upper bound, and stops anyway after OFFSET + LIMIT + 1 matches. When the WHERE says nothing but those
bounds, the records skipped by OFFSET are not even tested. Every other query filters all records and sorts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import dropwhile, islice, takewhile
from typing import Any

from sandbox.zoho_crm.coql.fields import epoch
from sandbox.zoho_crm.coql.planner import Check, Junction, Node, Plan

Record = dict[str, Any]
Key = tuple[float, float]  # (Modified_Time epoch seconds, id); ids as numbers so ±inf can stand in
INF = float("inf")
MODIFIED = "Modified_Time"
RANGE = frozenset({">", ">=", "<", "<=", "=", "between"})


@dataclass
class Page:
    records: list[Record]
    more_records: bool


def run(plan: Plan) -> Page:
    """The page; call with the store's lock held (the indexes must not move under the reader)."""
    want = plan.offset + plan.limit + 1  # one past the page tells whether more records match
    test = plan.where.test if plan.where is not None else None
    route = _index_route(plan)
    if route is not None:
        candidates, exact = route
        matches = candidates if exact or test is None else (record for record in candidates if test(record))
        window = list(islice(matches, plan.offset, want))
    else:
        records = plan.store.records.values()
        found = list(records) if test is None else [record for record in records if test(record)]
        _sort(found, plan)
        window = found[plan.offset : want]
    return Page(window[: plan.limit], len(window) > plan.limit)


def project(plan: Plan, record: Record) -> Record:
    """The selected columns (lookups as `{"id"}`, dotted paths as flat keys) and the id, in Zoho's shape."""
    row = {ref.name: _output(ref.read(record)) for ref in plan.columns}
    row.setdefault("id", record["id"])
    return row


def _output(value: Any) -> Any:
    if isinstance(value, dict):
        return {"id": value.get("id")}
    if isinstance(value, list):
        return list(value)
    return value


def _sort(records: list[Record], plan: Plan) -> None:
    """Stable sorts from the last key to the first; ties fall back on id, in the last key's direction; empty
    values first when ascending, last when descending (MySQL's rule; UNCONFIRMED for Zoho)."""
    records.sort(key=lambda record: int(record["id"]), reverse=plan.order[-1][1])
    for ref, descending in reversed(plan.order):
        value_of = ref.value
        records.sort(key=lambda record, value_of=value_of: _nulls_first(value_of(record)), reverse=descending)


def _nulls_first(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


# --- index routes --------------------------------------------------------------------------------------------
def _index_route(plan: Plan) -> tuple[Iterator[Record], bool] | None:
    """(candidates in the requested order, whether the WHERE holds for all of them) or None to scan and sort."""
    directions = {descending for _, descending in plan.order}
    if len(directions) != 1:
        return None
    descending = directions.pop()
    names = [ref.name for ref, _ in plan.order]
    if names == ["id"]:
        return _by_id(plan, descending), _exact(plan.where, modified=False)
    if names in ([MODIFIED], [MODIFIED, "id"]):
        return _by_modified(plan, descending), _exact(plan.where, modified=True)
    return None


def _by_id(plan: Plan, descending: bool) -> Iterator[Record]:
    low, high = _id_bounds(plan.where)
    store = plan.store
    if not descending:
        records = store.iter_by_id(after=None if low is None else str(int(low) - 1))
        return records if high is None else takewhile(lambda record: int(record["id"]) <= high, records)
    records = store.iter_by_id(descending=True, after=None if high is None else str(int(high) + 1))
    return records if low is None else takewhile(lambda record: int(record["id"]) >= low, records)


def _by_modified(plan: Plan, descending: bool) -> Iterator[Record]:
    bounds = _modified_bounds(plan.where)
    low, high = bounds.low, bounds.high
    since = datetime.fromtimestamp(low[0], tz=UTC) if low is not None else None
    strictly_after = low is not None and low[1] == INF
    records = plan.store.iter_by_modified(descending=descending, since=since, strictly_after=strictly_after)
    partial_low = low is not None and low[1] not in (INF, -INF)  # the bisection is by time only
    if not descending:
        if partial_low:
            records = dropwhile(lambda record: _key(record) < low, records)
        if high is not None:
            records = takewhile(lambda record: _key(record) <= high, records)
        return records
    if high is not None:
        records = dropwhile(lambda record: _key(record) > high, records)
    if partial_low:
        records = takewhile(lambda record: _key(record) >= low, records)
    return records


def _key(record: Record) -> Key:
    return (epoch(record[MODIFIED]) or 0.0, int(record["id"]))


def _id_bounds(node: Node | None) -> tuple[float | None, float | None]:
    """Inclusive (low, high) on id that every record the criteria accept lies within (None: unbounded)."""
    if node is None:
        return None, None
    if isinstance(node, Check):
        if node.ref.name != "id":
            return None, None
        return _range(node.operator, node.values, step=1)
    left, right = _id_bounds(node.left), _id_bounds(node.right)
    return _combine(node.operator, left[0], right[0], low=True), _combine(node.operator, left[1], right[1], low=False)


@dataclass
class _Bounds:
    low: Key | None = None  # every accepted record has key >= low
    high: Key | None = None  # ... and key <= high
    pinned: float | None = None  # the criteria imply Modified_Time = pinned
    id_low: float | None = None
    id_high: float | None = None


def _modified_bounds(node: Node | None) -> _Bounds:
    if node is None:
        return _Bounds()
    if isinstance(node, Check):
        if node.ref.name == "id":
            id_low, id_high = _range(node.operator, node.values, step=1)
            return _Bounds(id_low=id_low, id_high=id_high)
        if node.ref.name != MODIFIED:
            return _Bounds()
        low, high = _range(node.operator, node.values, step=0)
        return _Bounds(
            low=None if low is None else (low, INF if node.operator == ">" else -INF),
            high=None if high is None else (high, -INF if node.operator == "<" else INF),
            pinned=node.values[0] if node.operator == "=" else None,
        )
    left, right = _modified_bounds(node.left), _modified_bounds(node.right)
    op = node.operator
    bounds = _Bounds(
        low=_combine(op, left.low, right.low, low=True),
        high=_combine(op, left.high, right.high, low=False),
        id_low=_combine(op, left.id_low, right.id_low, low=True),
        id_high=_combine(op, left.id_high, right.id_high, low=False),
    )
    if op == "and":
        bounds.pinned = left.pinned if left.pinned is not None else right.pinned
        if bounds.pinned is not None and bounds.id_low is not None:
            bounds.low = _combine("and", bounds.low, (bounds.pinned, bounds.id_low), low=True)
        if bounds.pinned is not None and bounds.id_high is not None:
            bounds.high = _combine("and", bounds.high, (bounds.pinned, bounds.id_high), low=False)
    elif left.pinned is not None and left.pinned == right.pinned:
        bounds.pinned = left.pinned
    return bounds


def _range(operator: str, values: list[Any], *, step: int) -> tuple[Any, Any]:
    """(low, high) a single criterion implies; `step` turns strict bounds inclusive for integers (ids)."""
    if operator == ">":
        return values[0] + step, None
    if operator == ">=":
        return values[0], None
    if operator == "<":
        return None, values[0] - step
    if operator == "<=":
        return None, values[0]
    if operator == "=":
        return values[0], values[0]
    if operator == "between":
        return values[0], values[1]
    if operator == "in":
        return min(values), max(values)
    return None, None


def _combine(operator: str, left: Any, right: Any, *, low: bool) -> Any:
    """AND tightens a bound (either side's), OR loosens it (both sides must have one)."""
    if operator == "and":
        if left is None or right is None:
            return right if left is None else left
        return max(left, right) if low else min(left, right)
    if left is None or right is None:
        return None
    return min(left, right) if low else max(left, right)


def _exact(node: Node | None, *, modified: bool) -> bool:
    """Whether the criteria accept exactly the records between the bounds the index reading enforces."""
    if node is None:
        return True
    column = MODIFIED if modified else "id"
    if isinstance(node, Check):
        if node.operator == "is not null" and node.ref.name in ("id", MODIFIED):
            return True  # the store always has both
        return node.ref.name == column and node.operator in RANGE
    if node.operator == "and":
        if _exact(node.left, modified=modified) and _exact(node.right, modified=modified):
            return True
        return modified and _pinned_id_range(node)
    return modified and _keyset(node)


def _is(node: Node, name: str, *operators: str) -> bool:
    return isinstance(node, Check) and node.ref.name == name and node.operator in operators


def _pinned_id_range(node: Junction) -> bool:
    """`Modified_Time = t and id <op> x`: one time, a range of ids."""
    pairs = ((node.left, node.right), (node.right, node.left))
    return any(_is(first, MODIFIED, "=") and _is(second, "id", *RANGE) for first, second in pairs)


def _keyset(node: Junction) -> bool:
    """`(Modified_Time > t) or (Modified_Time = t and id > x)`, or its descending mirror, for one t."""
    for first, second in ((node.left, node.right), (node.right, node.left)):
        if not (isinstance(first, Check) and isinstance(second, Junction) and second.operator == "and"):
            continue
        for time_op, id_ops in ((">", (">", ">=")), ("<", ("<", "<="))):
            if not _is(first, MODIFIED, time_op):
                continue
            for pinned, ids in ((second.left, second.right), (second.right, second.left)):
                if _is(pinned, MODIFIED, "=") and _is(ids, "id", *id_ops) and pinned.values[0] == first.values[0]:
                    return True
    return False
