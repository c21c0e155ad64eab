"""Running a compiled SOQL query against a `RecordStore`: the keyset analysis that lets a query ordered by
(SystemModstamp, Id) or Id read the store's sorted index from a start key instead of sorting every record, and
the runner (by id, by keyset, or test-and-sort)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.salesforce.soql_parse import BoolOp, Comparison, Expr, Query, Record, plain, record_id, to18

if TYPE_CHECKING:
    from sandbox.salesforce.soql_compile import Compiled, Entity, Getter, Test

# --- keyset analysis (for reading the (SystemModstamp, Id) index) --------------------------------------------

MODSTAMP = "SystemModstamp"


@dataclass(frozen=True)
class Keyset:
    """The query is ordered by (SystemModstamp[, Id]) ascending or by Id ascending, and every match lies at or
    after `start` in that order: the runner reads the store's index from there instead of sorting everything.
    `after` = (epoch, id text): start strictly past it; `inclusive_from` = epoch: from that moment on."""

    order: str  # "modified" | "id"
    after: tuple[float, str] | None = None
    until: float | None = None  # (modified order) no match has SystemModstamp beyond this epoch
    id_after: str | None = None  # (id order) start strictly past this id
    id_from: str | None = None  # (id order) start at this id


def keyset_of(query: Query, entity: Entity, names: list[str], flags: list[tuple[bool, bool]]) -> Keyset | None:
    if any(descending for descending, _ in flags):
        return None
    if names in ([MODSTAMP], [MODSTAMP, "Id"]):
        low, until = _modstamp_bounds(query.where)
        return Keyset("modified", after=low, until=until)
    if not names:
        # No order asked for (Salesforce promises none): a SystemModstamp bound reads that index from the bound.
        low, until = _modstamp_bounds(query.where)
        if low is not None:
            return Keyset("modified", after=low, until=until)
    if names == ["Id"]:
        after, start = _id_bounds(query.where)
        return Keyset("id", id_after=after, id_from=start)
    return None


_BOTTOM, _TOP = "", "~"  # id texts sort between these (ids are letters and digits)


def _is(node: Expr | None, name: str, *operators: str) -> bool:
    return (
        isinstance(node, Comparison)
        and len(node.path.parts) == 1
        and node.path.parts[0].lower() == name.lower()
        and node.operator in operators
        and node.values[0].kind in ("datetime", "string")
    )


def _modstamp_bounds(node: Expr | None) -> tuple[tuple[float, str] | None, float | None]:
    """(start key: every match is strictly after it, latest epoch a match can have); either may be None.
    Recognizes `SystemModstamp >/>= t`, `SystemModstamp </<= u`, the keyset `SystemModstamp > t OR
    (SystemModstamp = t AND Id > 'x')` and ANDs of those; anything else adds no bound (the predicate still
    decides every row read)."""
    if node is None:
        return None, None
    if isinstance(node, Comparison):
        if _is(node, MODSTAMP, ">", ">=", "<", "<=", "=") and node.values[0].kind == "datetime":
            moment = node.values[0].value.timestamp()
            if node.operator == ">":
                return (moment, _TOP), None
            if node.operator == ">=":
                return (moment, _BOTTOM), None
            if node.operator == "=":
                return (moment, _BOTTOM), moment
            return None, moment
        return None, None
    if isinstance(node, BoolOp) and node.operator == "and":
        low: tuple[float, str] | None = None
        until: float | None = None
        pinned = None
        id_low = None
        for item in node.items:
            item_low, item_until = _modstamp_bounds(item)
            if item_low is not None and (low is None or item_low > low):
                low = item_low
            if item_until is not None and (until is None or item_until < until):
                until = item_until
            if _is(item, MODSTAMP, "=") and item.values[0].kind == "datetime":
                pinned = item.values[0].value.timestamp()
            if _is(item, "Id", ">", ">=") and item.values[0].kind == "string":
                value = to18(plain(item.values[0].value))
                # Id >= x starts at x: the probe sorts just before it
                id_low = value if item.operator == ">" else value[:-1] + chr(ord(value[-1]) - 1) + _TOP
        if pinned is not None and id_low is not None:
            candidate = (pinned, id_low)
            if low is None or candidate > low:
                low = candidate
        return low, until
    if isinstance(node, BoolOp) and node.operator == "or":
        lows = [_modstamp_bounds(item) for item in node.items]
        if any(item_low is None for item_low, _ in lows):
            return None, None
        low = min(item_low for item_low, _ in lows)  # type: ignore[type-var]
        untils = [item_until for _, item_until in lows]
        until = None if any(value is None for value in untils) else max(untils)  # type: ignore[type-var]
        return low, until
    return None, None


def _id_bounds(node: Expr | None) -> tuple[str | None, str | None]:
    """(start strictly after this id, or start at this id) from `Id > x` / `Id >= x` at the top or in an AND."""
    items: tuple[Expr, ...] = ()
    if isinstance(node, Comparison):
        items = (node,)
    elif isinstance(node, BoolOp) and node.operator == "and":
        items = node.items
    after = start = None
    for item in items:
        if _is(item, "Id", ">") and item.values[0].kind == "string":
            after = max(after or "", to18(plain(item.values[0].value)))
        if _is(item, "Id", ">=") and item.values[0].kind == "string":
            start = max(start or "", to18(plain(item.values[0].value)))
    return after, start


def id_members_of(node: Expr | None) -> frozenset[str] | None:
    """The ids a WHERE limits its rows to (`Id IN (...)` or `Id = 'x'`, alone or in an AND), or None."""
    items: tuple[Expr, ...] = ()
    if isinstance(node, Comparison):
        items = (node,)
    elif isinstance(node, BoolOp) and node.operator == "and":
        items = node.items
    members: frozenset[str] | None = None
    for item in items:
        if (
            isinstance(item, Comparison)
            and len(item.path.parts) == 1
            and item.path.parts[0].lower() == "id"
            and item.operator in ("=", "in")
            and all(value.kind == "string" for value in item.values)
        ):
            found = frozenset(to18(plain(value.value)) for value in item.values)
            members = found if members is None else members & found
    return members


# --- running -------------------------------------------------------------------------------------------------


class Source(Protocol):
    """What the runner reads: a kit RecordStore (records, lock, walk(order, after=key), id_index)."""

    records: dict[str, Record]

    def walk(self, order: str, *, descending: bool = False, after: Any = None) -> Iterator[tuple[Any, Record]]: ...


def run(
    compiled: Compiled,
    source: Source,
    *,
    visible: Callable[[Record], bool] | None = None,
    extra: Iterable[Record] = (),
) -> list[Record]:
    """The records the query matches, in its order, after OFFSET and within LIMIT (all of them for COUNT()
    without LIMIT). `visible` hides rows (the deleted ones for query, none for queryAll); `extra` adds rows
    the store does not hold (deleted ones kept apart), which forces the sorting path. Hold the store's lock."""
    test = compiled.test
    extra = list(extra)
    if compiled.id_members is not None and not extra:
        # A few named rows: read them by id instead of testing every record.
        found = (source.records.get(record_id) for record_id in compiled.id_members)
        candidates_by_id = [record for record in found if record is not None]
        matches = [
            record
            for record in candidates_by_id
            if (visible is None or visible(record)) and (test is None or test(record))
        ]
        _sort(matches, compiled)
        end = None if compiled.limit is None else compiled.offset + compiled.limit
        return matches[compiled.offset : end]
    if compiled.keyset is not None and not extra:
        rows = _run_keyset(compiled, source, test, visible)
        if rows is not None:
            return rows
    candidates: Iterable[Record] = [*source.records.values(), *extra]
    matches = [
        record for record in candidates if (visible is None or visible(record)) and (test is None or test(record))
    ]
    _sort(matches, compiled)
    end = None if compiled.limit is None else compiled.offset + compiled.limit
    return matches[compiled.offset : end]


