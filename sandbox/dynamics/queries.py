"""Collections of the Web API: `GET /dynamics/<env>/api/data/v9.2/<entity set>` with `$select`, `$filter`
(filter.py), `$orderby`, `$top` and `$count`, paged by `Prefer: odata.maxpagesize` (capped at dv_max_page_size;
dv_default_page_size without it) into `@odata.nextLink`s that carry a `$skiptoken` paging cookie shaped like
Dataverse's (`<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e..." istracking="False" />`).
`$skip` is refused, as Dataverse does. With `Prefer: odata.track-changes` or a `$deltatoken` the request is
change tracking's (tracking.py).

Pages follow the last row returned (keyset), so rows changed between pages are neither skipped nor repeated
because of their neighbours; the order is the `$orderby` keys with the primary id last (text ignoring case, empty
values first ascending). A paging cookie is bound to its query and works for dv_skiptoken_ttl_seconds after it
was issued (UNCONFIRMED lifetime; Dataverse's own cookies carry the last id and may live longer); a dead or
foreign one answers 400 naming the paging cookie, so a client starts its read again. `$count=true` counts up to
5,000 as Dataverse does (`@odata.count`, with `@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded` past it).

Each table's rows in an `$orderby`'s order are kept per environment while none of them changes (their count and
highest row version); a page walks that index from the cookie's key, or from the lower bound a keyset `$filter` puts
on the first ordered column, until it has a page: reading 100,000 rows costs one sort, not one per page."""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from sandbox.dynamics.calls import API_PREFIX, Problem, dv_endpoint, problem
from sandbox.dynamics.filter import QUERY_ERROR, QueryRefused, edm_type, matches, normalized
from sandbox.dynamics.filter import resolve_property as filter_property
from sandbox.dynamics.filter_plan import Compiled, compile_query
from sandbox.dynamics.shapes import parse_select, rows_text
from sandbox.kit.cursors import EXPIRED, Cursor, CursorBook

if TYPE_CHECKING:
    from sandbox.dynamics.calls import Call
    from sandbox.dynamics.state import Environment, Row, Table

COUNT_LIMIT = 5000
LINK_SAFE = "$,()'=:*/@"  # kept as they are in a next link's query options
SUPPORTED = frozenset({"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$deltatoken"})
INDEX_CACHE = 8  # queries whose sorted ids an environment keeps
COOKIE = re.compile(r'<cookie pagenumber="(\d+)"')
PAGING_COOKIE_DEAD = (
    "0x80040203",  # UNCONFIRMED: Dataverse's paging cookies carry the last id and do not expire like this
    "The paging cookie ($skiptoken) is not valid for this query or has expired. Start the query again.",
)


