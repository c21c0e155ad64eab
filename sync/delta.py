"""Delta sync of one (organization, connection, object) from its CRM into the mirror.

    run = sync_run(organization=org, object="lead")

The run reads every record changed since the watermark, page after page from the provider (`changed_since`, on a
(modified time, id) cursor), writes them in batches, then the deletions the CRM lists. No database transaction is
open during a CRM call: records are read, then each batch is written, checkpointed and counted in one short
transaction. The watermark moves only with a committed batch; a run that died leaves its checkpoint, and the next
run resumes from it minus the overlap (see `_cursor`) instead of from the start. The run row, the lock and the
checkpoint are `sync/runs.py`'s.

Records new to the mirror are announced after their batch commits (`crm.hooks.records_discovered_raise`: lead
automation starts for a new lead whose CRM call never came), except in the object's first load, whose records are
old. A CRM whose deletions list no longer reaches back to the last run (CrmHistoryExpired) gets its ids reconciled
instead (sync/reconcile.py), and deletions are read from then on; the run says so. A CRM whose API allocation is
used up (CrmQuotaExhausted) stops the run cleanly and pauses the object until it frees (`run_pause`).

An object the CRM tracks changes of for us (Capability.CHANGE_TRACKING and `change_tracked`) is read through that
instead: changes and deletions since the CRM's token, page by page (sync/tracked.py), with the same run, lock,
announcements and pause.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import sentry_sdk
import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.errors import CrmHistoryExpired, CrmQuotaExhausted
from crm.hooks import records_discovered_raise
from crm.provider import CrmProvider
from crm.records import CanonicalRecord, Capability, Cursor
from studios.models import Organization, ProviderAccount
from sync.models import SyncRun, SyncState
from sync.objects import object_name
from sync.prefetch import Prefetcher
from sync.reads import batches, changed_records
from sync.reconcile import ids_reconcile
from sync.runs import run_begin, run_checkpoint, run_connection, run_end, run_key, run_pause, run_provider
from sync.schedules import schedule_interval
from sync.sql_views import mirror_view_refresh_quietly
from sync.tracked import tracked, tracked_sync, tracking_forget
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)


def sync_run(
    *,
    organization: Organization,
    object: str = "",
    connection: ProviderAccount | None = None,
    provider: CrmProvider | None = None,
    module: str = "",
) -> SyncRun:
    """Sync one object of one organization's connection (its default one unless given) now; returns the run (ok,
    failed, paused by a used-up CRM allocation, or skipped if one is running). `module`: the former name of
    `object` (the CRM's names are accepted)."""
    connection = run_connection(organization=organization, connection=connection or _connection_of(provider))
    name = object_name(object or module, connection=connection)
    run, state = run_begin(organization=organization, connection=connection, object=name, kind=SyncRun.Kind.DELTA)
    if state is None:
        return run
    run.watermark_before = state.watermark
    run.resumed = state.checkpoint_time is not None or bool(state.checkpoint_token)
    run.save(update_fields=["watermark_before", "resumed"])
    notes: list[str] = []
    try:
        if provider is None:
            provider = run_provider(organization=organization, connection=connection)
        if tracked(provider=provider, object=name):
            tracked_sync(provider=provider, state=state, run=run, announce=loaded_before(run), notes=notes)
        else:
            tracking_forget(state=state, run=run, notes=notes)
            records_sync(provider=provider, state=state, run=run, announce=loaded_before(run))
            deletions_sync(provider=provider, state=state, run=run, notes=notes)
    except CrmQuotaExhausted as exc:  # not an error of ours: no Sentry event, no failing alert; the object waits
        logger.warning("sync.run.paused", run_id=run.pk, crm_object=name, error=str(exc))
        run_pause(state=state, run=run, provider=provider, exc=exc)
        return run
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:  # the Sentry event of this log line says which run failed
            scope.set_tag("organization", organization.slug)
            scope.set_tag("crm_object", name)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.run.failed", run_id=run.pk, crm_object=name)
        error = "; ".join([*notes, _error(exc)])  # what the run did before it failed (e.g. a full resync begun)
        run_end(state=state, run=run, provider=provider, status=SyncRun.Status.FAILED, error=error)
        return run
    run_end(state=state, run=run, provider=provider, status=SyncRun.Status.OK, error="; ".join(notes))
    mirror_view_refresh_quietly(provider=provider, object=name)  # one query unless the standard fields changed
    _channel_check(run)
    return run


def _connection_of(provider: CrmProvider | None) -> ProviderAccount | None:
    return provider.connection if provider is not None else None


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def loaded_before(run: SyncRun) -> bool:
    """Whether the object had a whole load before this run (an ok delta or backfill run): only then are the records
    new to the mirror new in the CRM, rather than the old records a first load (or its resumption) finds."""
    return (
        SyncRun.objects.unscoped()
        .filter(
            organization_id=run.organization_id,
            connection_id=run.connection_id,
            object=run.object,
            kind__in=[SyncRun.Kind.DELTA, SyncRun.Kind.BACKFILL],
            status=SyncRun.Status.OK,
        )
        .exists()
    )


def deletions_sync(*, provider: CrmProvider, state: SyncState, run: SyncRun, notes: list[str] | None = None) -> None:
    """Mark deleted what the CRM lists as deleted since the deletions watermark (minus the overlap). A CRM that
    lists no deletions (no DELETED_RECORDS) leaves them to the reconciliation. When its list no longer reaches back
    that far, every id is reconciled instead and deletions are read from now on (a line in `notes` says so)."""
    if not provider.supports(Capability.DELETED_RECORDS):
        return
    since = (
        state.deleted_watermark - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS) if state.deleted_watermark else None
    )
    deletions: dict[str, datetime] = {}
    now = timezone.now()
    try:
        for item in provider.deleted_since(object=run.object, since=since):
            deletions[item.id] = item.deleted_at or now
    except CrmHistoryExpired as exc:
        note = _history_expired(provider=provider, state=state, run=run, since=since, exc=exc, started=now)
        if notes is not None:
            notes.append(note)
        return
    newest = max((item for item in deletions.values()), default=None)
    # The list read at `now` holds every deletion until then: the watermark moves up to it (less the overlap, for a
    # deletion committing slowly or a CRM clock a little behind ours) even when nothing was deleted, or a quiet
    # object's watermark would fall out of a CRM's deletions history (two weeks at some CRMs) and force a full id
    # reconciliation for nothing.
    floor = now - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
    with transaction.atomic():
        marked = crm_records_mark_deleted(key=run_key(run), deletions=deletions, run_id=run.pk, now=now)
        watermark = max(filter(None, [newest, state.deleted_watermark, floor]))
        run_checkpoint(state=state, run=run, now=now, deleted_watermark=watermark)
        SyncRun.objects.unscoped().filter(pk=run.pk).update(deleted=F("deleted") + marked)


