"""Delta sync of one (organization, module) from Zoho into the mirror.

    run = sync_run(organization=org, module="Leads")

The run reads every record changed since the watermark in keyset pages of COQL, writes them in batches, then the
deletions Zoho lists. No database transaction is open during a Zoho call: records are read, then each batch is
written, checkpointed and counted in one short transaction. The watermark moves only with a committed batch; a
run that died leaves its checkpoint, and the next run resumes from it minus the overlap (see `_where`) instead of
from the start. The run row, the lock and the checkpoint are `sync/runs.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sentry_sdk
import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.providers.zoho.client import ZohoClient
from studios.models import Organization, ProviderAccount
from sync.mapping import ModuleMapping, crm_record_map
from sync.models import SyncRun, SyncState
from sync.prefetch import Prefetcher
from sync.reads import batches, columns_merge, module_mapping_get
from sync.runs import run_begin, run_checkpoint, run_client, run_end
from sync.sql_views import mirror_view_refresh_quietly
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)


def sync_run(
    *, organization: Organization, module: str, account: ProviderAccount | None = None, client: ZohoClient | None = None
) -> SyncRun:
    """Sync one module of one organization now; returns the run (ok, failed, or skipped if one is running)."""
    run, state = run_begin(organization=organization, module=module, kind=SyncRun.Kind.DELTA)
    if state is None:
        return run
    run.watermark_before = state.watermark
    run.resumed = state.checkpoint_time is not None
    run.save(update_fields=["watermark_before", "resumed"])
    try:
        if client is None:
            client = run_client(organization=organization, account=account)
        mapping = _records_sync(client, state, run)
        deletions_sync(client=client, state=state, run=run)
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:  # the Sentry event of this log line says which run failed
            scope.set_tag("organization", organization.slug)
            scope.set_tag("module", module)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.run.failed", run_id=run.pk, zoho_module=module)
        run_end(state=state, run=run, client=client, status=SyncRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        return run
    run_end(state=state, run=run, client=client, status=SyncRun.Status.OK)
    mirror_view_refresh_quietly(mapping=mapping)  # one query unless the module's standard fields changed
    _channel_check(run)
    return run


def deletions_sync(*, client: ZohoClient, state: SyncState, run: SyncRun) -> None:
    """Mark deleted what Zoho's deleted-records list names since the deletions watermark (minus the overlap)."""
    since = (
        state.deleted_watermark - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS) if state.deleted_watermark else None
    )
    deletions: dict[str, datetime] = {}
    for item in client.deleted_records(module=run.module, type="all", since=since):
        moment = datetime.fromisoformat(item["deleted_time"])
        deletions[str(item["id"])] = moment
    newest = max(deletions.values(), default=None)
    now = timezone.now()
    with transaction.atomic():
        marked = crm_records_mark_deleted(
            organization_id=run.organization_id, module=run.module, deletions=deletions, run_id=run.pk, now=now
        )
        extra = {"deleted_watermark": max(filter(None, [newest, state.deleted_watermark]))} if newest else {}
        run_checkpoint(state=state, run=run, now=now, **extra)
        SyncRun.objects.unscoped().filter(pk=run.pk).update(deleted=F("deleted") + marked)


def _channel_check(run: SyncRun) -> None:
    """Changes a live notification channel should have announced: is it still there at Zoho? (sync/notifications.py)"""
    from sync.notifications import channel_check_after_run

    note = channel_check_after_run(run=run)
    if note:
        run.error = note[:2000]
        SyncRun.objects.unscoped().filter(pk=run.pk).update(error=run.error)  # the run this call made


def _records_sync(client: ZohoClient, state: SyncState, run: SyncRun) -> ModuleMapping:
    mapping = module_mapping_get(client=client, module=run.module)
    columns = mapping.columns
    width = max(settings.SYNC_COQL_MAX_COLUMNS - 1, 1)  # coql_iter adds Modified_Time
    first, rest = columns[:width], [columns[start : start + width] for start in range(width, len(columns), width)]
    where, page_size = _where(state), settings.SYNC_COQL_PAGE_SIZE
    # max_reach=0: keyset pages on (Modified_Time, id) from the first page. OFFSET pages skip records: a record
    # edited mid-run leaves its place, every later record moves up one, and the next OFFSET misses one of them.
    rows = client.coql_iter(module=run.module, fields=first, where=where, page_size=page_size, max_reach=0)
    # The next batch is read from Zoho in a background thread while this one is mapped and written here (one batch
    # ahead: flat memory); the checkpoint and watermark move only with a batch this thread committed.
    with Prefetcher(_batches_read(client, run.module, rows, rest), name=f"sync-prefetch-{run.pk}") as pages:
        for batch in pages:
            mapped = [
                crm_record_map(mapping=mapping, record=row, region=settings.SYNC_PHONE_DEFAULT_REGION) for row in batch
            ]
            last = batch[-1]
            now = timezone.now()
            with transaction.atomic():
                result = crm_records_upsert(
                    organization_id=run.organization_id, module=run.module, records=mapped, run_id=run.pk, now=now
                )
                moment = mapped[-1].modified_time
                watermark = max(filter(None, [state.watermark, moment]))  # the overlap re-reads older records
                run_checkpoint(
                    state=state,
                    run=run,
                    now=now,
                    checkpoint_time=moment,
                    checkpoint_id=str(last["id"]),
                    watermark=watermark,
                )
                SyncRun.objects.unscoped().filter(pk=run.pk).update(
                    inserted=F("inserted") + result.inserted,
                    updated=F("updated") + result.updated,
                    quarantined=F("quarantined") + result.quarantined,
                )
    return mapping


def _batches_read(
    client: ZohoClient, module: str, rows: Iterator[dict[str, Any]], rest: list[list[str]]
) -> Iterator[list[dict[str, Any]]]:
    """Batches of `rows`, each completed with the columns past the first COQL query's (Zoho calls only: this runs
    in the prefetch thread, which never touches the database)."""
    for batch in batches(rows, size=settings.SYNC_BATCH_SIZE):
        for extra in rest:
            columns_merge(client=client, module=module, batch=batch, columns=extra)
        yield batch


def _where(state: SyncState) -> str | None:
    """The COQL condition: from a crashed run's checkpoint, else from the watermark, minus the overlap either way."""
    if state.checkpoint_time is not None:
        # Not exactly after (checkpoint time, id): the keyset skips a record edited in the second its cursor was
        # in (same Modified_Time, lower id), and only the overlap re-reads it. The dead run's lease keeps the next
        # run out for minutes of further edits, whose Modified_Times carry the watermark past any overlap after.
        return f"Modified_Time >= {_literal(state.checkpoint_time - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS))}"
    if state.watermark is None:
        return None
    return f"Modified_Time >= {_literal(state.watermark - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS))}"


def _literal(moment: datetime) -> str:
    return "'" + moment.astimezone(UTC).replace(microsecond=0).isoformat() + "'"