class Desc:
    """A sort key part ordered backwards ($orderby ... desc)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: Desc) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass
class Index:
    """A table's rows in an order: their sort keys and ids, valid while the table's signature is `version`."""

    version: tuple[int, int]
    keys: list[tuple]
    ids: list[str]


def refused(exc: QueryRefused) -> Problem:
    return problem(exc.status, exc.code, exc.message)


# --- query options -----------------------------------------------------------------------------------------------
def check_options(call: Call) -> None:
    for name in call.request.args:
        if name == "$skip":
            raise problem(400, QUERY_ERROR, "The query parameter $skip is not supported.")
        if name.startswith("$") and name not in SUPPORTED:
            raise problem(400, QUERY_ERROR, f"The query parameter {name} is not supported by the emulator.")


def parse_orderby(table: Table, text: str | None) -> list[tuple[Any, bool]]:
    """[(attribute, descending)], the primary id appended (ascending) when the $orderby does not end with it."""
    order: list[tuple[Any, bool]] = []
    for part in (piece.strip() for piece in (text or "").split(",")):
        if not part:
            continue
        words = part.split()
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise problem(400, QUERY_ERROR, f"Syntax error at position {len(words[0])} in '{part}'.")
        try:
            attribute = filter_property(table, words[0])
        except QueryRefused as exc:
            raise refused(exc) from None
        order.append((attribute, len(words) == 2 and words[1].lower() == "desc"))
    if not any(attribute.logical_name == table.primary_id for attribute, _ in order):
        order.append((table.attribute(table.primary_id), False))
    return order


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise problem(400, QUERY_ERROR, f"Invalid value '{text}' for $top query option found.")
    return int(text)


def page_size(call: Call) -> tuple[int, str | None]:
    """The page size and the Preference-Applied value for it (None when the client asked nothing)."""
    config = call.sandbox.config
    asked = call.prefer.get("odata.maxpagesize")
    if asked is None or not asked.strip().isdigit() or int(asked) <= 0:
        return int(config.dv_default_page_size), None
    size = min(int(asked), int(config.dv_max_page_size))
    return size, f"odata.maxpagesize={size}"


def preference_applied(call: Call, *applied: str | None) -> str:
    found = [value for value in applied if value]
    annotations = call.prefer.get("odata.include-annotations")
    if annotations:
        found.append(f'odata.include-annotations="{annotations}"')
    return ",".join(found)


# --- ordering ----------------------------------------------------------------------------------------------------
def sort_key(row: Row, order: list[tuple[Any, bool]]) -> tuple:
    return sort_keyer(order)(row)


def sort_keyer(order: list[tuple[Any, bool]]) -> Any:
    """sort_key for many rows: each ordered column's type found once, not per row."""
    columns = [(attribute.logical_name, edm_type(attribute), descending) for attribute, descending in order]

    def key(row: Row) -> tuple:
        parts: list[Any] = []
        for column, edm, descending in columns:
            value = normalized(edm, row.get(column))
            part = (0, "") if value is None else (1, value)
            parts.append(Desc(part) if descending else part)
        return tuple(parts)

    return key


def table_signature(table: Table) -> tuple[int, int]:
    """Changes when any row of the table does (its count, its highest row version), not when other tables do."""
    return len(table.rows), max((row.get("versionnumber") or 0 for row in table.rows.values()), default=0)


def ordered(call: Call, table: Table, order: list[tuple[Any, bool]], orderby_text: str) -> Index:
    """Every row of the table in the query's order (cached per environment until a row changes)."""
    environment = call.environment
    cache: OrderedDict = environment.extra.setdefault("query_index", OrderedDict())
    key = (table.logical_name, orderby_text)
    with environment.lock:
        version = table_signature(table)
        found = cache.get(key)
        if found is not None and found.version == version:
            cache.move_to_end(key)
            return found
        key_of = sort_keyer(order)
        pairs = sorted(((key_of(row), row_id) for row_id, row in table.rows.items()), key=lambda pair: pair[0])
        index = Index(version, [pair[0] for pair in pairs], [pair[1] for pair in pairs])
        cache[key] = index
        while len(cache) > INDEX_CACHE:
            cache.popitem(last=False)
        return index


def compiled_filter(call: Call, table: Table, text: str) -> Compiled | None:
    if not text:
        return None
    try:
        return compile_query(text, table, now=call.sandbox.clock.now())
    except QueryRefused as exc:
        raise refused(exc) from None


@dataclass
class Page:
    rows: list[Row]
    keys: list[tuple]  # each row's sort key (the last one is where the next page starts)
    more: bool


def page_of(
    call: Call, table: Table, order: list[tuple[Any, bool]], orderby_text: str, found: Compiled | None, *,
    after: tuple | None, limit: int,
) -> Page:  # fmt: skip
    """Up to `limit` matching rows after the sort key `after`, and whether more follow. Rows pinned by id are
    sorted alone; otherwise the table's ordered index is walked from `after` (or from the filter's lower bound on
    the first $orderby column), so a keyset page reads about a page of rows, not the table."""
    predicate = found.predicate if found else None
    candidates = found.candidates if found else None
    if candidates is not None:
        rows = [row for row_id in candidates if (row := table.rows.get(row_id)) is not None]
        key_of = sort_keyer(order)
        pairs = sorted(
            ((key_of(row), row) for row in rows if predicate is None or matches(predicate, row)),
            key=lambda pair: pair[0],
        )
        if after is not None:
            pairs = [pair for pair in pairs if pair[0] > after]
        chosen = pairs[:limit]
        return Page([row for _, row in chosen], [key for key, _ in chosen], len(pairs) > limit)
    index = ordered(call, table, order, orderby_text)
    start = bisect.bisect_right(index.keys, after) if after is not None else 0
    first, descending = order[0]
    bound = found.lower_bound(first) if found and not descending else None
    if bound is not None:
        start = max(start, bisect.bisect_left(index.keys, ((1, bound),)))
    rows, keys = [], []
    for position in range(start, len(index.ids)):
        row = table.rows.get(index.ids[position])
        if row is None or (predicate is not None and not matches(predicate, row)):
            continue
        if len(rows) == limit:
            return Page(rows, keys, True)
        rows.append(row)
        keys.append(index.keys[position])
    return Page(rows, keys, False)


