"""The provider's reads of one HubSpot object type: delta pages over the CRM search API, records by id (batch read),
every id and the archived records (list paging), records by phone (search), each with its associations.

Delta pages (`changed_page`) page on (modified time, hs_object_id) with a fresh search per page, never by the
search's `after` offset:

- HubSpot's search is read with one sort per query (whether it takes two is not documented: the emulator's
  hs_search_sorts_max) and stops at 10,000 results per query (400 beyond). So a page is ONE query from offset 0:
  the *range* query `mod > t` (`>= t` for a cursor without an id) sorted by mod ascending, limit <= 200. The next
  page is a new query from where this one ended, so no query ever nears the cap, and a record edited between pages
  (offsets shift under an edit) is never skipped: it moves past the cursor and comes again with its new values.
- Ties: a full range page may end inside a run of records sharing one timestamp (HubSpot's own batch updates stamp
  more than 10,000 contacts with one lastmodifieddate). Its records at the last timestamp are not returned from it;
  the *bucket* query `mod == t AND hs_object_id > last` sorted by hs_object_id reads that timestamp's records in id
  order, page after page, each page a new query from the last id, so a 12,000-record batch is read exactly once
  and never looped on (Airbyte's HubSpot source restarted from the beginning on it, airbytehq/airbyte#43317).
- Within a page the records are sorted here by (modified time, id): the range query's one sort leaves ties in
  HubSpot's order, and every record at a timestamp below the page's last one is in the page.
- The cursor after a page is its last record's (time, id). Its `token` is DONE when every record at that time was
  in the page (a range page's timestamps below its last): the next page skips the bucket query.
- First load (a cursor with no time): the same range query, with no filter. List paging (`GET objects`) is not
  used for it: the list is in id order, not modified-time order, so a killed load could not resume from its
  checkpoint (the sync engine's cursor is a time), and naming every property in a GET URL fails past HubSpot's
  URI limit (414). Search pages are twice as large (200), so the 4-to-5-a-second search allowance reads about as
  fast as the 10-second allowance's list pages (100 records, 10 a second). The sync engine's own progress (records
  per committed batch) is the first load's progress.
- Search lags writes (an index): a record written just before a search may be missing from it while later ones
  are in it. Nothing here waits for the index: the sync engine starts each run from its watermark minus
  SYNC_OVERLAP_SECONDS (60 s), which re-reads whatever the index showed late, provided the lag stays below it.

Associations: a contact's company comes from its own `associatedcompanyid` (HubSpot's primary associated company,
returned by the search with the other properties: no call), mode "property", the default. Those no property names
(a deal's contacts and companies), and a contact's company in mode "calls", are read per page with the v4 batch
read (100 ids a call) and attached as `associations` ({to type: [ids]}); mapping.py flattens both. Reading contacts'
companies by calls cost the 10-second allowance two calls per 200 contacts (1,008 of the 1,511 calls a 100,000-
contact read took); mode "none" reads no association by calls.

Deletions: the archived list (`archived=true`) is in id order and has no filter, so each run lists every archived
record HubSpot still keeps (how long it keeps them is not documented) and keeps those archived after `since`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers

from crm.providers.hubspot.errors import HubSpotMissingScopes, HubSpotNotFound
from crm.providers.hubspot.mapping import epoch_ms, parse_datetime
from crm.providers.hubspot.schema import ID_PROPERTY, ObjectSchema
from crm.records import DeletedRecord

SEARCH_PAGE_MAX = 200  # the most results one search page holds
LIST_PAGE_MAX = 100  # ... one list page
BATCH_READ_MAX = 100  # ids per batch/read
ASSOCIATION_MODES = ("property", "calls", "none")  # how associations are read (the provider's `associations`)
DONE = "bucket-read"  # a cursor token: every record at the cursor's time has been read
MAX_ROUNDS = 20  # queries one page may take when records keep moving under it (then the page ends empty)
FILTER_GROUPS_MAX = 5  # OR'ed groups per search


@dataclass(frozen=True)
class ChangedPage:
    rows: list[dict[str, Any]]  # API-shaped records with `associations`
    last: tuple[datetime, str] | None  # the position after the page (None: nothing read)
    done: bool  # every record at last's time was read
    has_more: bool


def association_mode(value: bool | str) -> str:
    """The provider's `associations` option as one of ASSOCIATION_MODES (True is "property", False "none")."""
    mode = ("property" if value else "none") if isinstance(value, bool) else str(value)
    if mode not in ASSOCIATION_MODES:
        raise ValueError(f"associations must be one of {', '.join(ASSOCIATION_MODES)}, True or False: {value!r}")
    return mode


