"""The Web API reads of one Dataverse table, in the Web API's shapes (rows as it sends them): pages of changes by
(modifiedon, primary id), change tracking's pages and delta links, rows by id, every id, rows by phone.

Changes by modified time (tables without change tracking, and `changed_since` on any table): one query a page,
`$filter=modifiedon gt T or (modifiedon eq T and leadid gt G)` `$orderby=modifiedon asc,leadid asc` with
`Prefer: odata.maxpagesize=N`: a keyset, so ties at one modifiedon (Dataverse keeps whole seconds: a bulk edit
stamps thousands of rows alike) are split by id, and a row edited while paging moves behind the cursor and comes
again. A next link on the answer says more rows follow; its paging cookie is not used (the next page asks again
from the keyset, which a paging cookie kept an hour could not survive).

Change tracking: a read with `Prefer: odata.track-changes` returns every row, page by page (`@odata.nextLink`); its
last page carries `@odata.deltaLink`, whose GET later returns the rows created or changed since (their latest
state) and the deleted ones (`$deletedEntity` entries: `{"@odata.context": ".../$deletedEntity", "id", "reason"}`).
`tracked_page` follows either link; the links are the caller's tokens. A full read's page links are marked
(FULL_PREFIX) so a resumed full read still says it is one. An expired version stamp (or a dead paging cookie) is
DataverseHistoryExpired from the client: the caller reads everything again and reconciles ids.

Rows by phone: Dataverse compares whole text, and people type numbers every way ("(415) 555-0142", "+1
415-555-0143", "4155550144"), so the query asks `contains(<phone column>, '<last four digits>')` over every phone
column (FormatName Phone) and the provider keeps the rows whose phones read as the wanted number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from crm.providers.dynamics.mapping import odata_datetime
from crm.providers.dynamics.schema import MODIFIED_COLUMN, TableSchema

PAGE_MAX = 5000  # Dataverse's largest page (odata.maxpagesize above it is ignored)
IDS_PER_QUERY = 50  # primary ids OR'ed in one $filter (a URL stays far below IIS's limits)
PHONE_DIGITS = 4  # the trailing digits a phone query looks for (contiguous in every format people type)
FULL_PREFIX = "full:"  # a token of a full read's next page (see tracked_page)
ANNOTATIONS = "*"  # FormattedValue (lookups' names, option sets' labels) and lookuplogicalname
DELETED_MARK = "$deletedEntity"


@dataclass(frozen=True)
class ChangedRows:
    rows: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class TrackedRows:
    rows: list[dict[str, Any]]  # created or changed rows
    deleted: list[str]  # ids of deleted rows
    token: str  # the next page's link (has_more) or the delta link
    has_more: bool
    full: bool


def guid(value: Any) -> str:
    """A GUID as Dataverse writes it (lower-case, dashes); "" when `value` is none."""
    try:
        return str(UUID(str(value).strip().strip("{}")))
    except (ValueError, AttributeError):
        return ""


def _quoted(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


class Reads:
    """The reads of one table through one client (a DataverseClient)."""

    def __init__(self, client: Any, schema: TableSchema) -> None:
        self.client = client
        self.schema = schema
        self.path = schema.entity_set
        self.key = schema.primary_id
        self.select = ",".join(schema.select)

    # --- the client's GET -------------------------------------------------------------------------------------
    def _get(self, params: Mapping[str, Any], *, page_size: int | None = None, tracking: bool = False) -> dict:
        prefer = self._prefer(page_size, tracking)
        return self.client.get(self.path, params=dict(params), prefer=prefer) or {}

    def _follow(self, link: str, *, page_size: int | None = None, tracking: bool = False) -> dict:
        return self.client.get_url(link, prefer=self._prefer(page_size, tracking)) or {}

    @staticmethod
    def _prefer(page_size: int | None, tracking: bool) -> str:
        """The `Prefer` header: annotations always (lookups' names, option sets' labels), a page size, tracking."""
        parts = ["odata.track-changes"] if tracking else []
        if page_size:
            parts.append(f"odata.maxpagesize={max(1, min(int(page_size), PAGE_MAX))}")
        parts.append(f'odata.include-annotations="{ANNOTATIONS}"')
        return ",".join(parts)

    # --- changes by modified time ------------------------------------------------------------------------------
    def changed_page(self, *, moment: datetime | None, last_id: str, page_size: int) -> ChangedRows:
        """One page after (moment, last_id) in (modifiedon, primary id) order (every row at `moment` when
        `last_id` is empty; from the beginning when `moment` is None)."""
        params: dict[str, Any] = {"$select": self.select, "$orderby": f"{MODIFIED_COLUMN} asc,{self.key} asc"}
        if moment is not None:
            stamp = odata_datetime(moment)
            if last_id:
                params["$filter"] = (
                    f"{MODIFIED_COLUMN} gt {stamp} or ({MODIFIED_COLUMN} eq {stamp} and {self.key} gt {last_id})"
                )
            else:
                params["$filter"] = f"{MODIFIED_COLUMN} ge {stamp}"
        answer = self._get(params, page_size=page_size)
        rows = list(answer.get("value") or [])
        size = max(1, min(int(page_size), PAGE_MAX))
        return ChangedRows(rows=rows[:size], has_more=bool(answer.get("@odata.nextLink")) or len(rows) > size)

    # --- change tracking ------------------------------------------------------------------------------------
    def tracked_page(self, *, token: str, page_size: int) -> TrackedRows:
        """One page of change tracking: a full read when `token` is "", else the page a next link or a delta link
        names. A full read's next links come back as FULL_PREFIX + link."""
        full = not token or token.startswith(FULL_PREFIX)
        link = token.removeprefix(FULL_PREFIX)
        if link:
            answer = self._follow(link, page_size=page_size, tracking=True)
        else:
            answer = self._get({"$select": self.select}, page_size=page_size, tracking=True)
        rows: list[dict[str, Any]] = []
        deleted: list[str] = []
        for row in answer.get("value") or []:
            context = str(row.get("@odata.context") or "")
            if DELETED_MARK in context or (row.get("reason") == "deleted" and self.key not in row):
                deleted.append(guid(row.get("id")) or str(row.get("id") or ""))
            elif self.key in row:
                rows.append(row)
        next_link = str(answer.get("@odata.nextLink") or "")
        if next_link:
            return TrackedRows(rows, deleted, (FULL_PREFIX if full else "") + next_link, True, full)
        delta = str(answer.get("@odata.deltaLink") or "")
        return TrackedRows(rows, deleted, delta, False, full)

    # --- by id -------------------------------------------------------------------------------------------------
    def row(self, record_id: str) -> dict[str, Any]:
        """One row (DataverseNotFound from the client when it is gone)."""
        answer = self.client.get(
            f"{self.path}({record_id})", params={"$select": self.select}, prefer=self._prefer(None, False)
        )
        return dict(answer or {})

    def rows(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The rows Dataverse has among `ids` (GUIDs; others left out), each once, in no order."""
        wanted = list(dict.fromkeys(filter(None, (guid(value) for value in ids))))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), IDS_PER_QUERY):
            chunk = wanted[start : start + IDS_PER_QUERY]
            condition = " or ".join(f"{self.key} eq {value}" for value in chunk)
            for row in self._all({"$select": self.select, "$filter": condition}, page_size=len(chunk)):
                found[guid(row.get(self.key))] = row
        return list(found.values())

    def _all(self, params: Mapping[str, Any], *, page_size: int = PAGE_MAX) -> Iterator[dict[str, Any]]:
        """Every row of a query, following next links."""
        answer = self._get(params, page_size=page_size)
        while True:
            yield from answer.get("value") or []
            link = answer.get("@odata.nextLink")
            if not link:
                return
            answer = self._follow(str(link), page_size=page_size)

    # --- every id ----------------------------------------------------------------------------------------------
    def all_ids(self) -> Iterator[str]:
        seen: set[str] = set()
        params = {"$select": self.key, "$orderby": f"{self.key} asc"}
        for row in self._all(params):
            record_id = guid(row.get(self.key))
            if record_id and record_id not in seen:
                seen.add(record_id)
                yield record_id

    # --- phone search ------------------------------------------------------------------------------------------
    def by_phone_candidates(self, national_digits: str) -> list[dict[str, Any]]:
        """Rows with the number's last digits in any phone column (the provider keeps the real matches)."""
        columns = self.schema.phone_columns
        tail = national_digits[-PHONE_DIGITS:]
        if not columns or not tail:
            return []
        condition = " or ".join(f"contains({column},{_quoted(tail)})" for column in columns)
        params = {"$select": self.select, "$filter": condition, "$orderby": f"{self.key} asc"}
        return list(self._all(params))