def count_of(table: Table, found: Compiled | None) -> int:
    if found is None:
        return len(table.rows)
    return sum(1 for row in table.rows.values() if matches(found.predicate, row))


# --- paging cookies ----------------------------------------------------------------------------------------------
def binding_of(call: Call, table: Table) -> tuple:
    """What a paging cookie is bound to: the environment, the table and every query option but $skiptoken."""
    options = sorted((name, value) for name, value in call.request.args.items(multi=True) if name != "$skiptoken")
    return (call.environment.name, table.entity_set_name, *options)


def _book(environment: Environment) -> CursorBook:
    with environment.lock:
        return environment.extra.setdefault("paging_cookies", CursorBook())


def _digest(binding: tuple) -> str:
    return hashlib.sha1(repr(binding).encode(), usedforsecurity=False).hexdigest()[:16]


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda found: found.group(0).lower(), text)


def cookie_issue(
    call: Call, table: Table, binding: tuple, *, page: int, first_id: str, last_id: str, after: Any, tracking: bool
) -> str:
    """A paging cookie for the page after `page` (Dataverse's XML shape), remembered with where it continues."""
    inner = (
        f'<cookie page="{page}"><{table.primary_id} last="{{{last_id.upper()}}}" '
        f'first="{{{first_id.upper()}}}" /></cookie>'
    )
    cookie = (
        f'<cookie pagenumber="{page + 1}" pagingcookie="{_lower_hex(quote(inner, safe=""))}" '
        f'istracking="{"True" if tracking else "False"}" />'
    )
    now = call.sandbox.clock.timestamp()
    ttl = float(call.sandbox.config.dv_skiptoken_ttl_seconds)
    book = _book(call.environment)
    key = f"{_digest(binding)}|{cookie}"
    with call.environment.lock:
        if len(book) > book.keep:
            for token, cursor in list(book.items()):
                if cursor.expires_at <= now:
                    del book[token]
        book[key] = Cursor(key, table.logical_name, binding, page, after, now + ttl)
    return cookie


def cookie_resume(call: Call, table: Table, binding: tuple, skiptoken: str) -> Cursor:
    """The cursor a `$skiptoken` continues, or a Problem (400) when it is unknown, foreign or expired."""
    key = f"{_digest(binding)}|{skiptoken}"
    found = _book(call.environment).check(key, binding=binding, now=call.sandbox.clock.timestamp())
    if isinstance(found, str):
        message = PAGING_COOKIE_DEAD[1]
        if found == EXPIRED:
            message = "The paging cookie ($skiptoken) has expired. Start the query again."
        raise problem(400, PAGING_COOKIE_DEAD[0], message)
    return found


def link(call: Call, table: Table, **replace: str | None) -> str:
    """This request's URL on the environment's Web API with some query options replaced (None removes one)."""
    pairs = [(name, value) for name, value in call.request.args.items(multi=True) if name not in replace]
    pairs += [(name, value) for name, value in replace.items() if value is not None]
    query = "&".join(f"{name}={quote(value, safe=LINK_SAFE)}" for name, value in pairs)
    return f"{call.api_url}{table.entity_set_name}" + (f"?{query}" if query else "")


