"""Records of one object type, as dicts in the vendor's own JSON shape, with the sorted indexes CRMs page by.

Two indexes stay sorted as records change: by id, and by (modified time, id): Zoho's Modified_Time,
Salesforce's SystemModstamp, HubSpot's hs_lastmodifieddate, Dataverse's modifiedon. Ties on the time are
broken by id, so keyset paging ("after this (time, id)") never skips or repeats a record even when hundreds
share a second. A third index, by (created time, id), is built on demand and kept until records come or go
(created times never change). Index keys are `(epoch seconds, id key)`; `id_key` turns an id into something
that sorts as the vendor sorts ids (int for Zoho's and HubSpot's numeric ids, the string itself for Salesforce's
and Dataverse's) and `str(id_key(id)) == id` must hold.

The store knows field names only through its constructor (`modified_field`, `created_field`) and times only
through `stamp` (datetime -> the vendor's text) and `parse` (back). Every change is announced to `listeners`
with a `ChangeEvent` (change feeds, workflow rules and webhooks subscribe there). Deleted records leave a
tombstone in `deleted`, shaped by the vendor (`tombstone=` on delete).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Record = dict[str, Any]
Key = tuple[float, Any]  # (epoch seconds, id key); by-id walks use (0.0, id key)
ORDERS = ("id", "modified", "created")


@dataclass
class ChangeEvent:
    kind: str  # the store's object type (a Zoho module, a Salesforce sObject, a HubSpot object type)
    operation: str  # insert | update | delete
    ids: list[str]
    affected_fields: dict[str, list[str]] = field(default_factory=dict)
    by_api: bool = False  # made through the vendor's API (some automations fire only for UI changes, or on request)
    triggers: tuple[str, ...] = ()


Listener = Callable[[ChangeEvent], None]


class IdSequence:
    """Increasing ids shared by the stores of one tenant: `text(n)` gives the vendor's id text."""

    def __init__(self, start: int = 1, *, text: Callable[[int], str] = str) -> None:
        self._next = start
        self._text = text
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            value = self._next
            self._next += 1
        return self._text(value)