def _history_expired(
    *,
    provider: CrmProvider,
    state: SyncState,
    run: SyncRun,
    since: datetime | None,
    exc: CrmHistoryExpired,
    started: datetime,
) -> str:
    """The CRM's deletions list starts after `since`: deletions in between are found only by comparing ids. Every
    id is listed and mirror rows the CRM no longer has are marked deleted; then the deletions watermark restarts at
    `started` (the moment before the listing: a deletion during it is read by the next run)."""
    logger.warning("sync.run.deleted_history_expired", run_id=run.pk, crm_object=run.object, error=str(exc))
    before = SyncRun.objects.unscoped().filter(pk=run.pk).values_list("deleted", flat=True).get()
    ids_reconcile(provider=provider, state=state, run=run)
    with transaction.atomic():
        run_checkpoint(state=state, run=run, now=timezone.now(), deleted_watermark=started)
    marked = SyncRun.objects.unscoped().filter(pk=run.pk).values_list("deleted", flat=True).get() - before
    available = f" (it starts at {exc.available_from})" if exc.available_from else ""
    asked = f"{since:%Y-%m-%d %H:%M} UTC" if since else "the start"
    return (
        f"The CRM's deleted-records history no longer reaches back to {asked}{available}: every id was reconciled "
        f"instead ({marked} marked deleted); deletions are read from {started:%Y-%m-%d %H:%M} UTC on."
    )


