"""CRM search: `POST /crm/v3/objects/{type}/search` and `/crm/objects/{YYYY-MM}/{type}/search`.

The body (HubSpot's search guide, docs/vendors/hubspot.md; checked in search_filters.py): `filterGroups` (OR of
groups, each an AND of `filters`), `sorts` (`"name"`, `"-name"` or `{propertyName, direction}`), `query` (free text
on the default searchable properties), `properties`, `limit`, `after` (an offset, answered as
`paging.next.after`). The answer: `{total, results, paging?}`, results shaped as list and read show records.

Rules the emulator keeps (knobs in sandbox/config.py):
- `limit` up to `hs_search_page_max` (200); `after` at or past `hs_search_max_results` (10,000) is a 400
  VALIDATION_ERROR, while `total` still counts every match and `paging.next` still points past the cap (the trap a
  client that follows `paging` falls into);
- at most `hs_search_filter_groups_max` groups, `hs_search_filters_per_group_max` filters in one group,
  `hs_search_filters_max` in all (5, 10 and 25 since 2024-08-26) and `hs_search_sorts_max` sorts;
- `hs_search_requests_per_second` per portal (HubSpot: five per second per account), refused with its own 429
  body (category RATE_LIMITS, no policyName); search answers never carry `X-HubSpot-RateLimit-*` headers;
- a write shows in search `hs_search_index_lag_seconds` after it was made (sandbox clock): a record modified less
  than that long ago is not found at all (UNCONFIRMED: HubSpot may show its former values meanwhile); archived
  records never show (they leave the store).
UNCONFIRMED: the order without sorts (object id ascending here), where records without a value sort (last, either
direction), how ties on a sort property are ordered (by object id: ascending, but descending when sorted by the
modified time descending, as the index is read backwards; the same query always pages in the same order).

Speed: a filter group that bounds the modified-time property reads a slice of the store's sorted (modified, id)
index, narrowed by `hs_object_id` bounds when the time is one moment (the tie bucket of a 12,000-record batch);
sorted by that time (or, in a bucket, by id) with nothing else to test, a page costs its own length, not the
store's, and `total` is the slice's length. Without such bounds, a request sorted by id (or not sorted) or by the
modified time filters the matching index in order; only other sorts sort their matches.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from werkzeug.wrappers import Response

from sandbox.hubspot.calls import Call, both_families, hs_endpoint, hs_error, unknown_object_type
from sandbox.hubspot.catalog import resolve
from sandbox.hubspot.search_filters import (
    ID_PROPERTY,
    SECONDLY_MESSAGE,
    Condition,
    SearchRefused,
    SearchRequest,
    ValueOf,
    normalized,
    parse_request,
    tokens,
)
from sandbox.hubspot.shapes import record_json, shown_properties
from sandbox.kit.http import json_response


# --- running it ------------------------------------------------------------------------------------------------
class _Top:
    """Sorts after every id key: the probe for "past this moment"."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


class _Bottom:
    """Sorts before every id key: the probe for "from this moment on"."""

    def __lt__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return False


@dataclass
class Page:
    total: int
    records: list[dict[str, Any]]
    next_after: int | None


@dataclass
class _Slice:
    """A run of an index that holds every record the request can match, and the filters left to test (OR of ANDs)."""

    start: int
    stop: int
    groups: list[list[Condition]]
    point: bool  # one moment of the (modified, id) index: the slice is in id order too


_LOWER = {"GT": True, "GTE": False, "EQ": False, "BETWEEN": False}  # op -> strictly after
_UPPER = {"LT": True, "LTE": False, "EQ": False, "BETWEEN": False}  # op -> strictly before


