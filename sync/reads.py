"""What every kind of run reads from the CRM besides its own pages: changed records as batches, records by id.

for batch in batches(changed_records(provider=provider, object="lead", cursor=Cursor.start()), size=1000):
    ...
found, missing = records_by_ids(provider=provider, object="lead", ids=["5725767000000412001"])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from django.conf import settings

from crm.provider import CrmProvider
from crm.records import CanonicalRecord, Cursor

T = TypeVar("T")


def changed_records(*, provider: CrmProvider, object: str, cursor: Cursor) -> Iterator[CanonicalRecord]:
    """Every record changed after `cursor`, page after page (the provider keeps ties and mid-run edits right)."""
    page_size = settings.SYNC_COQL_PAGE_SIZE
    while True:
        page = provider.changed_since(object=object, cursor=cursor, page_size=page_size)
        yield from page.records
        if not page.has_more or not page.records:
            return
        cursor = page.cursor


def records_by_ids(
    *, provider: CrmProvider, object: str, ids: Iterable[str]
) -> tuple[list[CanonicalRecord], list[str]]:
    """The records by id (as few calls as the provider can make), and the ids the CRM no longer has (deleted or
    merged since)."""
    wanted = list(dict.fromkeys(ids))
    found = provider.records(object=object, record_ids=wanted)
    have = {record.id for record in found}
    return found, [record_id for record_id in wanted if record_id not in have]


def batches(items: Iterable[T], *, size: int) -> Iterator[list[T]]:
    """The items in lists of `size` (the last one shorter), read lazily: never every item in memory."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