def _run_keyset(
    compiled: Compiled, source: Source, test: Test | None, visible: Callable[[Record], bool] | None
) -> list[Record] | None:
    keyset = compiled.keyset
    if keyset is None:
        return None
    want = None if compiled.limit is None else compiled.offset + compiled.limit
    found: list[Record] = []
    if keyset.order == "modified":
        walker = source.walk("modified", after=keyset.after)
        until = keyset.until
        for key, record in walker:
            if until is not None and key[0] > until:
                break
            if (visible is None or visible(record)) and (test is None or test(record)):
                found.append(record)
                if want is not None and len(found) >= want:
                    break
    else:
        after = keyset.id_after
        if keyset.id_from is not None:
            start = keyset.id_from
            after = max(after or "", start[:-1] + chr(ord(start[-1]) - 1) + _TOP) if start else after
        walker = source.walk("id", after=(0.0, after) if after else None)
        for _key, record in walker:
            if (visible is None or visible(record)) and (test is None or test(record)):
                found.append(record)
                if want is not None and len(found) >= want:
                    break
    return found[compiled.offset :]


def _sort(records: list[Record], compiled: Compiled) -> None:
    """Stable sorts from the last key to the first; with no ORDER BY, Id order (Salesforce promises none; the
    emulator answers repeatably)."""
    records.sort(key=record_id)
    for get, descending, nulls_last in reversed(compiled.order):
        records.sort(key=_null_key(get, descending, nulls_last), reverse=descending)


def _null_key(get: Getter, descending: bool, nulls_last: bool) -> Callable[[Record], tuple[int, Any]]:
    # With reverse=descending, a rank of 0 comes first ascending and last descending.
    null_rank = (2 if nulls_last else 0) if not descending else (0 if nulls_last else 2)

    def key(record: Record) -> tuple[int, Any]:
        value = get(record)
        return (null_rank, 0) if value is None else (1, value)

    return key


def count_only(compiled: Compiled, source: Source, *, visible: Callable[[Record], bool] | None = None) -> int:
    return len(run(compiled, source, visible=visible))