def _bounds(keys: list[Any], group: list[Condition], modified: str, id_key: Callable[[str], Any]) -> _Slice | None:
    """Where in the index a group's records lie, when its filters bound the modified time (else None)."""
    on_time = [
        item
        for item in group
        if item.name == modified and item.kind == "datetime" and (item.operator in _LOWER or item.operator in _UPPER)
    ]
    if not on_time:
        return None
    start, stop = 0, len(keys)
    low_moment: float | None = None
    high_moment: float | None = None
    for item in on_time:
        if item.operator in _LOWER:
            moment = item.value / 1000
            probe = (moment, _Top()) if _LOWER[item.operator] else (moment, _Bottom())
            start = max(
                start, bisect.bisect_right(keys, probe) if _LOWER[item.operator] else bisect.bisect_left(keys, probe)
            )
            low_moment = moment if low_moment is None else max(low_moment, moment)
        if item.operator in _UPPER:
            moment = (item.high if item.operator == "BETWEEN" else item.value) / 1000
            probe = (moment, _Bottom()) if _UPPER[item.operator] else (moment, _Top())
            stop = min(
                stop, bisect.bisect_left(keys, probe) if _UPPER[item.operator] else bisect.bisect_right(keys, probe)
            )
            high_moment = moment if high_moment is None else min(high_moment, moment)
    residual = [item for item in group if item not in on_time]
    point = low_moment is not None and low_moment == high_moment
    if point and low_moment is not None:
        for item in [
            item for item in residual if item.name == ID_PROPERTY and item.operator in ("GT", "GTE", "LT", "LTE", "EQ")
        ]:
            ident = id_key(str(int(item.value))) if float(item.value).is_integer() else None
            if ident is None:
                continue
            if item.operator in ("GT", "GTE", "EQ"):
                probe_low = (low_moment, ident)
                start = max(
                    start,
                    bisect.bisect_right(keys, probe_low)
                    if item.operator == "GT"
                    else bisect.bisect_left(keys, probe_low),
                )
            if item.operator in ("LT", "LTE", "EQ"):
                probe_high = (low_moment, ident)
                stop = min(
                    stop,
                    bisect.bisect_left(keys, probe_high)
                    if item.operator == "LT"
                    else bisect.bisect_right(keys, probe_high),
                )
            residual.remove(item)
    return _Slice(start, max(start, stop), [residual] if residual else [], point)


def _sort_key(kind: str, value_of: ValueOf, name: str) -> Callable[[dict[str, Any]], Any]:
    def key(record: dict[str, Any]) -> Any:
        return normalized(kind, value_of(record, name))

    return key


def _ordered(records: list[dict[str, Any]], request: SearchRequest, value_of: ValueOf, id_key: Callable) -> list:
    """Records in the request's order: by object id without sorts; ties by id; records without a value last."""
    records.sort(key=lambda record: id_key(record["id"]))
    sort = request.sort
    if sort is None or sort.name == ID_PROPERTY:
        if sort is not None and sort.descending:
            records.reverse()
        return records
    key = _sort_key(sort.kind, value_of, sort.name)
    valued = [(key(record), record) for record in records]
    present = [pair for pair in valued if pair[0] is not None]
    present.sort(key=lambda pair: pair[0], reverse=sort.descending)  # stable: ties stay in id order
    return [record for _, record in present] + [record for value, record in valued if value is None]


@dataclass
class Target:
    """What one search runs over: a kit RecordStore of one object type and how to read its records."""

    store: Any
    modified_property: str
    value_of: ValueOf
    hidden: Callable[[dict[str, Any]], bool] | None = None  # not (yet) in the search index
    text_match: Callable[[dict[str, Any], str], bool] | None = None  # the free-text `query`


def _index_ordered(request: SearchRequest, modified: str, point: bool) -> int:
    """1 / -1 when the (modified, id) index order is the request's order (ascending / descending), else 0."""
    sort = request.sort
    if sort is None:
        return 1 if point else 0
    if sort.name == modified:
        return -1 if sort.descending else 1
    if sort.name == ID_PROPERTY and point:
        return -1 if sort.descending else 1
    return 0


