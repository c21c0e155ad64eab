"""Server-side paging cursors: opaque tokens bound to the query that made them, with where the next page starts.

Zoho's page_token, Salesforce's queryLocator (`nextRecordsUrl`), Dataverse's `$skiptoken` inside
`@odata.nextLink` and HubSpot's `after` all work this way from the client's side: an opaque string that
only continues the same query, for a while. A `Cursor` keeps the binding (whatever identifies the query: an
object type and every parameter but the paging ones), the key the next page starts after (a store key, see
store.py), how many records came before it (for caps such as Zoho's 100,000 or HubSpot search's 10,000) and
when it expires on the emulator's clock. `CursorBook.check` tells the vendor which of its errors to answer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

UNKNOWN, MISMATCH, EXPIRED = "unknown", "mismatch", "expired"


@dataclass
class Cursor:
    token: str
    kind: str  # the object type it pages
    binding: tuple[tuple[str, str], ...]
    offset: int  # records returned before the page this cursor opens
    after: Any  # the last key the previous page returned
    expires_at: float  # epoch seconds on the emulator's clock


def binding_of(kind: str, params: dict[str, str], *, paging: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """What a cursor is bound to: the object type and every parameter but the paging ones."""
    pairs = sorted((key, value) for key, value in params.items() if key not in paging)
    return (*pairs, ("$kind", kind))


class CursorBook(dict[str, Cursor]):
    """Live cursors by token (a dict, so tests can reach in and age or move one)."""

    def __init__(self, *, token_bytes: int = 24, keep: int = 2000) -> None:
        super().__init__()
        self.token_bytes = token_bytes  # 24 bytes = 48 hex characters
        self.keep = keep  # beyond this many, expired cursors are forgotten at the next issue

    def issue(self, *, kind: str, binding: Any, offset: int, after: Any, now: float, ttl: float) -> Cursor:
        if len(self) > self.keep:
            for token, cursor in list(self.items()):
                if cursor.expires_at <= now:
                    del self[token]
        cursor = Cursor(secrets.token_hex(self.token_bytes), kind, binding, offset, after, now + ttl)
        self[cursor.token] = cursor
        return cursor

    def check(self, token: str, *, binding: Any, now: float) -> Cursor | str:
        """The cursor, or why it cannot continue: UNKNOWN (never issued or forgotten), MISMATCH (another
        query's), EXPIRED."""
        cursor = self.get(token)
        if cursor is None:
            return UNKNOWN
        if cursor.binding != binding:
            return MISMATCH
        if now >= cursor.expires_at:
            return EXPIRED
        return cursor