class RecordStore:
    def __init__(
        self,
        kind: str,
        *,
        new_id: Callable[[], str],
        now: Callable[[], datetime],
        stamp: Callable[[datetime], str],
        parse: Callable[[str], datetime],
        modified_field: str,
        created_field: str,
        id_key: Callable[[str], Any] = int,
    ) -> None:
        self.kind = kind
        self._new_id = new_id
        self._now = now
        self.stamp = stamp
        self.parse = parse
        self.modified_field = modified_field
        self.created_field = created_field
        self.id_key = id_key
        self.records: dict[str, Record] = {}
        self._by_id: list[Any] = []  # id keys, ascending
        self._by_modified: list[Key] = []  # (modified epoch seconds, id key), ascending
        self._modified_key: dict[str, Key] = {}
        self._created: tuple[tuple[int, Any, int], list[Key]] | None = None  # (signature, index)
        self.deleted: list[Record] = []  # tombstones, oldest first
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()

    # --- reading -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @property
    def id_index(self) -> list[Any]:
        """Id keys, ascending (for bisecting; never mutate it)."""
        return self._by_id

    @property
    def modified_index(self) -> list[Key]:
        """(modified epoch seconds, id key), ascending (for bisecting; never mutate it)."""
        return self._by_modified

    def created_index(self) -> list[Key]:
        """(created epoch seconds, id key), ascending; rebuilt only after records were added or removed."""
        signature = (len(self.records), self._by_id[-1] if self._by_id else 0, len(self.deleted))
        if self._created is None or self._created[0] != signature:
            index = sorted(
                (self.parse(record[self.created_field]).timestamp(), self.id_key(record_id))
                for record_id, record in self.records.items()
            )
            self._created = (signature, index)
        return self._created[1]

    def get(self, record_id: str) -> Record | None:
        return self.records.get(str(record_id))

    def key_of(self, record: Record, order: str = "modified") -> Key:
        """The record's sort key in an order ("id", "modified" or "created")."""
        if order == "id":
            return (0.0, self.id_key(record["id"]))
        name = self.modified_field if order == "modified" else self.created_field
        return (self.parse(record[name]).timestamp(), self.id_key(record["id"]))

    def iter_by_id(self, *, descending: bool = False, after: str | None = None) -> Iterator[Record]:
        """Records in id order; `after` starts past that id (keyset paging; before it when descending)."""
        keys = self._by_id
        if descending:
            stop = bisect.bisect_left(keys, self.id_key(after)) if after else len(keys)
            for index in range(stop - 1, -1, -1):
                yield self.records[str(keys[index])]
        else:
            start = bisect.bisect_right(keys, self.id_key(after)) if after else 0
            for index in range(start, len(keys)):
                yield self.records[str(keys[index])]

    def iter_by_modified(
        self, *, descending: bool = False, since: datetime | None = None, strictly_after: bool = False
    ) -> Iterator[Record]:
        """Records in (modified, id) order, optionally from a moment on (>=, or > with strictly_after)."""
        keys = self._by_modified
        if since is None:
            start = 0
        else:
            moment = since.timestamp()
            start = (
                bisect.bisect_right(keys, (moment, _Top()))
                if strictly_after
                else bisect.bisect_left(keys, (moment, _Bottom()))
            )
        if descending:
            for index in range(len(keys) - 1, start - 1, -1):
                yield self.records[str(keys[index][1])]
        else:
            for index in range(start, len(keys)):
                yield self.records[str(keys[index][1])]

    def walk(self, order: str, *, descending: bool = False, after: Key | None = None) -> Iterator[tuple[Key, Record]]:
        """(key, record) in an order, starting strictly past the key `after` (keyset paging with ties broken by
        id: a cursor is the last key a page returned). Hold `self.lock` while consuming it."""
        if order not in ORDERS:
            raise ValueError(f"unknown order {order!r}; use one of {ORDERS}")
        by_id = order == "id"
        keys: list[Any] = self._by_id if by_id else self._by_modified if order == "modified" else self.created_index()
        probe: Any = None if after is None else (after[1] if by_id else after)
        if descending:
            stop = bisect.bisect_left(keys, probe) if probe is not None else len(keys)
            indexes: Any = range(stop - 1, -1, -1)
        else:
            start = bisect.bisect_right(keys, probe) if probe is not None else 0
            indexes = range(start, len(keys))
        for index in indexes:
            item = keys[index]
            record = self.records.get(str(item if by_id else item[1]))
            if record is not None:
                yield ((0.0, item) if by_id else item), record

    # --- writing -------------------------------------------------------------------------------------------
    def _index(self, record: Record) -> None:
        key = self.key_of(record)
        old = self._modified_key.get(record["id"])
        if old is not None:
            index = bisect.bisect_left(self._by_modified, old)
            if index < len(self._by_modified) and self._by_modified[index] == old:
                del self._by_modified[index]
        else:
            bisect.insort(self._by_id, key[1])
        bisect.insort(self._by_modified, key)
        self._modified_key[record["id"]] = key

    def rebuild_indexes(self) -> None:
        """Re-sort the indexes from the records, after bulk changes made to them directly (seeding 100,000
        records one insert at a time would move the sorted lists 100,000 times)."""
        with self.lock:
            self._by_id = sorted(self.id_key(record_id) for record_id in self.records)
            self._modified_key = {record_id: self.key_of(record) for record_id, record in self.records.items()}
            self._by_modified = sorted(self._modified_key.values())
            self._created = None

    def now_text(self, moment: datetime | None = None) -> str:
        return self.stamp(moment or self._now())

    def insert(
        self,
        values: Record,
        *,
        at: datetime | None = None,
        defaults: Record | None = None,
        notify: bool = True,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
    ) -> Record:
        """Add a record: a new id unless `values` has one, created/modified times unless given, then `defaults`
        for fields `values` leaves out (e.g. owner and creator). The event lists the fields `values` named."""
        with self.lock:
            record = dict(values)
            record["id"] = str(record.get("id") or self._new_id())
            record.setdefault(self.created_field, self.now_text(at))
            record.setdefault(self.modified_field, record[self.created_field])
            for name, value in (defaults or {}).items():
                record.setdefault(name, value)
            self.records[record["id"]] = record
            self._index(record)
        if notify:
            self._emit(
                ChangeEvent(self.kind, "insert", [record["id"]], {record["id"]: sorted(values)}, by_api, triggers)
            )
        return record

    def update(
        self,
        record_id: str,
        changes: Record,
        *,
        bump_modified: bool = True,
        at: datetime | None = None,
        stamped: Record | None = None,
        notify: bool = True,
        by_api: bool = False,
        triggers: tuple[str, ...] = (),
    ) -> Record:
        """Change fields. With `bump_modified` the modified time moves (and `stamped` fields, e.g. the editor,
        are set too) and listeners hear of it; without, the change is silent, as formula fields change."""
        with self.lock:
            record = self.records[str(record_id)]
            record.update(changes)
            if bump_modified:
                record[self.modified_field] = self.now_text(at)
                record.update(stamped or {})
                self._index(record)
        if notify and bump_modified:
            self._emit(
                ChangeEvent(self.kind, "update", [record["id"]], {record["id"]: sorted(changes)}, by_api, triggers)
            )
        return record

    def delete(
        self,
        record_id: str,
        *,
        at: datetime | None = None,
        tombstone: Callable[[Record, str], Record] | None = None,
        notify: bool = True,
    ) -> Record | None:
        """Remove a record; `tombstone(record, deleted time text)` shapes what `deleted` keeps (default: id and
        time). None when there is no such record."""
        with self.lock:
            record = self.records.pop(str(record_id), None)
            if record is None:
                return None
            id_key = self.id_key(record["id"])
            del self._by_id[bisect.bisect_left(self._by_id, id_key)]
            key = self._modified_key.pop(record["id"])
            del self._by_modified[bisect.bisect_left(self._by_modified, key)]
            stamp = self.now_text(at)
            self.deleted.append(tombstone(record, stamp) if tombstone else {"id": record["id"], "deleted_time": stamp})
        if notify:
            self._emit(ChangeEvent(self.kind, "delete", [record["id"]]))
        return record

    def _emit(self, event: ChangeEvent) -> None:
        for listener in list(self.listeners):
            listener(event)


class _Top:
    """Sorts after every id key (int or str): the probe for "strictly after this moment"."""

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