def records_sync(*, provider: CrmProvider, state: SyncState, run: SyncRun, announce: bool = False) -> None:
    """Read every record changed since the cursor (`_cursor`) and write it in batches, checkpointing each. With
    `announce`, the records each batch inserted are announced once it commits (`crm.hooks`)."""
    # The object's field specs are read here, in the run's thread (the provider keeps them for the pages), so what a
    # provider reads of its connection from the database on first use is read on the run's database connection.
    provider.object_spec(object=run.object)
    records = changed_records(provider=provider, object=run.object, cursor=_cursor(state))
    key = run_key(run)
    interval = announce_interval(run) if announce else None
    # The next batch is read from the CRM in a background thread while this one is written here (one batch ahead:
    # flat memory); the checkpoint and watermark move only with a batch this thread committed.
    with Prefetcher(batches(records, size=settings.SYNC_BATCH_SIZE), name=f"sync-prefetch-{run.pk}") as pages:
        for batch in pages:
            last = batch[-1]
            now = timezone.now()
            with transaction.atomic():
                result = crm_records_upsert(key=key, records=batch, run_id=run.pk, now=now)
                moment = last.modified_time
                watermark = max(filter(None, [state.watermark, moment]))  # the overlap re-reads older records
                run_checkpoint(
                    state=state, run=run, now=now, checkpoint_time=moment, checkpoint_id=last.id, watermark=watermark
                )
                SyncRun.objects.unscoped().filter(pk=run.pk).update(
                    inserted=F("inserted") + result.inserted,
                    updated=F("updated") + result.updated,
                    quarantined=F("quarantined") + result.quarantined,
                )
                if interval is not None and result.inserted_ids:
                    found = [record for record in batch if record.id in result.inserted_ids]
                    transaction.on_commit(partial(discovered_announce, run, found, interval))


def announce_interval(run: SyncRun) -> timedelta:
    """The object's sync interval, which the records-discovered receivers are told."""
    return schedule_interval(organization=run.organization, connection=run.connection, object=run.object)


def discovered_announce(run: SyncRun, records: list[CanonicalRecord], interval: timedelta) -> None:
    """After the batch committed: the receivers' work (e.g. an intake per new lead) must not undo or stop the sync,
    so a failing receiver is logged (Sentry) and the run goes on."""
    latest = {record.id: record for record in records}  # an id read twice in a batch: the later read
    try:
        records_discovered_raise(
            organization=run.organization,
            connection=run.connection,
            object=run.object,
            records=list(latest.values()),
            sync_interval=interval,
        )
    except Exception:
        logger.exception("sync.run.discovered_receiver_failed", run_id=run.pk, crm_object=run.object)


def _cursor(state: SyncState) -> Cursor:
    """From a crashed run's checkpoint, else from the watermark, minus the overlap either way (every record at the
    moment is included: no tie-break)."""
    overlap = timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
    if state.checkpoint_time is not None:
        # Not exactly after (checkpoint time, id): the keyset skips a record edited in the second its cursor was
        # in (same modified time, lower id), and only the overlap re-reads it. The dead run's lease keeps the next
        # run out for minutes of further edits, whose modified times carry the watermark past any overlap after.
        return Cursor(modified_time=state.checkpoint_time).overlapped(overlap)
    if state.watermark is None:
        return Cursor.start()
    return Cursor(modified_time=state.watermark).overlapped(overlap)


def _channel_check(run: SyncRun) -> None:
    """Changes a live notification channel should have announced: is it still there at the CRM?
    (sync/notifications.py)"""
    from sync.notifications import channel_check_after_run

    note = channel_check_after_run(run=run)
    if note:
        run.error = "; ".join(filter(None, [run.error, note]))[:2000]  # after the run's own notes
        SyncRun.objects.unscoped().filter(pk=run.pk).update(error=run.error)  # the run this call made
