"""Change tracking (queries.py hands these requests over): `Prefer: odata.track-changes` on a collection GET, and
the GET of an `@odata.deltaLink`.

A first read with `Prefer: odata.track-changes` answers every row (the `$select`ed columns), paged like any
query; its `@odata.context` ends in `/$delta` and its last page carries
`@odata.deltaLink` = `<base>/<set>?$select=...&$deltatoken=<version>%21<MM%2fdd%2fyyyy%20HH%3amm%3ass>` (the
docs' shape: the environment's row version when the read began, and when). A GET of the delta link answers, in
version order, the rows created or changed since that version (their latest state; a back-dated `modifiedon` is
still a new version, so it is there) and the rows deleted since, as `{"@odata.context":
"<base>/$metadata#<set>/$deletedEntity", "id": "<guid>", "reason": "deleted"}`; more than a page of them pages
with next links, and the last page carries the next delta link. A change made while a read pages comes with the
next delta link (each read stops at the version it began with).

Refusals (400): a table without change tracking ("The entity doesn't have change tracking enabled.", code
0x80044351: UNCONFIRMED); `$filter`, `$orderby` or `$top` with change tracking (UNCONFIRMED wording); a token
older than dv_change_tracking_days on the sandbox clock, or below the environment's `token_floor_version` (the
control API expires every token at once): 0x80044352 "Version stamp associated with the client has expired.
Please perform a full sync." (ExpiredVersionStamp, as the SDK reports it); a token that is not one."""

from __future__ import annotations

import bisect
import json
import re
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from sandbox.dynamics.calls import problem
from sandbox.dynamics.filter import QUERY_ERROR
from sandbox.dynamics.queries import (
    RowsText,
    answer,
    binding_of,
    cookie_issue,
    cookie_resume,
    link,
    page_of,
    page_size,
    parse_orderby,
    rows_json,
    select_context,
)
from sandbox.dynamics.shapes import Shaper, parse_select

if TYPE_CHECKING:
    from sandbox.dynamics.calls import Call
    from sandbox.dynamics.state import Environment, Table

TRACKING_DISABLED = ("0x80044351", "The entity doesn't have change tracking enabled.")  # code UNCONFIRMED
TOKEN_EXPIRED = ("0x80044352", "Version stamp associated with the client has expired. Please perform a full sync.")
TOKEN_INVALID = ("0x80040203", "The delta token is not valid.")  # UNCONFIRMED wording
NOT_WITH_TRACKING = "The query options $filter, $orderby and $top cannot be used with change tracking."
TOKEN_SHAPE = re.compile(r"^(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})$")
TOKEN_TIME = "%m/%d/%Y %H:%M:%S"
CHANGES_CACHE = 4
COMPACT: dict[str, Any] = {"separators": (",", ":"), "ensure_ascii": False}


def delta_token(version: int, at: datetime) -> str:
    return f"{version}!{at.astimezone(UTC).strftime(TOKEN_TIME)}"


def _encode_token(token: str) -> str:
    """The docs' encoding of a token in a link: `919042%2108%2f22%2f2017%2008%3a10%3a44`."""
    return re.sub(r"%[0-9A-F]{2}", lambda found: found.group(0).lower(), quote(token, safe=""))


def token_check(call: Call, table: Table, token: str) -> tuple[int, datetime]:
    """The version and moment a delta token names, or the Problem Dataverse answers for it."""
    found = TOKEN_SHAPE.match(token.strip())
    if not found:
        raise problem(400, *TOKEN_INVALID)
    version = int(found.group(1))
    at = datetime.strptime(found.group(2), TOKEN_TIME).replace(tzinfo=UTC)
    environment = call.environment
    lifetime = timedelta(days=float(call.sandbox.config.dv_change_tracking_days))
    if version < environment.token_floor_version or call.sandbox.clock.now() - at > lifetime:
        raise problem(400, *TOKEN_EXPIRED)
    if version > environment.version:
        raise problem(400, *TOKEN_INVALID)
    return version, at


def delta_link(call: Call, table: Table, version: int, at: datetime) -> str:
    select = call.request.args.get("$select")
    query = f"$select={quote(select, safe='$,()_')}&" if select else ""
    return f"{call.api_url}{table.entity_set_name}?{query}$deltatoken={_encode_token(delta_token(version, at))}"


def tracked_read(call: Call, table: Table) -> Response:
    if not table.change_tracking:
        raise problem(400, *TRACKING_DISABLED)
    args = call.request.args
    if any(name in args for name in ("$filter", "$orderby", "$top")):
        raise problem(400, QUERY_ERROR, NOT_WITH_TRACKING)
    select = parse_select(table, args.get("$select"))
    if "$deltatoken" in args:
        return _changes(call, table, select)
    return _first_read(call, table, select)


def _context(call: Call, table: Table) -> str:
    return f"{call.api_url}$metadata#{select_context(table, call.request.args.get('$select'))}/$delta"


def _first_read(call: Call, table: Table, select: list[str] | None) -> Response:
    """Every row, paged in primary id order; the last page's delta link starts at the version the read began."""
    size, size_applied = page_size(call)
    order = parse_orderby(table, "")
    binding = binding_of(call, table)
    skiptoken = call.request.args.get("$skiptoken")
    with call.environment.lock:
        if skiptoken:
            cursor = cookie_resume(call, table, binding, skiptoken)
            after, page = cursor.after["key"], cursor.offset + 1
            began, began_at = cursor.after["version"], cursor.after["at"]
        else:
            after, page = None, 1
            began, began_at = call.environment.version, call.sandbox.clock.now().replace(microsecond=0)
        chosen = page_of(call, table, order, "", None, after=after, limit=size)
        body: dict[str, Any] = {"@odata.context": _context(call, table)}
        body["value"] = rows_json(call, table, chosen.rows, select)
    call.rows = len(chosen.rows)  # type: ignore[attr-defined]
    if chosen.more and chosen.rows:
        state = {"key": chosen.keys[-1], "version": began, "at": began_at}
        first_id, last_id = chosen.rows[0][table.primary_id], chosen.rows[-1][table.primary_id]
        cookie = cookie_issue(
            call, table, binding, page=page, first_id=first_id, last_id=last_id, after=state, tracking=True
        )
        body["@odata.nextLink"] = link(call, table, **{"$skiptoken": cookie})
    else:
        body["@odata.deltaLink"] = delta_link(call, table, began, began_at)
    return answer(call, body, "odata.track-changes", size_applied)


def _changes_since(environment: Environment, table: Table, since: int, upto: int) -> list[tuple[int, str, str]]:
    """(version, "row" | "deleted", id) of every change to `table` in (since, upto], oldest first (cached per
    window: a big delta pages through one list)."""
    cache: OrderedDict = environment.extra.setdefault("tracking_changes", OrderedDict())
    key = (table.logical_name, since, upto)
    with environment.lock:
        found = cache.get(key)
        if found is not None:
            return found
        changes = [
            (row["versionnumber"], "row", row_id)
            for row_id, row in table.rows.items()
            if since < (row.get("versionnumber") or 0) <= upto
        ]
        changes += [
            (stone.version, "deleted", stone.id)
            for stone in environment.tombstones
            if stone.table == table.logical_name and since < stone.version <= upto
        ]
        changes.sort()
        cache[key] = changes
        while len(cache) > CHANGES_CACHE:
            cache.popitem(last=False)
        return changes


def _changes(call: Call, table: Table, select: list[str] | None) -> Response:
    """The rows changed and deleted since the delta token's version, up to the version this read began at."""
    environment = call.environment
    since, _ = token_check(call, table, call.request.args["$deltatoken"])
    size, size_applied = page_size(call)
    binding = binding_of(call, table)
    skiptoken = call.request.args.get("$skiptoken")
    if skiptoken:
        cursor = cookie_resume(call, table, binding, skiptoken)
        upto, upto_at, after, page = cursor.after["upto"], cursor.after["at"], cursor.after["key"], cursor.offset + 1
    else:
        upto, upto_at, after, page = environment.version, call.sandbox.clock.now().replace(microsecond=0), since, 1
    changes = _changes_since(environment, table, since, upto)
    start = bisect.bisect_right(changes, (after, "~", ""))
    chunk = changes[start : start + size]
    deleted_context = f"{call.api_url}$metadata#{table.entity_set_name}/$deletedEntity"
    shape = Shaper(environment, table, select, call.annotations)
    values = RowsText()
    for version, kind, row_id in chunk:
        if kind == "deleted":
            values.append(json.dumps({"@odata.context": deleted_context, "id": row_id, "reason": "deleted"}, **COMPACT))
            continue
        row = table.rows.get(row_id)
        if row is None or row.get("versionnumber") != version:
            continue  # changed or deleted again after this read began: the next delta link has it
        values.append(shape.text(row))
    call.rows = len(values)  # type: ignore[attr-defined]
    body: dict[str, Any] = {"@odata.context": _context(call, table), "value": values}
    if chunk and start + len(chunk) < len(changes):
        after_state = {"key": chunk[-1][0], "upto": upto, "at": upto_at}
        first_id, last_id = chunk[0][2], chunk[-1][2]
        cookie = cookie_issue(
            call, table, binding, page=page, first_id=first_id, last_id=last_id, after=after_state, tracking=True
        )
        body["@odata.nextLink"] = link(call, table, **{"$skiptoken": cookie})
    else:
        body["@odata.deltaLink"] = delta_link(call, table, upto, upto_at)
    return answer(call, body, size_applied)
