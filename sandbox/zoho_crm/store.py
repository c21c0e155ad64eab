"""Records of one Zoho CRM module, in Zoho's own JSON shape, with the orderings COQL and Get Records page by.

Records are dicts exactly as the API returns them (19-digit string ids, `Owner: {name, id, email}`, datetimes
as 'YYYY-MM-DDTHH:MM:SS±HH:MM' in the org's time zone). Two sorted indexes keep paging cheap at 200,000
records: by id, and by (Modified_Time, id). Every change is announced to listeners (notifications, workflow
rules, bulk jobs) with the operation and the fields it touched.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

ORG_ID_PREFIX = "4150868"  # ids look like 4150868000000225013: a fixed prefix and a counter


def format_zoho_datetime(moment: datetime, tz: timezone) -> str:
    """Zoho's datetime format: second precision, the org's offset (e.g. 2026-11-22T09:15:02-05:00)."""
    return moment.astimezone(tz).replace(microsecond=0).isoformat()


def parse_zoho_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class ChangeEvent:
    module: str
    operation: str  # insert | update | delete
    ids: list[str]
    affected_fields: dict[str, list[str]] = field(default_factory=dict)
    by_api: bool = False  # made through the REST API (workflow rules fire only if the call asked for them)
    triggers: tuple[str, ...] = ()


Listener = Callable[[ChangeEvent], None]


class IdSequence:
    """Shared by all modules of an org, as Zoho's ids are: increasing, 19 digits."""

    def __init__(self, start: int = 225_000) -> None:
        self._next = start
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            value = self._next
            self._next += 1
        return f"{ORG_ID_PREFIX}{value:012d}"


