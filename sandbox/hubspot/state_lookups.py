"""Indexes for idProperty lookups (`find_by`): one per (object type, property), built at the first lookup and kept
right by every write, so upserts and reads by a unique property stay quick on 100,000 records. Emails compare
case-blind, as HubSpot matches them.

Locks: a lookup takes the store's lock, then this index's; writes call `track` while holding the store's lock,
so the order is the same everywhere.
"""

from __future__ import annotations

import threading
from typing import Any

Record = dict[str, Any]


def lookup_key(property_name: str, value: Any) -> str:
    return str(value).lower() if property_name == "email" else str(value)


class Lookups:
    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str], dict[str, str]] = {}  # (type, property) -> {value: record id}
        self.lock = threading.RLock()

    def find(self, store: Any, object_type: str, property_name: str, value: Any) -> Record | None:
        """The live record of `store` whose property has this value, or None."""
        wanted = lookup_key(property_name, value)
        with store.lock, self.lock:
            index = self._indexes.get((object_type, property_name))
            if index is None:
                index = {}
                for record in store.records.values():
                    found = record["properties"].get(property_name)
                    if found:
                        index.setdefault(lookup_key(property_name, found), record["id"])
                self._indexes[(object_type, property_name)] = index
            record_id = index.get(wanted)
        record = store.get(record_id) if record_id else None
        if record is None or lookup_key(property_name, record["properties"].get(property_name, "")) != wanted:
            return None
        return record

    def track(self, object_type: str, record_id: str, before: Record | None, after: Record | None) -> None:
        """A record's properties changed (None: it did not exist before / is gone now)."""
        with self.lock:
            for (kind, name), index in self._indexes.items():
                if kind != object_type:
                    continue
                old = (before or {}).get(name)
                new = (after or {}).get(name)
                if old == new and before is not None and after is not None:
                    continue
                if old and index.get(lookup_key(name, old)) == record_id:
                    del index[lookup_key(name, old)]
                if new:
                    index.setdefault(lookup_key(name, new), record_id)

    def forget(self, object_type: str, property_name: str | None = None) -> None:
        """Drop indexes after writes that bypass `track` (seeding, stamping): rebuilt at the next lookup."""
        with self.lock:
            for key in [key for key in self._indexes if key[0] == object_type]:
                if property_name is None or key[1] == property_name:
                    del self._indexes[key]
