"""The provider's COQL reads: records by id and keyset pages of changed records on (Modified_Time, id), with the
columns one query cannot carry (SYNC_COQL_MAX_COLUMNS) read by id and merged; and the deleted-records log.
Rows come back in the JSON shape COQL answers; provider.py maps them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from crm.errors import CrmNotFound
from crm.providers.zoho.client import COQL_MAX_LIMIT, ZohoClient
from crm.providers.zoho.mapping import ModuleMapping
from crm.providers.zoho.translation import PROVIDER
from crm.records import CanonicalRecord, Cursor, DeletedRecord

IN_LIMIT = 100  # COQL `in` takes at most 100 values


def checked_id(record_id: str) -> str:
    """The id as text, or CrmNotFound (INVALID_ID) when it is no Zoho record id (Zoho's ids are digits)."""
    value = str(record_id)
    if not value.isdigit():
        raise CrmNotFound(f"{value!r} is not a Zoho record id", provider=PROVIDER, code="INVALID_ID")
    return value


def coql_time(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).replace(microsecond=0).isoformat() + "'"


def records_by_id(
    client: ZohoClient,
    *,
    module: str,
    ids: Sequence[str],
    mapping: ModuleMapping,
    canonical: Callable[[dict[str, Any]], CanonicalRecord],
) -> list[CanonicalRecord]:
    """COQL `id in (...)` queries of at most 100 ids, with the same columns and merges as a delta page."""
    first, rest = column_groups(mapping)
    found: list[CanonicalRecord] = []
    for start in range(0, len(ids), IN_LIMIT):
        listed = ", ".join(f"'{record_id}'" for record_id in ids[start : start + IN_LIMIT])
        query = f"select {', '.join(first)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        rows = (client.coql(query=query, limit=IN_LIMIT) or {}).get("data") or []
        for columns in rest:
            merge_columns(client, module, rows, columns)
        found.extend(canonical(row) for row in rows)
    return found


def changed_rows(
    client: ZohoClient, *, module: str, mapping: ModuleMapping, cursor: Cursor, page_size: int
) -> tuple[list[dict[str, Any]], bool]:
    """One COQL keyset page ordered by (Modified_Time, id) after the cursor, its other column groups merged, and
    whether Zoho has more."""
    size = max(1, min(int(page_size), COQL_MAX_LIMIT))
    first, rest = column_groups(mapping)
    if cursor.modified_time is None:
        where = "id is not null"
    elif not cursor.record_id:
        where = f"Modified_Time >= {coql_time(cursor.modified_time)}"
    else:
        moment, last_id = coql_time(cursor.modified_time), checked_id(cursor.record_id)
        where = f"((Modified_Time > {moment}) or (Modified_Time = {moment} and id > '{last_id}'))"
    query = (
        f"select {', '.join(first)} from {module} where {where} "  # noqa: S608 (COQL, names from Zoho's metadata)
        f"order by Modified_Time asc, id asc limit {size}"
    )
    body = client.coql(query=query, limit=size) or {}
    rows = body.get("data") or []
    for columns in rest:
        merge_columns(client, module, rows, columns)
    return rows, bool(rows) and bool((body.get("info") or {}).get("more_records"))


def deleted(client: ZohoClient, *, module: str, since: datetime | None) -> Iterator[DeletedRecord]:
    for entry in client.deleted_records(module=module, type="all", since=since):
        moment = entry.get("deleted_time")
        try:
            deleted_at = datetime.fromisoformat(str(moment)).astimezone(UTC) if moment else None
        except ValueError:
            deleted_at = None
        yield DeletedRecord(id=str(entry.get("id")), deleted_at=deleted_at)


def column_groups(mapping: ModuleMapping) -> tuple[list[str], list[list[str]]]:
    """The module's columns in groups one COQL query can carry: the first with Modified_Time, then the rest."""
    columns = [
        "Modified_Time",
        *[name for name in mapping.columns if name not in ("id", "Modified_Time")],
    ]
    width = max(int(settings.SYNC_COQL_MAX_COLUMNS), 2)
    groups = [columns[start : start + width] for start in range(0, len(columns), width)]
    return groups[0], groups[1:]


def merge_columns(client: ZohoClient, module: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Columns the first query could not carry, read by id and merged (the row keeps its Modified_Time: a
    record edited in between comes again past the cursor with its new values)."""
    by_id = {str(row["id"]): row for row in rows}
    ids = list(by_id)
    for start in range(0, len(ids), IN_LIMIT):
        listed = ", ".join(f"'{checked_id(record_id)}'" for record_id in ids[start : start + IN_LIMIT])
        query = f"select {', '.join(columns)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        for extra in (client.coql(query=query, limit=IN_LIMIT) or {}).get("data") or []:
            row = by_id.get(str(extra.get("id")))
            if row is not None:
                row.update({name: value for name, value in extra.items() if name != "Modified_Time"})
