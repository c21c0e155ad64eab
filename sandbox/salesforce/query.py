"""SOQL over REST: `GET /services/data/vXX.X/query?q=` and `queryAll?q=`, and the batches after the first through
`nextRecordsUrl` (`query/<locator>-<offset>`).

What Salesforce does and the emulator does too (docs/vendors/salesforce.md, SOQL query and query locators):
- an answer is `{totalSize, done, nextRecordsUrl?, records}`; `totalSize` counts every match, `records` is one
  batch: `sf_query_batch_size` (2,000) by default, the `Sforce-Query-Options: batchSize=N` hint taken within
  200-2,000, and `sf_query_batch_size_long_text` (200) when two or more long text fields are selected;
- a locator holds the ids the query matched when it ran; each batch shows those records' current values;
- a locator belongs to the session that opened it: followed with another session's token, or once that session
  has ended (a refresh ends it), the answer is 401 INVALID_SESSION_ID, for good;
- a user holds at most `sf_open_cursors_per_user` (10) open locators: opening another evicts the oldest, which
  then answers 400 INVALID_QUERY_LOCATOR; so does a locator unused for `sf_locator_ttl_seconds`, an unknown one,
  and an offset outside the result;
- `query` hides rows in the Recycle Bin; `queryAll` shows them with `IsDeleted: true` (until purged).

Reads use the store's sorted indexes when the query is a keyset page on (SystemModstamp, Id) or on Id (soql.py),
so paging 100,000 records 2,000 at a time costs a bisection and 2,000 rows per page, not a sort of everything.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.cursors import EXPIRED, MISMATCH, UNKNOWN, Cursor, CursorBook
from sandbox.salesforce import ids, soql
from sandbox.salesforce.calls import sf_endpoint, sf_error
from sandbox.salesforce.state import is_live

if TYPE_CHECKING:
    from sandbox.salesforce.schema import SobjectSchema
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState

MIN_BATCH, MAX_BATCH = 200, 2000
_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_LOCATOR = re.compile(r"^([0-9A-Za-z]{15,18})-(\d+)$")


# --- the org as the SOQL compiler sees it --------------------------------------------------------------------
class OrgCatalog:
    """An org's describe metadata as SOQL entities (cached per schema) and its records by id."""

    def __init__(self, org: SfOrg) -> None:
        self.org = org

    def schema(self, sobject: str) -> SobjectSchema | None:
        found = self.org.schema.get(sobject)
        if found is not None:
            return found
        lowered = (sobject or "").lower()
        return next((schema for name, schema in self.org.schema.items() if name.lower() == lowered), None)

    def entity(self, sobject: str) -> soql.Entity | None:
        schema = self.schema(sobject)
        if schema is None:
            return None
        cached = schema.__dict__.get("_soql_entity")
        if cached is None or cached[0] is not schema.fields or cached[1] != len(schema.fields):
            entity = soql.Entity.from_describe({"name": schema.name, "fields": schema.fields})
            cached = (schema.fields, len(schema.fields), entity)
            schema.__dict__["_soql_entity"] = cached
        return cached[2]

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        store = self.org.store(sobject)
        normalized = ids.normalize(record_id)
        return store.get(normalized) if store is not None and normalized else None


def compile_for(org: SfOrg, text: str) -> soql.Compiled:
    """Parse and check a query against the org (SoqlError when Salesforce would refuse it)."""
    return soql.compile_query(soql.parse(text), OrgCatalog(org), now=org.now())


def matching_records(org: SfOrg, compiled: soql.Compiled, *, include_deleted: bool) -> list[dict[str, Any]]:
    """The records a compiled query selects, in its order (LIMIT and OFFSET applied)."""
    store = org.store(compiled.entity.name)
    if store is None:  # an sObject described but not stored: nothing to find
        return []
    with store.lock:
        return soql.run(compiled, store, visible=None if include_deleted else is_live)


# --- how rows are shown ----------------------------------------------------------------------------------------
class Projector:
    """Turns records into the REST API's JSON for the selected columns: `attributes` first, plain fields by their
    canonical names, relationship paths as nested objects (`"Owner": {"attributes": ..., "Name": ...}`, null
    when the lookup is empty), compound addresses as objects."""

    def __init__(self, org: SfOrg, compiled: soql.Compiled, version: str) -> None:
        self.org = org
        self.version = version
        self.sobject = compiled.entity.name
        self.catalog = OrgCatalog(org)
        self.names: list[str] = []  # plain columns in SELECT order, read with record.get
        self.booleans: list[str] = []  # ... of which booleans (never null)
        self.computed: list[tuple[str, Any]] = []  # ... and those a getter makes (compound fields)
        self.related: list[soql.Column] = []
        for column in compiled.columns:
            if column.relation:
                self.related.append(column)
                continue
            name = column.path[-1]
            self.names.append(name)
            kind = column.meta.get("type")
            if kind == "boolean":
                self.booleans.append(name)
            elif kind in soql.COMPOUND_TYPES:
                self.computed.append((name, column.get))
        self.prefix = f"/services/data/v{version}/sobjects/"

    def row(self, record: dict[str, Any]) -> dict[str, Any]:
        # One C-level pass over the plain columns, then the few fix-ups in place (the key order stays the
        # SELECT order): this is most of the time of a 2,000-row page of 100 fields.
        shown: dict[str, Any] = {
            "attributes": {"type": self.sobject, "url": f"{self.prefix}{self.sobject}/{record['Id']}"}
        }
        shown.update(zip(self.names, map(record.get, self.names), strict=True))
        for name in self.booleans:
            shown[name] = bool(shown[name])
        for name, get in self.computed:
            shown[name] = get(record)
        for column in self.related:
            self._nest(shown, record, column)
        return shown

    def _nest(self, shown: dict[str, Any], record: dict[str, Any], column: soql.Column) -> None:
        container, current = shown, record
        for depth, lookup in enumerate(column.relation):
            name = column.path[depth]
            if name in container and container[name] is None:
                return
            target_id = current.get(lookup["name"]) if current is not None else None
            target = None
            target_type = None
            if target_id:
                for candidate in lookup.get("referenceTo") or ():
                    target = self.catalog.record(candidate, target_id)
                    if target is not None:
                        target_type = candidate
                        break
            if target is None:
                container[name] = None
                return
            nested = container.get(name)
            if nested is None:
                nested = {"attributes": {"type": target_type, "url": f"{self.prefix}{target_type}/{target['Id']}"}}
                container[name] = nested
            container, current = nested, target
        leaf = column.meta
        value = current.get(leaf["name"])
        container[leaf["name"]] = bool(value) if leaf.get("type") == "boolean" else column_value(current, column)

    def rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.row(record) for record in records]


def column_value(record: dict[str, Any], column: soql.Column) -> Any:
    """A relationship column's leaf value read on the target record (the column's getter walks from the root)."""
    meta = column.meta
    if meta.get("type") in soql.COMPOUND_TYPES:
        prefix = meta["name"].removesuffix("Address")
        parts = {
            key: record.get(f"{prefix}{key[:1].upper()}{key[1:]}")
            for key in ("city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state", "street")
        }
        return parts if any(value is not None for value in parts.values()) else None
    return record.get(meta["name"])


def compact_json(body: Any, status: int = 200) -> Response:
    """JSON without spaces, as Salesforce sends it (a 2,000-row page is a megabyte: spaces cost time)."""
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


# --- locators ------------------------------------------------------------------------------------------------
@dataclass
class Locator:
    """What a query's server-side cursor holds (the `after` of its kit Cursor in `org.locators`): the ids it
    matched, how to show them, whose session and user it belongs to."""

    id: str
    session_id: str
    user_id: str
    sobject: str
    record_ids: list[str]
    projector: Projector
    batch_size: int
    include_deleted: bool
    opened: float


_BOOK_LOCK = threading.Lock()  # the books of every org: opening, evicting and closing are quick


def _binding(session: Session) -> tuple[str, ...]:
    return ("session", session.id)


def open_locator(
    sandbox: SandboxState,
    org: SfOrg,
    session: Session,
    *,
    record_ids: list[str],
    projector: Projector,
    batch_size: int,
    include_deleted: bool,
) -> Locator:
    """Keep the query's cursor in the org's CursorBook; the user's oldest open one goes when they hold the maximum
    already (following it then answers INVALID_QUERY_LOCATOR)."""
    now = sandbox.clock.timestamp()
    book: CursorBook = org.locators
    with _BOOK_LOCK:
        for token, cursor in list(book.items()):
            if cursor.expires_at <= now:
                book.pop(token, None)
        mine = sorted(
            (cursor for cursor in book.values() if cursor.after.user_id == session.user_id),
            key=lambda cursor: cursor.after.opened,
        )
        while len(mine) >= sandbox.config.sf_open_cursors_per_user:
            book.pop(mine.pop(0).token, None)
            sandbox.counters["salesforce.query_locator_evicted"] += 1
        locator = Locator(
            id=org.ids.new_for_prefix(ids.KEY_PREFIXES["QueryLocator"]),
            session_id=session.id,
            user_id=session.user_id,
            sobject=projector.sobject,
            record_ids=record_ids,
            projector=projector,
            batch_size=batch_size,
            include_deleted=include_deleted,
            opened=now,
        )
        ttl = sandbox.config.sf_locator_ttl_seconds
        book[locator.id] = Cursor(locator.id, locator.sobject, _binding(session), 0, locator, now + ttl)
    return locator


def invalid_locator() -> Response:
    return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")


