"""Get Records' orders and page tokens, on the kit's sorted store and cursors (sandbox/kit/store.py, cursors.py;
Zoho's paging rules: docs/vendors/zoho-crm.md, "Get Records").

Orders: `id`, `Modified_Time` and `Created_Time`, each with ties broken by id, so keyset paging (`after` a sort
key) is exact. A page token is an opaque kit cursor (48 hex chars, Zoho allows up to 96) bound to the module and
every query parameter but `page_token` and `page`, holding where the next page starts (the last sort key), how
many records came before it (for the 100,000 cap) and when it expires (`config.page_token_ttl_seconds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.kit import cursors
from sandbox.kit.store import Key
from sandbox.zoho_crm.store import RecordStore

SORTS = ("id", "Created_Time", "Modified_Time")
ORDERS = {"id": "id", "Created_Time": "created", "Modified_Time": "modified"}  # Zoho's sort_by -> kit order
PageToken = cursors.Cursor

__all__ = ["SORTS", "Key", "PageToken", "binding_of", "sort_key", "walk"]


def sort_key(store: RecordStore, sort_by: str, record: dict[str, Any]) -> Key:
    return store.key_of(record, ORDERS[sort_by])


def walk(
    store: RecordStore, sort_by: str, *, descending: bool, after: Key | None = None
) -> Iterator[tuple[Key, dict[str, Any]]]:
    """(key, record) in order, starting past `after`. Hold `store.lock` while consuming it."""
    return store.walk(ORDERS[sort_by], descending=descending, after=after)


def binding_of(module: str, params: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What a token is bound to: the module and every parameter but the paging ones."""
    return cursors.binding_of(module, params, paging=("page_token", "page"))
