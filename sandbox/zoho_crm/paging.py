"""Ordered walks over a module's records and Get Records' page tokens (api-facts A4).

Orders: `id`, `Modified_Time` (the store's own sorted indexes) and `Created_Time` (a sorted index built on
demand and kept until records are added or removed; Created_Time never changes). Every order breaks ties by
id, so keyset paging (`after` a sort key) is exact. Reading the store's indexes (`_by_id`, `_by_modified`)
is deliberate: they are the store's sorted lists, shared by this package only.

A page token is opaque (48 hex chars, Zoho allows up to 96), kept server-side with what it is bound to (the
module and every query parameter but `page_token` and `page`), where the next page starts (the last sort key) and how
many records came before it (for the 100,000 cap), and when it expires (`config.page_token_ttl_seconds`).
"""

from __future__ import annotations

import bisect
import secrets
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.zoho_crm.store import RecordStore, parse_zoho_datetime

SORTS = ("id", "Created_Time", "Modified_Time")
Key = tuple[float, int]
_created_indexes: weakref.WeakKeyDictionary[RecordStore, tuple[tuple[int, int, int], list[Key]]] = (
    weakref.WeakKeyDictionary()
)


def _created_index(store: RecordStore) -> list[Key]:
    signature = (len(store.records), store.id_index[-1] if store.id_index else 0, len(store.deleted))
    cached = _created_indexes.get(store)
    if cached is None or cached[0] != signature:
        index = sorted(
            (parse_zoho_datetime(record["Created_Time"]).timestamp(), int(record_id))
            for record_id, record in store.records.items()
        )
        cached = (signature, index)
        _created_indexes[store] = cached
    return cached[1]


def _keys(store: RecordStore, sort_by: str) -> list:
    if sort_by == "id":
        return store.id_index
    if sort_by == "Modified_Time":
        return store.modified_index
    return _created_index(store)


def sort_key(store: RecordStore, sort_by: str, record: dict[str, Any]) -> Key:
    if sort_by == "id":
        return (0.0, int(record["id"]))
    field = "Modified_Time" if sort_by == "Modified_Time" else "Created_Time"
    return (parse_zoho_datetime(record[field]).timestamp(), int(record["id"]))


def walk(
    store: RecordStore, sort_by: str, *, descending: bool, after: Key | None = None
) -> Iterator[tuple[Key, dict[str, Any]]]:
    """(key, record) in order, starting past `after`. Hold `store.lock` while consuming it."""
    keys = _keys(store, sort_by)
    as_key: Callable[[Any], Key] = (lambda item: (0.0, item)) if sort_by == "id" else (lambda item: item)
    probe: Any = None
    if after is not None:
        probe = after[1] if sort_by == "id" else after
    if descending:
        stop = bisect.bisect_left(keys, probe) if probe is not None else len(keys)
        indexes: Any = range(stop - 1, -1, -1)
    else:
        start = bisect.bisect_right(keys, probe) if probe is not None else 0
        indexes = range(start, len(keys))
    for index in indexes:
        item = keys[index]
        record = store.records.get(str(item if sort_by == "id" else item[1]))
        if record is not None:
            yield as_key(item), record


@dataclass
class PageToken:
    token: str
    module: str
    binding: tuple[tuple[str, str], ...]
    offset: int  # records returned before the page this token opens
    after: Key
    expires_at: float


def binding_of(module: str, params: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What a token is bound to: the module and every parameter but the paging ones."""
    pairs = sorted((key, value) for key, value in params.items() if key not in ("page_token", "page"))
    return (*pairs, ("$module", module))


def issue(
    tokens: dict[str, Any], *, module: str, binding, offset: int, after: Key, now: float, ttl: float
) -> PageToken:
    if len(tokens) > 2000:  # forget expired tokens now and then
        for value, token in list(tokens.items()):
            if token.expires_at <= now:
                del tokens[value]
    token = PageToken(secrets.token_hex(24), module, binding, offset, after, now + ttl)
    tokens[token.token] = token
    return token