class RecordStore:
    def __init__(self, module: str, *, ids: IdSequence, tz: timezone, now: Callable[[], datetime]) -> None:
        self.module = module
        self.tz = tz
        self._now = now
        self._ids = ids
        self.records: dict[str, dict[str, Any]] = {}
        self._by_id: list[int] = []  # ids as integers, ascending
        self._by_modified: list[tuple[float, int]] = []  # (Modified_Time epoch seconds, id)
        self._modified_key: dict[str, tuple[float, int]] = {}
        self.deleted: list[dict[str, Any]] = []  # Zoho's deleted-records entries, oldest first
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()

    # --- reading -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @property
    def id_index(self) -> list[int]:
        """Record ids as integers, ascending (for bisecting; never mutate it)."""
        return self._by_id

    @property
    def modified_index(self) -> list[tuple[float, int]]:
        """(Modified_Time epoch seconds, id), ascending (for bisecting; never mutate it)."""
        return self._by_modified

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.records.get(str(record_id))

    def iter_by_id(self, *, descending: bool = False, after: str | None = None) -> Iterator[dict[str, Any]]:
        """Records in id order; `after` starts past that id (keyset paging)."""
        keys = self._by_id
        if descending:
            stop = bisect.bisect_left(keys, int(after)) if after else len(keys)
            for index in range(stop - 1, -1, -1):
                yield self.records[str(keys[index])]
        else:
            start = bisect.bisect_right(keys, int(after)) if after else 0
            for index in range(start, len(keys)):
                yield self.records[str(keys[index])]

    def iter_by_modified(
        self, *, descending: bool = False, since: datetime | None = None, strictly_after: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Records in (Modified_Time, id) order, optionally from a moment on (>=, or > with strictly_after)."""
        keys = self._by_modified
        if since is None:
            start = 0
        else:
            moment = since.timestamp()
            start = (
                bisect.bisect_right(keys, (moment, float("inf")))
                if strictly_after
                else bisect.bisect_left(keys, (moment, -1))
            )
        if descending:
            for index in range(len(keys) - 1, start - 1, -1):
                yield self.records[str(keys[index][1])]
        else:
            for index in range(start, len(keys)):
                yield self.records[str(keys[index][1])]

    # --- writing -------------------------------------------------------------------------------------------
    def _index(self, record: dict[str, Any]) -> None:
        record_id = int(record["id"])
        key = (parse_zoho_datetime(record["Modified_Time"]).timestamp(), record_id)
        old = self._modified_key.get(record["id"])
        if old is not None:
            index = bisect.bisect_left(self._by_modified, old)
            if index < len(self._by_modified) and self._by_modified[index] == old:
                del self._by_modified[index]
        else:
            bisect.insort(self._by_id, record_id)
        bisect.insort(self._by_modified, key)
        self._modified_key[record["id"]] = key

    def rebuild_indexes(self) -> None:
        """Re-sort both indexes from the records, after bulk changes made to them directly (benchmark seeding:
        re-indexing 100,000 records one update at a time moves the sorted lists 100,000 times)."""
        with self.lock:
            self._by_id = sorted(int(record_id) for record_id in self.records)
            self._modified_key = {
                record_id: (parse_zoho_datetime(record["Modified_Time"]).timestamp(), int(record_id))
                for record_id, record in self.records.items()
            }
            self._by_modified = sorted(self._modified_key.values())

    def now_text(self, moment: datetime | None = None) -> str:
        return format_zoho_datetime(moment or self._now(), self.tz)

    def insert(
        self,
        values: dict[str, Any],
        *,
        by_user: dict[str, Any] | None = None,
        at: datetime | None = None,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
        notify: bool = True,
    ) -> dict[str, Any]:
        """Add a record; id, Created_Time/Modified_Time and Created_By/Modified_By are set here."""
        with self.lock:
            record = dict(values)
            record["id"] = str(record.get("id") or self._ids.next())
            stamp = self.now_text(at)
            record.setdefault("Created_Time", stamp)
            record.setdefault("Modified_Time", record["Created_Time"])
            if by_user is not None:
                who = user_lookup(by_user)
                record.setdefault("Created_By", who)
                record.setdefault("Modified_By", who)
                record.setdefault("Owner", who)
            self.records[record["id"]] = record
            self._index(record)
        if notify:
            self._emit(
                ChangeEvent(
                    self.module,
                    "insert",
                    [record["id"]],
                    {record["id"]: sorted(values)},
                    by_api=by_api,
                    triggers=triggers,
                )
            )
        return record

    def update(
        self,
        record_id: str,
        changes: dict[str, Any],
        *,
        by_user: dict[str, Any] | None = None,
        bump_modified: bool = True,
        at: datetime | None = None,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
        notify: bool = True,
    ) -> dict[str, Any]:
        """Change fields. Formula fields change with bump_modified=False: Zoho does not touch Modified_Time."""
        with self.lock:
            record = self.records[str(record_id)]
            record.update(changes)
            if bump_modified:
                record["Modified_Time"] = self.now_text(at)
                if by_user is not None:
                    record["Modified_By"] = user_lookup(by_user)
                self._index(record)
        if notify and bump_modified:
            self._emit(
                ChangeEvent(
                    self.module,
                    "update",
                    [record["id"]],
                    {record["id"]: sorted(changes)},
                    by_api=by_api,
                    triggers=triggers,
                )
            )
        return record

    def delete(
        self,
        record_id: str,
        *,
        by_user: dict[str, Any] | None = None,
        permanent: bool = False,
        at: datetime | None = None,
        notify: bool = True,
    ) -> dict[str, Any] | None:
        """Remove a record into the recycle bin (or permanently, which keeps no names)."""
        with self.lock:
            record = self.records.pop(str(record_id), None)
            if record is None:
                return None
            record_int = int(record["id"])
            index = bisect.bisect_left(self._by_id, record_int)
            del self._by_id[index]
            key = self._modified_key.pop(record["id"])
            index = bisect.bisect_left(self._by_modified, key)
            del self._by_modified[index]
            who = {"name": by_user["full_name"], "id": by_user["id"]} if by_user else None
            self.deleted.append(
                {
                    "deleted_by": None if permanent else who,
                    "id": record["id"],
                    "display_name": None if permanent else display_name(record),
                    "type": "permanent" if permanent else "recycle",
                    "created_by": None if permanent else _name_id(record.get("Created_By")),
                    "deleted_time": self.now_text(at),
                }
            )
        if notify:
            self._emit(ChangeEvent(self.module, "delete", [record["id"]]))
        return record

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self.listeners):
            listener(event)


def user_lookup(user: dict[str, Any]) -> dict[str, Any]:
    """A CRM user as a lookup value (Owner, Created_By, Modified_By): {name, id, email}."""
    return {"name": user["full_name"], "id": user["id"], "email": user["email"]}


def _name_id(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return {"name": value.get("name"), "id": value.get("id")}
    return None


def display_name(record: dict[str, Any]) -> str | None:
    for key in ("Full_Name", "Deal_Name", "Account_Name", "Subject", "Last_Name"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def fixed_offset(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))
