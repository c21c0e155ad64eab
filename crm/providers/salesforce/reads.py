"""The provider's reads over SOQL, getDeleted and SOSL: delta pages on the (SystemModstamp, Id) keyset, records by
id, every id, deletions, ids by phone. Rows come back in the REST API's JSON shape; provider.py maps them.

Delta pages (`changed_page`): `WHERE SystemModstamp > :t OR (SystemModstamp = :t AND Id > :id) ORDER BY
SystemModstamp, Id LIMIT n`, never OFFSET. Thousands of records share one SystemModstamp after a bulk update; the
Id tie-break pages through them without loss or repeat. A page is ONE query answer: the LIMIT is the batch
Salesforce answers at once (2,000; 200 when two long text fields are selected), and when it answers fewer rows
than asked (the rest behind a `nextRecordsUrl`), the page ends there and the next page's keyset reads on; later
pages ask for what it answered. A locator is never followed for a delta page: its later batches carry the records'
values as they are when the batch is fetched, so a record edited after the query ran would come with a
SystemModstamp past records the page never read, and a cursor taken from it would skip them. (The locator is left
to expire; the smaller LIMIT keeps later answers whole.)

Reads by id and of every id (`records`, `all_ids`) follow locators: their order and keys do not move with edits.
A locator dies with the session that made it (any token refresh) or is evicted (more than ~10 open per user): the
client raises SalesforceLocatorLost and the read is asked again (by id: the same query, the rows already read
skipped; every id: after the last one yielded), so nothing is lost or doubled.

Wide objects (Lead with hundreds of custom fields): one query's URI must stay under SALESFORCE_URI_MAX_BYTES, so the
fields are split. The page's query carries the keyset and the first group; each other group is read `WHERE Id IN
(...)` for the page's ids (id lists sized to the same budget) and merged by Id. A record whose SystemModstamp moved
between the queries keeps the older one, so the next delta reads it again whole; one deleted in between is left out
(getDeleted lists it).

Deletions (`deleted`): getDeleted from `since` (whole minutes; its log reaches back 15 days and is purged early when
it grows: earliestDateAvailable after `since` is CrmHistoryExpired, the caller reconciles ids), then the minute
getDeleted does not cover yet (after its latestDateCovered) from the Recycle Bin through queryAll (`IsDeleted = true`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.errors import CrmHistoryExpired
from crm.providers.salesforce import soql
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import PROVIDER, SalesforceLocatorLost, SalesforceRejected
from crm.providers.salesforce.mapping import MODIFIED_FIELD, ObjectMapping, parse_datetime
from crm.records import DeletedRecord

ORDER = f"{MODIFIED_FIELD}, Id"
MAX_BATCH = 2000  # the most records one query answer holds
LONG_TEXT_BATCH = 200  # ... when two or more long text fields are selected
MAX_RESTARTS = 5  # locators lost in a row before the read gives up (SalesforceLocatorLost, then CrmUnavailable)
DELETED_WINDOW_DAYS = 15  # getDeleted lists the last 15 days
SAMPLE_ID = "a" * soql.MAX_ID_LENGTH
SAMPLE_TIME = datetime(2000, 1, 1, 0, 0, 0, 999_000, tzinfo=UTC)  # the longest datetime literal


@dataclass(frozen=True)
class ChangedPage:
    rows: list[dict[str, Any]]
    last: tuple[datetime, str] | None  # the position of the last row the page read (kept or not)
    has_more: bool


@dataclass(frozen=True)
class QueryPlan:
    """The object's fields in query groups: `first` rides with the keyset, each of `rest` goes by id lists of
    `ids_per_query`."""

    first: list[str]
    rest: list[list[str]]
    by_id_groups: list[list[str]]  # every field for reads by id (each group with its id list)
    ids_per_query: int


class Reads:
    """SOQL reads of one object through one client (a SalesforceClient)."""

    def __init__(self, client: Any, mapping: ObjectMapping) -> None:
        self.client = client
        self.mapping = mapping
        self.sobject = mapping.vendor_name
        self._plan: QueryPlan | None = None
        self._answered = 0  # the most rows Salesforce gave one answer when it gave fewer than asked

    # --- planning --------------------------------------------------------------------------------------------
    def _q_budget(self) -> int:
        """Bytes the encoded query (`q=`'s value) may take: the client refuses longer URLs before sending."""
        budget = getattr(self.client, "uri_budget", None)
        if budget is not None:
            return int(budget("query"))
        return int(salesforce_settings.URI_MAX_BYTES) - 200

    def plan(self) -> QueryPlan:
        if self._plan is None:
            self._plan = self._plan_build()
        return self._plan

    def _plan_build(self) -> QueryPlan:
        fields = self.mapping.columns[2:]  # Id and SystemModstamp go into every query
        room = self._q_budget() - 8
        keyset = soql.keyset_after(SAMPLE_TIME, SAMPLE_ID)
        base = soql.select(["Id", MODIFIED_FIELD], self.sobject, where=keyset, order_by=ORDER, limit=MAX_BATCH)
        first_budget = room - soql.encoded_bytes(base) - soql.encoded_bytes(", ")
        by_id_base = soql.select(["Id", MODIFIED_FIELD], self.sobject, where="Id IN ()")
        by_id_room = room - soql.encoded_bytes(by_id_base) - soql.encoded_bytes(", ")
        if first_budget <= 0 or by_id_room <= soql.ids_bytes(1):
            raise ValueError(f"SALESFORCE_URI_MAX_BYTES is too small for any query of {self.sobject}")
        whole = soql.field_chunks(fields, budget=first_budget)
        half = by_id_room // 2  # a by-id query: half for fields, half for ids
        if len(whole) <= 1:
            first, rest = (whole[0] if whole else []), []
        else:
            first = whole[0]
            rest = soql.field_chunks(fields[len(first) :], budget=half)
        by_id = soql.field_chunks(fields, budget=half) if fields else [[]]
        widest = max(soql.fields_bytes(group) for group in [*rest, *by_id])
        ids = soql.ids_per_query(budget=by_id_room - widest)
        return QueryPlan(first=first, rest=rest, by_id_groups=by_id, ids_per_query=min(ids, MAX_BATCH))

    def _batch_size(self, fields: Sequence[str]) -> int:
        configured = int(salesforce_settings.QUERY_BATCH_SIZE or MAX_BATCH)
        if self.mapping.long_texts(list(fields)) >= 2:
            return min(configured, LONG_TEXT_BATCH)
        return max(LONG_TEXT_BATCH, min(configured, MAX_BATCH))

    # --- delta pages -------------------------------------------------------------------------------------------
    def changed_page(self, *, moment: datetime | None, last_id: str, page_size: int) -> ChangedPage:
        """One page after (moment, last_id) in (SystemModstamp, Id) order (every record at `moment` when last_id
        is empty; from the beginning when moment is None): one query answer, never a locator (see the module
        docstring)."""
        plan = self.plan()
        fields = ["Id", MODIFIED_FIELD, *plan.first]
        limit = max(1, min(int(page_size), self._batch_size(fields), self._answered or MAX_BATCH))
        query = soql.select(fields, self.sobject, where=soql.keyset_after(moment, last_id), order_by=ORDER, limit=limit)
        hint = {"Sforce-Query-Options": f"batchSize={max(LONG_TEXT_BATCH, min(MAX_BATCH, limit))}"}
        body = self.client.get("query", params={"q": query}, headers=hint).json() or {}
        rows = list(body.get("records") or [])
        received = len(rows)
        partial = not body.get("done", True)
        if partial and rows:
            # Salesforce answered fewer rows than asked, holding the rest behind a locator: the rest is read by the
            # next page's keyset instead, and later pages ask for what Salesforce answers at once.
            self._answered = len(rows)
        last = (parse_datetime(rows[-1][MODIFIED_FIELD]), str(rows[-1]["Id"])) if rows else None
        for group in plan.rest:
            rows = self._merge(rows, group)
        return ChangedPage(rows=rows, last=last, has_more=partial or received >= limit)

    def _merge(self, rows: list[dict[str, Any]], group: list[str]) -> list[dict[str, Any]]:
        """The group's fields read by id and merged; a record gone in between is left out, one edited in between
        keeps the older SystemModstamp (the next delta reads it again)."""
        extra = {row["Id"]: row for row in self._by_ids([row["Id"] for row in rows], group)}
        merged = []
        for row in rows:
            more = extra.get(row["Id"])
            if more is None:
                continue
            stamp = min(row[MODIFIED_FIELD], more[MODIFIED_FIELD], key=parse_datetime)
            merged.append({**row, **more, MODIFIED_FIELD: stamp})
        return merged

    def _by_ids(self, ids: Sequence[str], group: Sequence[str]) -> Iterator[dict[str, Any]]:
        fields = ["Id", MODIFIED_FIELD, *group]
        per_query = self.plan().ids_per_query
        for start in range(0, len(ids), per_query):
            chunk = list(ids[start : start + per_query])
            query = soql.select(fields, self.sobject, where=soql.ids_in(chunk))
            yield from self._restartable(query, len(chunk))

    def _restartable(self, query: str, expected: int) -> Iterator[dict[str, Any]]:
        """A query read whole; asked again from the start (its rows deduplicated by Id) when a locator dies."""
        seen: set[str] = set()
        for attempt in range(MAX_RESTARTS + 1):
            try:
                for batch in self.client.query_batches(query, batch_size=min(MAX_BATCH, max(expected, 1))):
                    for row in batch:
                        if row["Id"] not in seen:
                            seen.add(row["Id"])
                            yield row
                return
            except SalesforceLocatorLost:
                if attempt >= MAX_RESTARTS:
                    raise

    # --- by id -------------------------------------------------------------------------------------------------
    def records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of the ids Salesforce has (every field, the groups merged by Id), in no particular order."""
        wanted = list(dict.fromkeys(soql.record_id(value) for value in ids))
        if not wanted:
            return []
        groups = self.plan().by_id_groups
        rows = list(self._by_ids(wanted, groups[0]))
        for group in groups[1:]:
            rows = self._merge(rows, group)
        return rows

    # --- every id ----------------------------------------------------------------------------------------------
    def all_ids(self) -> Iterator[str]:
        """Every live record's id: `Id > :last ORDER BY Id` pages of 2,000 (restarted after the last id on a lost
        locator)."""
        last = ""
        while True:
            where = f"Id > {soql.id_literal(last)}" if last else ""
            query = soql.select(["Id"], self.sobject, where=where, order_by="Id", limit=MAX_BATCH)
            count = 0
            try:
                for batch in self.client.query_batches(query, batch_size=MAX_BATCH):
                    for row in batch:
                        record_id = str(row["Id"])
                        if last and record_id <= last:
                            continue
                        count += 1
                        last = record_id
                        yield record_id
            except SalesforceLocatorLost:
                continue  # from the last id yielded
            if count < MAX_BATCH:
                return

    # --- deletions ---------------------------------------------------------------------------------------------
    def deleted(self, *, since: datetime | None, now: datetime | None = None) -> Iterator[DeletedRecord]:
        """getDeleted from `since` (whole minutes: Salesforce ignores seconds) to now. CrmHistoryExpired when the
        log no longer reaches back to `since` (earliestDateAvailable after it, or older than its 15 days)."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        window_start = now - timedelta(days=DELETED_WINDOW_DAYS) + timedelta(minutes=2)
        if since is None:  # everything still listed; an hour inside the window (clocks differ, calls take time)
            start = window_start + timedelta(hours=1)
        else:
            start = since.astimezone(UTC)
            if start > now:
                return
            if start < window_start:
                raise CrmHistoryExpired(
                    f"Salesforce lists deletions of the last {DELETED_WINDOW_DAYS} days only; "
                    f"{start.isoformat()} is before that",
                    provider=PROVIDER,
                    code="INVALID_REPLICATION_DATE",
                    available_from=window_start,
                )
        start = start.replace(second=0, microsecond=0)
        end = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)  # this minute's deletions too
        params = {"start": _iso(start), "end": _iso(end)}
        try:
            body = self.client.get(f"sobjects/{self.sobject}/deleted", params=params).json() or {}
        except SalesforceRejected as exc:
            if exc.error_code == "INVALID_REPLICATION_DATE":
                raise CrmHistoryExpired(
                    f"Salesforce no longer lists deletions from {start.isoformat()}: {exc.message}",
                    provider=PROVIDER,
                    code=exc.error_code,
                    status=exc.status,
                ) from exc
            raise
        earliest = body.get("earliestDateAvailable")
        if since is not None and earliest:
            available = parse_datetime(earliest)
            if available > since:
                raise CrmHistoryExpired(
                    f"Salesforce's deleted-records log starts at {available.isoformat()}, after {since.isoformat()}"
                    ": deletions before it may have been missed",
                    provider=PROVIDER,
                    code="DELETED_LOG_PURGED",
                    available_from=available,
                )
        seen: set[str] = set()
        for entry in body.get("deletedRecords") or []:
            moment = entry.get("deletedDate")
            try:
                deleted_at = parse_datetime(moment) if moment else None
            except ValueError:
                deleted_at = None
            seen.add(str(entry.get("id")))
            yield DeletedRecord(id=str(entry.get("id")), deleted_at=deleted_at)
        # getDeleted covers whole minutes up to the last one (latestDateCovered): this minute's deletions are in the
        # Recycle Bin, which queryAll shows (IsDeleted = true, SystemModstamp moved by the delete).
        covered = body.get("latestDateCovered")
        tail_from = parse_datetime(covered) if covered else start
        where = f"IsDeleted = true AND {MODIFIED_FIELD} >= {soql.datetime_literal(tail_from)}"
        query = soql.select(["Id", MODIFIED_FIELD], self.sobject, where=where, order_by=ORDER)
        for row in self.client.query_records(query, include_deleted=True):
            if str(row["Id"]) not in seen:
                seen.add(str(row["Id"]))
                yield DeletedRecord(id=str(row["Id"]), deleted_at=parse_datetime(row[MODIFIED_FIELD]))

    # --- phone search ------------------------------------------------------------------------------------------
    def ids_by_phone(self, digits: str) -> list[str]:
        """Ids of records whose phone fields hold `digits` (SOSL `IN PHONE FIELDS`, any format)."""
        if not digits.isdigit():
            raise ValueError(f"not digits: {digits!r}")
        search = f"FIND {{{digits}}} IN PHONE FIELDS RETURNING {soql.name(self.sobject)}(Id) LIMIT 2000"
        body = self.client.get("search", params={"q": search}).json()
        rows = body.get("searchRecords") if isinstance(body, dict) else body
        return list(dict.fromkeys(str(row["Id"]) for row in rows or [] if row.get("Id")))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
