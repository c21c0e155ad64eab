"""Full reconciliation of one (organization, module): every id in Zoho against the mirror.

    run = reconcile_run(organization=org, module="Leads")

The delta sync reads by Modified_Time and the deleted-records endpoint, so it misses what changes neither: records
deleted for good (recycle bin emptied, deleted past its retention) and formula fields, which Zoho recomputes without
touching Modified_Time. This run reads every id with the module's formula fields by keyset COQL on id, one page at a
time; per page it writes the formula values that differ and fetches in full the records the mirror lacks (or holds
as deleted). The ids seen go into a temporary table, so at the end one query finds the mirror rows Zoho no longer
has, whatever the module's size, without holding every id in memory. Same lock as the delta sync; no transaction
is open during a Zoho call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sentry_sdk
import structlog

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import ZohoRequestError
from studios.models import Organization, ProviderAccount
from sync.mapping import MappedRecord, ModuleMapping, crm_record_map
from sync.models import CrmRecord, SyncRun, SyncState
from sync.reads import columns_merge, module_mapping_get, records_read_by_ids
from sync.runs import run_begin, run_checkpoint, run_client, run_end
from sync.sql_views import mirror_view_refresh_quietly
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)
# COQL selects at most 5 formula fields per query (docs/vendors/zoho-crm.md, COQL); more are read by id and merged.
FORMULAS_PER_QUERY = 5
DELETE_CHUNK = 1000


def reconcile_run(
    *, organization: Organization, module: str, account: ProviderAccount | None = None, client: ZohoClient | None = None
) -> SyncRun:
    """Reconcile one module of one organization now; returns the run (ok, failed, or skipped if one is running)."""
    run, state = run_begin(organization=organization, module=module, kind=SyncRun.Kind.RECONCILE)
    if state is None:
        return run
    run.watermark_before = state.watermark
    run.save(update_fields=["watermark_before"])
    try:
        if client is None:
            client = run_client(organization=organization, account=account)
        mapping = _reconcile(client, state, run)
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("organization", organization.slug)
            scope.set_tag("module", module)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.reconcile.failed", run_id=run.pk, zoho_module=module)
        run_end(
            state=state,
            run=run,
            client=client,
            status=SyncRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            keep_checkpoint=True,
        )
        return run
    # Everything Zoho held when the run started is reconciled: the time to count the next one from.
    started = run.started_at
    run_end(state=state, run=run, client=client, status=SyncRun.Status.OK, keep_checkpoint=True, reconciled_at=started)
    mirror_view_refresh_quietly(mapping=mapping)
    return run


def formula_fields(metadata: list[dict[str, Any]], mapping: ModuleMapping) -> list[str]:
    """The API names of the module's mirrored formula fields."""
    return [
        str(meta["api_name"])
        for meta in metadata
        if str(meta.get("data_type") or "").lower() == "formula" and meta.get("api_name") in mapping.specs
    ]


# --- the run -------------------------------------------------------------------------------------------------
def _reconcile(client: ZohoClient, state: SyncState, run: SyncRun) -> ModuleMapping:
    metadata = client.fields_get(module=run.module)
    mapping = module_mapping_get(client=client, module=run.module, metadata=metadata)
    formulas = formula_fields(metadata, mapping)
    first, rest = (
        formulas[:FORMULAS_PER_QUERY],
        [
            formulas[start : start + FORMULAS_PER_QUERY]
            for start in range(FORMULAS_PER_QUERY, len(formulas), FORMULAS_PER_QUERY)
        ],
    )
    with _SeenIds(run.pk) as seen:
        for page in _id_pages(client, run.module, ["id", "Modified_Time", *first]):
            for extra in rest:
                columns_merge(client=client, module=run.module, batch=page, columns=extra)
            seen.add([str(row["id"]) for row in page])
            missing = _formulas_apply(state, run, mapping, formulas, page)
            if missing:
                _records_fetch(client, state, run, mapping, missing)
        _gone_mark(state, run, seen)
    return mapping