def results_of(answer: Any) -> list[dict[str, Any]]:
    """The records of an answer: a JSON body's `results`, a (results, errors) pair or an object with `.results`."""
    if answer is None:
        return []
    if isinstance(answer, tuple):
        return list(answer[0] or [])
    if isinstance(answer, Mapping):
        return list(answer.get("results") or [])
    results = getattr(answer, "results", None)
    return list(results if results is not None else answer)


def next_after(answer: Any) -> str:
    """A list answer's `paging.next.after` ("" at the end)."""
    body = answer if isinstance(answer, Mapping) else getattr(answer, "body", None) or {}
    after = getattr(answer, "after", None)
    if after is not None:
        return str(after or "")
    return str((((body.get("paging") or {}).get("next") or {}).get("after")) or "")


class Reads:
    """The reads of one object type through one client (a HubSpotClient)."""

    def __init__(
        self,
        client: Any,
        schema: ObjectSchema,
        *,
        associations: bool | str = "property",
        properties: Sequence[str] = (),
    ) -> None:
        mode = association_mode(associations)
        linked = [to_type for to_type, *_ in schema.associations] if mode != "none" else []
        named = {to_type: schema.association_property(to_type) for to_type in linked}
        self.client = client
        self.schema = schema
        self.properties = schema.read_properties(properties, also=[name for name in named.values() if name])
        self.object_type = schema.object_type
        self.modified = schema.modified_property
        # the association types read with the associations API (the others come in a property of the record)
        self.association_calls = tuple(to_type for to_type in linked if mode == "calls" or not named[to_type])

    # --- delta pages ---------------------------------------------------------------------------------------------
    def changed_page(self, *, moment: datetime | None, last_id: str, done: bool, page_size: int) -> ChangedPage:
        """One page after (moment, last_id) in (modified time, id) order (every record at `moment` when `last_id`
        is empty and not `done`; from the beginning when `moment` is None)."""
        size = max(1, min(int(page_size), SEARCH_PAGE_MAX))
        for _ in range(MAX_ROUNDS):
            page = self._page(moment, last_id, done, size)
            if page is not None:
                return self._attach(page)
        return ChangedPage(rows=[], last=None, done=False, has_more=True)

    def _page(self, moment: datetime | None, last_id: str, done: bool, size: int) -> ChangedPage | None:
        rows: list[dict[str, Any]] = []
        if moment is not None and last_id and not done:
            rows = self._bucket(moment, last_id, size)
            if len(rows) >= size:
                return self._cut(rows, size, more=True, tail_done=False)
        inclusive = moment is not None and not last_id and not done
        found = self._range(moment, inclusive=inclusive, size=size)
        if len(found) < size:
            return self._cut(rows + found, size, more=False, tail_done=True)
        last_time = self._time(found[-1])
        kept = [row for row in found if self._time(row) < last_time]
        if kept or rows:
            return self._cut(rows + kept, size, more=True, tail_done=True)
        # The whole page sits at one timestamp: read that timestamp's records by id from the start.
        bucket = self._bucket(last_time, "", size)
        if not bucket:
            return None  # they moved on (edited) since the range query: ask again
        return self._cut(bucket, size, more=True, tail_done=len(bucket) < size)

    def _cut(self, rows: list[dict[str, Any]], size: int, *, more: bool, tail_done: bool) -> ChangedPage:
        """At most `size` rows in order; `done` says whether the last kept row's timestamp was read whole."""
        rows.sort(key=self._order)
        if len(rows) > size:
            kept, following = rows[:size], rows[size]
            done = self._time(following) > self._time(kept[-1])
            more = True
        else:
            kept, done = rows, tail_done
        if not kept:
            return ChangedPage(rows=[], last=None, done=False, has_more=False)
        return ChangedPage(rows=kept, last=self._key(kept[-1]), done=done, has_more=more)

    def _time(self, row: Mapping[str, Any]) -> datetime:
        properties = row.get("properties") or {}
        raw = properties.get(self.modified) or row.get("updatedAt")
        return parse_datetime(raw)

    def _key(self, row: Mapping[str, Any]) -> tuple[datetime, str]:
        return (self._time(row), str(row["id"]))

    def _order(self, row: Mapping[str, Any]) -> tuple[datetime, int, str]:
        """(modified time, id) with ids compared as numbers, as hs_object_id sorts."""
        record_id = str(row["id"])
        return (self._time(row), int(record_id) if record_id.isdigit() else 0, record_id)

    def _range(self, moment: datetime | None, *, inclusive: bool, size: int) -> list[dict[str, Any]]:
        filters = []
        if moment is not None:
            operator = "GTE" if inclusive else "GT"
            filters.append({"propertyName": self.modified, "operator": operator, "value": str(epoch_ms(moment))})
        return self._search(filters, sort=self.modified, size=size)

    def _bucket(self, moment: datetime, last_id: str, size: int) -> list[dict[str, Any]]:
        filters = [{"propertyName": self.modified, "operator": "EQ", "value": str(epoch_ms(moment))}]
        if last_id:
            filters.append({"propertyName": ID_PROPERTY, "operator": "GT", "value": str(last_id)})
        return self._search(filters, sort=ID_PROPERTY, size=size)

    def _search(self, filters: list[dict[str, Any]], *, sort: str, size: int) -> list[dict[str, Any]]:
        body = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": list(self.properties),
            "limit": size,
        }
        return results_of(self.client.search(self.object_type, body))

    def _attach(self, page: ChangedPage) -> ChangedPage:
        if page.rows:
            self.associations_attach(page.rows)
        return page

    # --- associations ----------------------------------------------------------------------------------------
    def associations_attach(self, rows: list[dict[str, Any]]) -> None:
        """Each row's associations ({to type: [ids]}), one batch read per association type for the rows."""
        if not self.association_calls or not rows:
            return
        ids = [str(row["id"]) for row in rows]
        for to_type in self.association_calls:
            linked = self.client.associations_read(self.object_type, to_type, ids) or {}
            for row in rows:
                found = linked.get(str(row["id"])) or []
                row.setdefault("associations", {})[to_type] = [str(_to_id(item)) for item in found]

    # --- by id -----------------------------------------------------------------------------------------------
    def records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The records HubSpot has among `ids` (batch/read with every property in the POST body), in no order."""
        wanted = list(dict.fromkeys(str(value) for value in ids if str(value).isdigit()))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_READ_MAX):
            chunk = wanted[start : start + BATCH_READ_MAX]
            answer = self.client.batch_read(self.object_type, chunk, properties=list(self.properties))
            rows.extend(row for row in results_of(answer) if not row.get("archived"))
        unique = list({str(row["id"]): row for row in rows}.values())
        self.associations_attach(unique)
        return unique

    # --- every id, the archived --------------------------------------------------------------------------------
    def _listed(self, *, archived: bool, properties: Sequence[str]) -> Iterator[dict[str, Any]]:
        after = ""
        while True:
            answer = self.client.objects_page(
                self.object_type,
                after=after or None,
                limit=LIST_PAGE_MAX,
                properties=list(properties),
                archived=archived,
            )
            yield from results_of(answer)
            after = next_after(answer)
            if not after:
                return

    def all_ids(self) -> Iterator[str]:
        seen: set[str] = set()
        for row in self._listed(archived=False, properties=[ID_PROPERTY]):
            record_id = str(row["id"])
            if record_id not in seen:
                seen.add(record_id)
                yield record_id

    def deleted(self, *, since: datetime | None) -> Iterator[DeletedRecord]:
        """Archived records (`archived=true`), those archived after `since` (all HubSpot still lists when None). The
        list is in id order, so every archived record is listed each time (HubSpot keeps them a while: how long is
        not documented) and filtered by its `archivedAt` here."""
        seen: set[str] = set()
        for row in self._listed(archived=True, properties=[ID_PROPERTY]):
            record_id = str(row["id"])
            raw = row.get("archivedAt") or row.get("updatedAt")
            try:
                archived_at = parse_datetime(raw) if raw else None
            except ValueError:
                archived_at = None
            if since is not None and archived_at is not None and archived_at <= since:
                continue
            if record_id not in seen:
                seen.add(record_id)
                yield DeletedRecord(id=record_id, deleted_at=archived_at)

    # --- phone search ------------------------------------------------------------------------------------------
    def by_phone_candidates(self, variants: Sequence[str]) -> list[dict[str, Any]]:
        """Records whose phone properties hold one of `variants` (the number as people type it): one filter group
        per phone property (OR), each `IN` the variants; five properties a query."""
        properties = list(self.schema.phone_properties)
        rows: dict[str, dict[str, Any]] = {}
        for start in range(0, len(properties), FILTER_GROUPS_MAX):
            groups = [
                {"filters": [{"propertyName": name, "operator": "IN", "values": list(variants)}]}
                for name in properties[start : start + FILTER_GROUPS_MAX]
            ]
            body = {
                "filterGroups": groups,
                "sorts": [{"propertyName": ID_PROPERTY, "direction": "ASCENDING"}],
                "properties": list(self.properties),
                "limit": SEARCH_PAGE_MAX,
            }
            for row in results_of(self.client.search(self.object_type, body)):
                rows[str(row["id"])] = row
        found = list(rows.values())
        self.associations_attach(found)
        return found


def _to_id(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("toObjectId") or item.get("id")
    return item


def phone_variants(e164: str) -> list[str]:
    """An E.164 number as people type it in HubSpot's phone properties: +14155550142, 14155550142, 4155550142,
    (415) 555-0142, 415-555-0142, 415.555.0142, +1 415-555-0142 ... (search compares whole values)."""
    number = phonenumbers.parse(e164)
    national = str(number.national_number)
    code = str(number.country_code)
    formatted_national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    variants = [e164, f"{code}{national}", national, formatted_national, international]
    if len(national) == 10:  # North American and similar ten-digit plans: the separators people use
        area, exchange, line = national[:3], national[3:6], national[6:]
        for form in (f"{area}-{exchange}-{line}", f"{area}.{exchange}.{line}", f"{area} {exchange} {line}"):
            variants += [form, f"+{code} {form}", f"{code}-{form}" if "-" in form else f"{code} {form}"]
        variants += [f"({area}) {exchange}-{line}", f"+{code} ({area}) {exchange}-{line}", f"({area}){exchange}-{line}"]
    return list(dict.fromkeys(variants))


def owner_names(client: Any) -> dict[str, str]:
    """Owner id -> "First Last" (else the e-mail) from the owners API; {} when it is not there for this app (a
    missing scope): names are a nicety."""
    try:
        owners = client.owners()
    except (HubSpotNotFound, HubSpotMissingScopes):
        return {}
    names = {}
    for owner in owners:
        if owner.get("id"):
            parts = [str(owner.get(part) or "").strip() for part in ("firstName", "lastName")]
            names[str(owner["id"])] = " ".join(part for part in parts if part) or str(owner.get("email") or "")
    return names