def select_context(table: Table, select_text: str | None) -> str:
    names = [name.strip() for name in (select_text or "").split(",") if name.strip()]
    return f"{table.entity_set_name}({','.join(names)})" if names else table.entity_set_name


# --- the handler -------------------------------------------------------------------------------------------------
def table_of(call: Call, entity_set: str) -> Table:
    table = call.environment.table_of_set(entity_set)
    if table is None:
        raise problem(404, QUERY_ERROR, f"Resource not found for the segment '{entity_set}'.")
    return table


@dv_endpoint
def collection(call: Call, entity_set: str) -> Response:
    table = table_of(call, entity_set)
    check_options(call)
    args = call.request.args
    tracking_cookie = 'istracking="True"' in args.get("$skiptoken", "")  # a tracked read's page, Prefer or not
    if "$deltatoken" in args or "odata.track-changes" in call.prefer or tracking_cookie:
        from sandbox.dynamics import tracking

        return tracking.tracked_read(call, table)
    select = parse_select(table, args.get("$select"))
    orderby_text = (args.get("$orderby") or "").strip()
    order = parse_orderby(table, orderby_text)
    found = compiled_filter(call, table, (args.get("$filter") or "").strip())
    top = parse_top(args.get("$top"))
    size, size_applied = page_size(call)
    binding = binding_of(call, table)
    after, page = None, 1
    skiptoken = args.get("$skiptoken")
    if skiptoken:
        cursor = cookie_resume(call, table, binding, skiptoken)
        after, page = cursor.after, cursor.offset + 1
    with call.environment.lock:
        chosen = page_of(call, table, order, orderby_text, found, after=after, limit=top if top is not None else size)
        body: dict[str, Any] = {
            "@odata.context": f"{call.api_url}$metadata#{select_context(table, args.get('$select'))}"
        }
        if args.get("$count", "").lower() == "true":
            total = count_of(table, found)
            body["@odata.count"] = min(total, COUNT_LIMIT)
            if total > COUNT_LIMIT:
                body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = True
        body["value"] = rows_json(call, table, chosen.rows, select)
    call.rows = len(chosen.rows)  # type: ignore[attr-defined]  # limits.py: execution time by rows
    if top is None and chosen.more and chosen.rows:
        cookie = cookie_issue(
            call,
            table,
            binding,
            page=page,
            first_id=chosen.rows[0][table.primary_id],
            last_id=chosen.rows[-1][table.primary_id],
            after=chosen.keys[-1],
            tracking=False,
        )
        body["@odata.nextLink"] = link(call, table, **{"$skiptoken": cookie})
    return answer(call, body, size_applied)


class RowsText(list):
    """A page's rows as JSON texts (shapes.Shaper.text): `answer` splices them in as the body's "value"."""


def rows_json(call: Call, table: Table, rows: list[Row], select: list[str] | None) -> RowsText:
    return RowsText(rows_text(call.environment, table, rows, select=select, annotations=call.annotations))


def body_text(body: dict[str, Any]) -> str:
    """The body as compact JSON, its "value" spliced in as it was written when it is RowsText (the same text
    json.dumps gives for the rows' dicts, in the body's key order)."""
    # The body is fresh dicts and lists: no cycle to look for.
    options = {"separators": (",", ":"), "ensure_ascii": False, "check_circular": False}
    rows = body.get("value")
    if not isinstance(rows, RowsText):
        return json.dumps(body, **options)
    parts = []
    for name, value in body.items():
        shown = f"[{','.join(rows)}]" if name == "value" else json.dumps(value, **options)
        parts.append(f"{json.dumps(name, **options)}:{shown}")
    return "{" + ",".join(parts) + "}"


def answer(call: Call, body: dict[str, Any], *applied: str | None) -> Response:
    # Compact UTF-8 JSON as Dataverse sends it (and a quarter faster to encode than ASCII escapes: pages are large).
    text = body_text(body)
    response = Response(text, status=200, content_type="application/json; odata.metadata=minimal")
    header = preference_applied(call, *applied)
    if header:
        response.headers["Preference-Applied"] = header
    return response


ROUTES = [(f"{API_PREFIX}/<entity_set>", ["GET"], collection)]