def batch_size_for(sandbox: SandboxState, request: Request, compiled: soql.Compiled) -> int:
    size = int(sandbox.config.sf_query_batch_size)
    hint = _BATCH_OPTION.search(request.headers.get("Sforce-Query-Options", ""))
    if hint:
        size = min(max(int(hint.group(1)), MIN_BATCH), MAX_BATCH)
    if compiled.long_text_columns >= 2:
        size = min(size, int(sandbox.config.sf_query_batch_size_long_text))
    return max(1, size)


def _page(
    version: str, locator: Locator, offset: int, records: list[dict[str, Any]], total: int, *, deleted: bool
) -> dict[str, Any]:
    end = offset + len(records)
    body: dict[str, Any] = {"totalSize": total, "done": end >= total}
    if end < total:
        endpoint = "queryAll" if deleted else "query"
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator.id}-{end}"
    body["records"] = records
    return body


def _current(org: SfOrg, locator: Locator, record_ids: list[str]) -> list[dict[str, Any]]:
    """The locator's records as they are now (a record purged since the query ran is gone)."""
    store = org.store(locator.sobject)
    if store is None:
        return []
    with store.lock:
        found = [store.get(record_id) for record_id in record_ids]
        return locator.projector.rows([record for record in found if record is not None])


# --- endpoints -----------------------------------------------------------------------------------------------
def _run_query(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, version: str, *, include_deleted: bool
) -> Response:
    text = request.args.get("q")
    if text is None or not text.strip():
        return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        compiled = compile_for(org, text)
    except soql.SoqlError as error:
        return sf_error(error.status, error.code, error.message_for(text))
    matches = matching_records(org, compiled, include_deleted=include_deleted)
    sandbox.counters["salesforce.query_rows"] += len(matches)
    if compiled.is_count:
        return compact_json({"totalSize": len(matches), "done": True, "records": []})
    batch = batch_size_for(sandbox, request, compiled)
    projector = Projector(org, compiled, version)
    first = matches[:batch]
    records = projector.rows(first)
    total = len(matches)
    if total <= batch:
        return compact_json({"totalSize": total, "done": True, "records": records})
    locator = open_locator(
        sandbox,
        org,
        session,
        record_ids=[record["Id"] for record in matches],
        projector=projector,
        batch_size=batch,
        include_deleted=include_deleted,
    )
    return compact_json(_page(version, locator, 0, records, total, deleted=include_deleted))


@sf_endpoint()
def query(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    return _run_query(sandbox, request, org, session, version, include_deleted=False)


@sf_endpoint()
def query_all(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    return _run_query(sandbox, request, org, session, version, include_deleted=True)


@sf_endpoint()
def query_more(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, locator: str
) -> Response:
    """The batch at `<locator id>-<offset>`; a bare locator id continues at its start."""
    found = _LOCATOR.match(locator)
    locator_id, offset = (found.group(1), int(found.group(2))) if found else (locator, 0)
    book: CursorBook = org.locators
    token = ids.normalize(locator_id) or locator_id
    now = sandbox.clock.timestamp()
    with _BOOK_LOCK:
        checked = book.check(token, binding=_binding(session), now=now)
        if checked == UNKNOWN:  # never issued, evicted, closed after its last batch, or forgotten
            return invalid_locator()
        cursor = book[token]
        locator: Locator = cursor.after
        if checked == MISMATCH or not sandbox.salesforce.session_alive(org, locator.session_id):
            # The locator belongs to another session (a refresh ended the one that opened it): for good.
            sandbox.counters["salesforce.query_locator_other_session"] += 1
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if checked == EXPIRED:
            book.pop(token, None)
            return invalid_locator()
        total = len(locator.record_ids)
        if offset >= total:
            return invalid_locator()
        cursor.expires_at = now + sandbox.config.sf_locator_ttl_seconds
        cursor.offset = offset
        chunk = locator.record_ids[offset : offset + locator.batch_size]
        if offset + len(chunk) >= total:
            book.pop(token, None)  # the last batch closes the cursor
    records = _current(org, locator, chunk)
    return compact_json(_page(version, locator, offset, records, total, deleted=locator.include_deleted))


ROUTES = [
    ("/services/data/v<version>/query", ["GET"], query),
    ("/services/data/v<version>/queryAll", ["GET"], query_all),
    ("/services/data/v<version>/query/<locator>", ["GET"], query_more),
    ("/services/data/v<version>/queryAll/<locator>", ["GET"], query_more),
]


def parse_locator_url(url: str) -> tuple[str, int] | None:
    """(locator id, offset) of a nextRecordsUrl (for tests and controls)."""
    found = _LOCATOR.match(url.rstrip("/").rsplit("/", 1)[-1])
    return (found.group(1), int(found.group(2))) if found else None


def stamp_text(moment: datetime) -> str:
    """A SOQL datetime literal for a moment (tests write keyset queries with it)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