def _id_pages(client: ZohoClient, module: str, columns: list[str]) -> Iterator[list[dict[str, Any]]]:
    """Every record of the module, in pages ordered by id: keyset on id, so it reaches past 100,000 records."""
    select = f"select {', '.join(columns)} from {module}"  # noqa: S608 (COQL to Zoho; names from Zoho's metadata)
    page_size = settings.SYNC_COQL_PAGE_SIZE
    last = ""
    while True:
        criteria = f"id > '{last}'" if last else "id is not null"
        body = client.coql(query=f"{select} where {criteria} order by id asc limit {page_size}", limit=page_size)
        rows = (body or {}).get("data") or []
        if rows:
            yield rows
        if not rows or not (body.get("info") or {}).get("more_records"):
            return
        newest = str(rows[-1]["id"])
        if not newest.isdigit() or (last and int(newest) <= int(last)):
            raise ZohoRequestError("COQL keyset paging on id did not advance", code="KEYSET_STALLED")
        last = newest


def _formulas_apply(
    state: SyncState, run: SyncRun, mapping: ModuleMapping, formulas: list[str], page: list[dict[str, Any]]
) -> list[str]:
    """Write the formula values of this page that differ from the mirror's; the ids to fetch in full (not in
    the mirror, or held as deleted while Zoho still has them: restored). Only the formula keys are read for the
    comparison; whole rows only for those that changed (they are rehashed)."""
    ids = [str(row["id"]) for row in page]
    specs = [mapping.specs[name] for name in formulas]
    keys = {
        f"formula_{index}": KeyTransform(spec.key, "custom_fields" if spec.custom else "fields")
        for index, spec in enumerate(specs)
    }
    scoped = CrmRecord.objects.unscoped().filter(  # the run's own organization, filtered here
        organization_id=run.organization_id, module=run.module
    )
    stored = {
        zoho_id: (deleted_at, values)
        for zoho_id, deleted_at, *values in scoped.filter(zoho_id__in=ids)
        .annotate(**keys)
        .values_list("zoho_id", "deleted_at", *keys)
    }
    missing = [zoho_id for zoho_id in ids if zoho_id not in stored or stored[zoho_id][0] is not None]
    missing_set = set(missing)
    fresh: dict[str, MappedRecord] = {}
    for row in page:
        if not specs or str(row["id"]) in missing_set:
            continue
        values = stored[str(row["id"])][1]
        mapped = crm_record_map(mapping=mapping, record=row, region=settings.SYNC_PHONE_DEFAULT_REGION)
        for spec, value in zip(specs, values, strict=True):
            source = mapped.custom_fields if spec.custom else mapped.fields
            if spec.key in source and source[spec.key] != value:
                fresh[mapped.zoho_id] = mapped
                break
    changed: list[CrmRecord] = []
    now = timezone.now()
    hashed = ["zoho_id", "name", "email", "owner_id", "owner_name", "fields", "custom_fields"]
    for held in scoped.filter(zoho_id__in=list(fresh)).only(*hashed) if fresh else []:
        mapped = fresh[held.zoho_id]
        for spec in specs:
            source, target = (mapped.custom_fields, held.custom_fields) if spec.custom else (mapped.fields, held.fields)
            if spec.key in source:
                target[spec.key] = source[spec.key]
        held.content_hash = _content_hash(held)
        changed.append(held)
    with transaction.atomic():
        if changed:
            _rows_update(run, changed, now)
            SyncRun.objects.unscoped().filter(pk=run.pk).update(updated=F("updated") + len(changed))
        run_checkpoint(state=state, run=run, now=now)  # renews the lease; a run that lost the lock rolls this back
    return missing