def run(request: SearchRequest, target: Target) -> Page:
    """Every match counted, one page returned, never a result past the cap (takes the store's lock itself)."""
    if request.after + request.limit > request.cap:
        request = replace(request, limit=max(0, request.cap - request.after))
    store = target.store
    with store.lock:
        group = request.groups[0] if len(request.groups) == 1 else None
        if group is not None:
            sliced = _bounds(store.modified_index, group, target.modified_property, store.id_key)
            if sliced is not None:
                return _run_slice(request, target, store.modified_index, sliced)
        sort = request.sort.name if request.sort is not None else None
        if sort in (None, ID_PROPERTY):  # the id index is in that order: filter it, never sort
            by_id = _id_bounds(store.id_index, group, store.id_key) if group is not None else None
            return _run_ids(request, target, by_id or _Slice(0, len(store.id_index), request.groups, True))
        if sort == target.modified_property:  # likewise the (modified, id) index
            everything = _Slice(0, len(store.modified_index), request.groups, False)
            return _run_slice(request, target, store.modified_index, everything)
        return _run_scan(request, target, list(store.records.values()), _accept(target, request, request.groups))


_ID_OPERATORS = ("GT", "GTE", "LT", "LTE", "EQ")


def _id_bounds(keys: list[Any], group: list[Condition], id_key: Callable[[str], Any]) -> _Slice | None:
    """The run of the id index a group's records lie in (every record when it has no filters): for listing by id
    and for `hs_object_id` ranges; None when the group bounds nothing by id and filters something else."""
    on_id = [item for item in group if item.name == ID_PROPERTY and item.operator in _ID_OPERATORS]
    if group and not on_id:
        return None
    start, stop = 0, len(keys)
    for item in on_id:
        if not float(item.value).is_integer():
            return None
        ident = id_key(str(int(item.value)))
        if item.operator in ("GT", "GTE", "EQ"):
            start = max(
                start, bisect.bisect_right(keys, ident) if item.operator == "GT" else bisect.bisect_left(keys, ident)
            )
        if item.operator in ("LT", "LTE", "EQ"):
            stop = min(
                stop, bisect.bisect_left(keys, ident) if item.operator == "LT" else bisect.bisect_right(keys, ident)
            )
    remaining = [item for item in group if item not in on_id]
    return _Slice(start, max(start, stop), [remaining] if remaining else [], True)


def _run_ids(request: SearchRequest, target: Target, sliced: _Slice) -> Page:
    keys, records = target.store.id_index, target.store.records
    descending = request.sort is not None and request.sort.descending
    if not sliced.groups and not request.query and target.hidden is None:
        total = sliced.stop - sliced.start
        if descending:
            top = sliced.stop - request.after
            chosen = keys[max(sliced.start, top - request.limit) : max(sliced.start, top)][::-1]
        else:
            chosen = keys[sliced.start + request.after : min(sliced.stop, sliced.start + request.after + request.limit)]
        return _page(total, [records[str(key)] for key in chosen], request)
    accept = _accept(target, request, sliced.groups)
    matched = [record for record in (records[str(key)] for key in keys[sliced.start : sliced.stop]) if accept(record)]
    if descending:
        matched.reverse()
    return _page(len(matched), matched[request.after : request.after + request.limit], request)


def _accept(target: Target, request: SearchRequest, groups: list[list[Condition]]) -> Callable[[dict[str, Any]], bool]:
    value_of, hidden, text_match, query = target.value_of, target.hidden, target.text_match, request.query

    def accept(record: dict[str, Any]) -> bool:
        if hidden is not None and hidden(record):
            return False
        if query and text_match is not None and not text_match(record, query):
            return False
        return not groups or any(all(item.test(value_of(record, item.name)) for item in group) for group in groups)

    return accept


def _run_slice(request: SearchRequest, target: Target, keys: list[Any], sliced: _Slice) -> Page:
    records = target.store.records
    direction = _index_ordered(request, target.modified_property, sliced.point)
    plain = not sliced.groups and not request.query and target.hidden is None
    if direction and plain:
        total = sliced.stop - sliced.start
        if direction > 0:
            chosen = keys[sliced.start + request.after : min(sliced.stop, sliced.start + request.after + request.limit)]
        else:
            top = sliced.stop - request.after
            chosen = keys[max(sliced.start, top - request.limit) : max(sliced.start, top)][::-1]
        page = [records[str(key[1])] for key in chosen]
        return _page(total, page, request)
    accept = _accept(target, request, sliced.groups)
    run_of = (records[str(key[1])] for key in keys[sliced.start : sliced.stop])
    if direction:
        matched = [record for record in run_of if accept(record)]
        if direction < 0:
            matched.reverse()
        return _page(len(matched), matched[request.after : request.after + request.limit], request)
    return _run_scan(request, target, list(run_of), accept)


def _run_scan(
    request: SearchRequest, target: Target, candidates: list[dict[str, Any]], accept: Callable[[dict[str, Any]], bool]
) -> Page:
    """Any other order: every candidate tested, the matches sorted."""
    matched = _ordered(
        [record for record in candidates if accept(record)], request, target.value_of, target.store.id_key
    )
    return _page(len(matched), matched[request.after : request.after + request.limit], request)


def _page(total: int, page: list[dict[str, Any]], request: SearchRequest) -> Page:
    shown = request.after + len(page)
    return Page(total, page, shown if shown < total and page else None)


# --- the endpoint ----------------------------------------------------------------------------------------------
# The default searchable properties the free-text `query` looks in (HubSpot's search guide).
QUERY_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email", "phone", "mobilephone", "hs_additional_emails", "fax", "company"),
    "companies": ("name", "domain", "website", "phone"),
    "deals": ("dealname", "pipeline", "dealstage", "description", "dealtype"),
    "tasks": ("hs_task_subject", "hs_task_body"),
    "notes": ("hs_note_body",),
    "communications": ("hs_communication_body",),
}


def _properties_of(record: dict[str, Any], name: str) -> str | None:
    return record["properties"].get(name)


def _text_match(object_type: str) -> Callable[[dict[str, Any], str], bool]:
    names = QUERY_PROPERTIES.get(object_type, ())

    def match(record: dict[str, Any], query: str) -> bool:
        words = [word for word in query.casefold().split() if word]
        found: set[str] = set()
        for name in names:
            value = record["properties"].get(name)
            if value:
                found |= tokens(value)
        return all(any(token.startswith(word) for token in found) for word in words)

    return match


def _type_of(portal: Any, object_type: str) -> Callable[[str], str]:
    definitions = portal.properties[object_type]

    def type_of(name: str) -> str:
        meta = definitions.get(name)
        return str(meta.get("type") or "string") if meta else "string"

    return type_of


def _read_scopes(object_type: str, **_: Any) -> tuple[str, ...]:
    kind = resolve(object_type)
    return kind.read_scopes() if kind is not None else ()


def secondly_limited() -> Response:
    """Search's own 429: category RATE_LIMITS and no policyName (unlike the 10-second and daily ones)."""
    return hs_error(429, "RATE_LIMITS", SECONDLY_MESSAGE)


@hs_endpoint(scopes=_read_scopes, search=True)
def search_objects(call: Call, object_type: str) -> Response:
    kind = resolve(object_type)
    if kind is None:
        return unknown_object_type(object_type)
    portal, config = call.portal, call.config
    if not portal.search_window.take(1, limit=lambda: config.hs_search_requests_per_second):
        call.sandbox.counters[f"hubspot.search_limited:{portal.portal_id}"] += 1
        return secondly_limited()
    try:
        request = parse_request(call.body(), config, _type_of(portal, kind.name))
    except SearchRefused as refused:
        return hs_error(refused.status, refused.category, refused.message)
    lag = float(config.hs_search_index_lag_seconds or 0)
    if lag > 0:  # what was written in the last `lag` seconds is not in the index yet
        indexed = Condition(
            kind.modified_property, "LTE", "datetime", value=(call.sandbox.clock.timestamp() - lag) * 1000
        )
        request.groups = [[*group, indexed] for group in request.groups] or [[indexed]]
    target = Target(portal.stores[kind.name], kind.modified_property, _properties_of, text_match=_text_match(kind.name))
    page = run(request, target)
    names = shown_properties(portal, kind, request.properties)
    if request.properties:  # search always shows these besides the asked ones
        names = list(dict.fromkeys([*names, ID_PROPERTY, kind.created_property, kind.modified_property]))
    body: dict[str, Any] = {
        "total": page.total,
        "results": [record_json(portal, kind, record, names) for record in page.records],
    }
    if page.next_after is not None:
        body["paging"] = {"next": {"after": str(page.next_after)}}
    return json_response(body)


ROUTES = both_families("objects", "/<object_type>/search", ["POST"], search_objects)
