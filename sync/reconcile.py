"""Full reconciliation of one (organization, connection, object): everything the CRM holds against the mirror.

    run = reconcile_run(organization=org, object="lead")

The delta sync reads by modified time and the CRM's deleted-records list, so it misses what changes neither:
records deleted for good (recycle bin emptied, deleted past its retention, or a CRM that lists no deletions) and
computed fields (formulas), which a CRM may recompute without touching the modified time. This run reads every
record from the start (`changed_since` from the beginning, page after page) and writes each batch with the guarded
upsert: records the mirror lacks or holds as deleted are written, a recomputed formula changes the content hash in
the same modified time and is written, unchanged rows are skipped. The ids seen go into a temporary table, so at
the end one query finds the mirror rows the CRM no longer has, whatever the object's size, without holding every id
in memory. Same lock as the delta sync; no transaction is open during a CRM call; the watermark is left alone.

`ids_reconcile` is the id half alone, inside a run that holds the lock: a delta run whose CRM no longer lists
deletions that far back (CrmHistoryExpired) lists every id (`all_ids`) and marks the mirror rows the CRM no longer
has deleted, without reading every record again. `SeenIds` and `gone_mark` also reconcile the full read of an object
mirrored through its CRM's change tracking (sync/tracked.py).
"""

from __future__ import annotations

import sentry_sdk
import structlog

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.errors import CrmQuotaExhausted
from crm.provider import CrmProvider
from crm.records import Cursor
from studios.models import Organization, ProviderAccount
from sync.models import CrmRecord, SyncRun, SyncState
from sync.objects import object_name
from sync.prefetch import Prefetcher
from sync.reads import batches, changed_records
from sync.runs import run_begin, run_checkpoint, run_connection, run_end, run_key, run_pause, run_provider
from sync.sql_views import mirror_view_refresh_quietly
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)
DELETE_CHUNK = 1000


def reconcile_run(
    *,
    organization: Organization,
    object: str = "",
    connection: ProviderAccount | None = None,
    provider: CrmProvider | None = None,
    module: str = "",
) -> SyncRun:
    """Reconcile one object of one organization's connection now; returns the run (ok, failed, or skipped if one is
    running). `module`: the former name of `object`."""
    connection = run_connection(
        organization=organization, connection=connection or getattr(provider, "connection", None)
    )
    name = object_name(object or module, connection=connection)
    run, state = run_begin(organization=organization, connection=connection, object=name, kind=SyncRun.Kind.RECONCILE)
    if state is None:
        return run
    run.watermark_before = state.watermark
    run.save(update_fields=["watermark_before"])
    try:
        if provider is None:
            provider = run_provider(organization=organization, connection=connection)
        _reconcile(provider, state, run)
    except CrmQuotaExhausted as exc:  # the object waits until the allocation frees; tried again after
        logger.warning("sync.reconcile.paused", run_id=run.pk, crm_object=name, error=str(exc))
        run_pause(state=state, run=run, provider=provider, exc=exc)
        return run
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("organization", organization.slug)
            scope.set_tag("crm_object", name)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.reconcile.failed", run_id=run.pk, crm_object=name)
        run_end(
            state=state,
            run=run,
            provider=provider,
            status=SyncRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            keep_checkpoint=True,
        )
        return run
    # Everything the CRM held when the run started is reconciled: the time to count the next one from.
    started = run.started_at
    run_end(
        state=state, run=run, provider=provider, status=SyncRun.Status.OK, keep_checkpoint=True, reconciled_at=started
    )
    mirror_view_refresh_quietly(provider=provider, object=name)
    return run


# --- the run -------------------------------------------------------------------------------------------------
def _reconcile(provider: CrmProvider, state: SyncState, run: SyncRun) -> None:
    key = run_key(run)
    provider.object_spec(object=run.object)  # in the run's thread, as the delta sync does (sync/delta.py)
    records = changed_records(provider=provider, object=run.object, cursor=Cursor.start())
    with (
        SeenIds(run.pk) as seen,
        Prefetcher(batches(records, size=settings.SYNC_BATCH_SIZE), name=f"sync-reconcile-{run.pk}") as pages,
    ):
        for batch in pages:
            seen.add([record.id for record in batch])
            now = timezone.now()
            with transaction.atomic():
                result = crm_records_upsert(key=key, records=batch, run_id=run.pk, now=now)
                run_checkpoint(state=state, run=run, now=now)  # renews the lease; LockLost rolls this back
                SyncRun.objects.unscoped().filter(pk=run.pk).update(
                    inserted=F("inserted") + result.inserted,
                    updated=F("updated") + result.updated,
                    quarantined=F("quarantined") + result.quarantined,
                )
        gone_mark(state, run, seen.sealed())


def ids_reconcile(*, provider: CrmProvider, state: SyncState, run: SyncRun) -> None:
    """Inside a run holding the lock: list every id the CRM has for the object and mark deleted the live mirror rows
    it did not list. The lease is renewed per batch of ids."""
    with SeenIds(run.pk) as seen:
        for chunk in batches(provider.all_ids(object=run.object), size=settings.SYNC_BATCH_SIZE):
            seen.add(chunk)
            with transaction.atomic():
                run_checkpoint(state=state, run=run, now=timezone.now())
        gone_mark(state, run, seen.sealed())


def gone_mark(state: SyncState, run: SyncRun, seen: SeenIds) -> None:
    """Mirror rows whose id the CRM no longer has: deleted for good (its deleted-records list no longer names
    them, or never did). They are marked deleted now."""
    key = run_key(run)
    while gone := seen.absent(run=run, limit=DELETE_CHUNK):
        now = timezone.now()
        with transaction.atomic():
            marked = crm_records_mark_deleted(
                key=key, deletions=dict.fromkeys(gone, now), run_id=run.pk, now=now, confirmed=False
            )
            run_checkpoint(state=state, run=run, now=now)
            SyncRun.objects.unscoped().filter(pk=run.pk).update(deleted=F("deleted") + marked)


class SeenIds:
    """A temporary table of the ids the CRM listed (COPY on PostgreSQL), dropped when the run ends."""

    def __init__(self, run_id: int) -> None:
        self.table = f"sync_reconcile_seen_{int(run_id)}"

    def __enter__(self) -> SeenIds:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} (external_id varchar(64))")
        return self

    def __exit__(self, *exc: object) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def add(self, ids: list[str]) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY {self.table} (external_id) FROM STDIN") as copy:
                    for external_id in ids:
                        copy.write_row((external_id,))
            else:
                rows = [(external_id,) for external_id in ids]
                cursor.executemany(f"INSERT INTO {self.table} (external_id) VALUES (%s)", rows)  # noqa: S608

    def sealed(self) -> SeenIds:
        """Indexed once every id is in (a record edited during the read is listed twice, so no key while adding)."""
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX {self.table}_id ON {self.table} (external_id)")
        return self

    def absent(self, *, run: SyncRun, limit: int) -> list[str]:
        """Up to `limit` ids of the run's live mirror rows that the CRM did not list."""
        sql = (
            f"SELECT r.external_id FROM {CrmRecord._meta.db_table} r "  # noqa: S608 (the table names are ours)
            "WHERE r.organization_id = %s AND r.connection_id = %s AND r.object = %s AND r.deleted_at IS NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {self.table} s WHERE s.external_id = r.external_id) "
            "ORDER BY r.external_id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [run.organization_id, run.connection_id, run.object, limit])
            return [row[0] for row in cursor.fetchall()]