def _rows_update(run: SyncRun, rows: list[CrmRecord], now: datetime) -> None:
    """Write the rows' JSON columns and hash: on PostgreSQL one UPDATE ... FROM jsonb_to_recordset (Django's
    bulk_update, a CASE per row and column, took seconds per page); elsewhere bulk_update."""
    if connection.vendor != "postgresql":
        for row in rows:
            row.synced_at, row.run_id = now, run.pk
        scoped = CrmRecord.objects.for_organization(run.organization).filter(module=run.module)
        scoped.bulk_update(rows, ["fields", "custom_fields", "content_hash", "synced_at", "run"], batch_size=500)
        return
    batch = [
        {"id": row.pk, "fields": row.fields, "custom_fields": row.custom_fields, "content_hash": row.content_hash}
        for row in rows
    ]
    sql = (
        f"UPDATE {CrmRecord._meta.db_table} AS r SET fields = v.fields, custom_fields = v.custom_fields, "  # noqa: S608
        "content_hash = v.content_hash, synced_at = %s, run_id = %s "
        "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, fields jsonb, custom_fields jsonb, content_hash text) "
        "WHERE r.id = v.id AND r.organization_id = %s AND r.module = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, run.pk, json.dumps(batch), run.organization_id, run.module])


def _content_hash(row: CrmRecord) -> str:
    """The hash a full upsert of the same values computes (MappedRecord.content_hash), so the next delta run does
    not see the record as changed."""
    return MappedRecord(
        zoho_id=row.zoho_id,
        modified_time=timezone.now(),
        name=row.name,
        email=row.email,
        owner_id=row.owner_id,
        owner_name=row.owner_name,
        fields=row.fields,
        custom_fields=row.custom_fields,
    ).content_hash


def _records_fetch(client: ZohoClient, state: SyncState, run: SyncRun, mapping: ModuleMapping, ids: list[str]) -> None:
    """Read records in full by id (every column, in as many queries as the column cap needs) and upsert them."""
    rows = records_read_by_ids(client=client, module=run.module, mapping=mapping, ids=ids)
    mapped = [crm_record_map(mapping=mapping, record=row, region=settings.SYNC_PHONE_DEFAULT_REGION) for row in rows]
    now = timezone.now()
    with transaction.atomic():
        result = crm_records_upsert(
            organization_id=run.organization_id, module=run.module, records=mapped, run_id=run.pk, now=now
        )
        run_checkpoint(state=state, run=run, now=now)
        SyncRun.objects.unscoped().filter(pk=run.pk).update(
            inserted=F("inserted") + result.inserted,
            updated=F("updated") + result.updated,
            quarantined=F("quarantined") + result.quarantined,
        )


def _gone_mark(state: SyncState, run: SyncRun, seen: _SeenIds) -> None:
    """Mirror rows whose id Zoho no longer has: deleted for good (the deleted-records endpoint no longer lists
    them, or never did). They are marked deleted now."""
    while gone := seen.absent(organization_id=run.organization_id, module=run.module, limit=DELETE_CHUNK):
        now = timezone.now()
        with transaction.atomic():
            marked = crm_records_mark_deleted(
                organization_id=run.organization_id,
                module=run.module,
                deletions=dict.fromkeys(gone, now),
                run_id=run.pk,
                now=now,
            )
            run_checkpoint(state=state, run=run, now=now)
            SyncRun.objects.unscoped().filter(pk=run.pk).update(deleted=F("deleted") + marked)


class _SeenIds:
    """A temporary table of the ids Zoho listed (COPY on PostgreSQL), dropped when the run ends."""

    def __init__(self, run_id: int) -> None:
        self.table = f"sync_reconcile_seen_{int(run_id)}"

    def __enter__(self) -> _SeenIds:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} (zoho_id varchar(32) PRIMARY KEY)")
        return self

    def __exit__(self, *exc: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def add(self, ids: list[str]) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY {self.table} (zoho_id) FROM STDIN") as copy:
                    for zoho_id in ids:
                        copy.write_row((zoho_id,))
            else:
                rows = [(zoho_id,) for zoho_id in ids]
                cursor.executemany(f"INSERT INTO {self.table} (zoho_id) VALUES (%s)", rows)  # noqa: S608

    def absent(self, *, organization_id: int, module: str, limit: int) -> list[str]:
        """Up to `limit` ids of live mirror rows that Zoho did not list."""
        sql = (
            f"SELECT r.zoho_id FROM {CrmRecord._meta.db_table} r "  # noqa: S608 (the table names are ours)
            "WHERE r.organization_id = %s AND r.module = %s AND r.deleted_at IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {self.table} s WHERE s.zoho_id = r.zoho_id) "
            "ORDER BY r.zoho_id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [organization_id, module, limit])
            return [row[0] for row in cursor.fetchall()]
