"""What every kind of run reads from Zoho besides its own pages: a module's mapping, records by id, wide columns.

    mapping = module_mapping_get(client=client, module="Leads")
    rows = records_read_by_ids(client=client, module="Leads", mapping=mapping, ids=["5725767000000412001"])

COQL selects at most `SYNC_COQL_MAX_COLUMNS` columns per query and takes at most `IN_LIMIT` values in `id in`,
so a wide module is read in several queries merged by id, and ids in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.conf import settings

from crm.providers.zoho.client import ZohoClient
from sync.mapping import ModuleMapping, display_field_of, module_mapping_build

IN_LIMIT = 100  # COQL `in` takes at most 100 values (v7+)


def module_mapping_get(
    *, client: ZohoClient, module: str, metadata: list[dict[str, Any]] | None = None
) -> ModuleMapping:
    """The module's mapping from its metadata (read here unless given); the name field of each lookup target
    comes from its metadata."""
    if metadata is None:
        metadata = client.fields_get(module=module)
    targets = {
        ((meta.get("lookup") or {}).get("module") or {}).get("api_name") for meta in metadata if meta.get("lookup")
    }
    display_fields = {module: display_field_of(metadata)}
    for target in sorted(name for name in targets if name and name not in display_fields):
        display_fields[target] = display_field_of(client.fields_get(module=target))
    currency = ""
    if any(str(meta.get("data_type")) == "currency" for meta in metadata):
        currency = str(client.org_get().get("iso_code") or "")
    return module_mapping_build(module=module, metadata=metadata, display_fields=display_fields, currency_code=currency)


def records_read_by_ids(
    *, client: ZohoClient, module: str, mapping: ModuleMapping, ids: list[str]
) -> list[dict[str, Any]]:
    """Records by id with every mapped column: COQL `id in` (100 at a time), wide modules in several queries merged
    by id. Modified_Time is in the first query: the merge keeps the row's own, so it must come from there."""
    columns = ["Modified_Time", *[name for name in mapping.columns if name not in ("id", "Modified_Time")]]
    width = max(settings.SYNC_COQL_MAX_COLUMNS, 1)
    first, *rest = [columns[start : start + width] for start in range(0, len(columns), width)]
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), IN_LIMIT):
        chunk = [record_id for record_id in ids[start : start + IN_LIMIT] if record_id.isdigit()]
        if not chunk:
            continue
        listed = ", ".join(f"'{record_id}'" for record_id in chunk)
        query = f"select {', '.join(first)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        fetched = (client.coql(query=query, limit=IN_LIMIT) or {}).get("data") or []
        for extra in rest:
            columns_merge(client=client, module=module, batch=fetched, columns=extra)
        rows.extend(fetched)
    return rows


def columns_merge(*, client: ZohoClient, module: str, batch: list[dict[str, Any]], columns: list[str]) -> None:
    """Columns one query cannot carry, read by id and merged into the batch's rows (all but Modified_Time)."""
    # A record edited in between gives newer values here, but its new Modified_Time also puts it past the cursor,
    # so it is read (and written) again later.
    by_id = {str(row["id"]): row for row in batch}
    ids = list(by_id)
    for start in range(0, len(ids), IN_LIMIT):
        chunk = ids[start : start + IN_LIMIT]
        listed = ", ".join(f"'{record_id}'" for record_id in chunk if record_id.isdigit())
        query = f"select {', '.join(columns)} from {module} where id in ({listed}) limit {IN_LIMIT}"  # noqa: S608
        body = client.coql(query=query, limit=IN_LIMIT) or {}
        for row in body.get("data") or []:
            # The page's Modified_Time stays: it is the cursor's, and the checkpoint and watermark are taken from
            # it. A newer one from here would move them past records the cursor has not reached yet.
            row.pop("Modified_Time", None)
            by_id.get(str(row.get("id")), {}).update(row)


def batches(rows: Iterator[dict[str, Any]], *, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows in lists of `size` (the last one shorter), read lazily: never every row in memory."""
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch
