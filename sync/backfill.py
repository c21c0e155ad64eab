"""Backfill: the first load of an object, with the CRM's bulk export when it has one, resumable.

    run = backfill_run(organization=org, object="lead", progress=print)

A run (kind "backfill") takes the same lock as the delta sync. With BULK_EXPORT it asks the provider for an export
of the object (one `ExportJob` row per CRM job), polls it with a growing delay while renewing the lease, and streams
its records (`export_records`: never all in memory) into the mirror in batches of `SYNC_BATCH_SIZE`, exactly as
the delta sync writes them. After each committed batch the job's `rows_loaded` moves, so a killed backfill resumes
the same job and skips the records already loaded. A job capped in size names its continuation, and the next job
asks for the records after it. At the end the watermark becomes the first job's request time minus the overlap
(records edited during the export are read by the next delta run), and deletions are synced.

A CRM without BULK_EXPORT is loaded by paging `changed_since` from the start: a delta run from no watermark, with
its checkpoints (a killed one resumes from the last committed batch). An object the CRM tracks changes of is loaded
by its change tracking's full read instead (sync/tracked.py: resumable from its page checkpoint, and ending with the
token the delta runs go on from), with progress per page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sentry_sdk
import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.errors import CrmNotFound, CrmQuotaExhausted
from crm.provider import CrmProvider
from crm.records import CanonicalRecord, Capability, ExportState
from crm.records import ExportJob as CrmExportJob
from studios.models import Organization, ProviderAccount
from sync.content import MirrorKey
from sync.delta import deletions_sync, records_sync
from sync.models import CrmRecord, ExportJob, SyncRun, SyncState
from sync.objects import object_name
from sync.reads import batches
from sync.runs import run_begin, run_checkpoint, run_connection, run_end, run_key, run_pause, run_provider
from sync.selectors import crm_record_versions
from sync.tracked import tracked, tracked_sync
from sync.upsert import crm_records_upsert

logger = structlog.get_logger(__name__)

POLL_FIRST_SECONDS = 1.0  # the first status call after creating a job; then doubled up to POLL_MAX_SECONDS
POLL_MAX_SECONDS = 30.0
EXPORT_WAIT_SECONDS = 3600.0  # a run stops waiting after this; the next run resumes polling the same job
Progress = Callable[["BackfillProgress"], None]
TRACKED_LOAD = "change tracking's full read"  # a change-tracked object's progress says so as its vendor_state


class BackfillError(RuntimeError):
    """The CRM failed the export, or it did not finish in time."""


@dataclass(frozen=True)
class BackfillProgress:
    """Where a backfill is, for a progress bar: `phase` is exporting (`vendor_state`: the job's state), loading or
    done."""

    object: str
    page: int
    phase: str
    vendor_state: str
    rows_loaded: int
    rows_total: int | None


def backfill_due(
    *, organization: Organization, object: str = "", connection: ProviderAccount | None = None, module: str = ""
) -> bool:
    """Whether the scheduled run of an object should backfill: it never loaded (no watermark, no checkpoint, no
    rows), or a backfill is unfinished."""
    connection = run_connection(organization=organization, connection=connection)
    key = MirrorKey(organization.pk, connection.pk, object_name(object or module, connection=connection))
    if _job_unfinished(key) is not None:
        return True
    state = SyncState.objects.for_organization(organization).filter(**key.values()).first()
    if state is not None and (
        state.watermark is not None or state.checkpoint_time is not None or state.change_token or state.checkpoint_token
    ):
        return False
    return not CrmRecord.objects.for_organization(organization).filter(**key.values()).exists()


def backfill_run(
    *,
    organization: Organization,
    object: str = "",
    connection: ProviderAccount | None = None,
    provider: CrmProvider | None = None,
    progress: Progress | None = None,
    module: str = "",
) -> SyncRun:
    """Load one object of one organization's connection (resuming an unfinished export); returns the run."""
    connection = run_connection(
        organization=organization, connection=connection or getattr(provider, "connection", None)
    )
    name = object_name(object or module, connection=connection)
    run, state = run_begin(organization=organization, connection=connection, object=name, kind=SyncRun.Kind.BACKFILL)
    if state is None:
        return run
    job = _job_unfinished(run_key(run))
    run.watermark_before = state.watermark
    run.resumed = job is not None or state.checkpoint_time is not None or bool(state.checkpoint_token)
    run.save(update_fields=["watermark_before", "resumed"])
    notes: list[str] = []
    try:
        if provider is None:
            provider = run_provider(organization=organization, connection=connection)
        if tracked(provider=provider, object=name):
            # The change tracking's own full read (a bulk export would end without the token to go on from).
            report = _TrackedProgress(progress or _silent, name)
            tracked_sync(provider=provider, state=state, run=run, notes=notes, progress=report.loading)
            report.done()
        elif provider.supports(Capability.BULK_EXPORT):
            _Loader(provider, state, run, progress or _silent, notes).load(job)
            deletions_sync(provider=provider, state=state, run=run, notes=notes)
        else:
            records_sync(provider=provider, state=state, run=run)
            deletions_sync(provider=provider, state=state, run=run, notes=notes)
    except CrmQuotaExhausted as exc:  # resumed from its job or checkpoint once the allocation frees
        logger.warning("sync.backfill.paused", run_id=run.pk, crm_object=name, error=str(exc))
        run_pause(state=state, run=run, provider=provider, exc=exc)
        return run
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:  # the Sentry event of this log line says which run failed
            scope.set_tag("organization", organization.slug)
            scope.set_tag("crm_object", name)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.backfill.failed", run_id=run.pk, crm_object=name)
        error = "; ".join([*notes, f"{type(exc).__name__}: {exc}"])
        run_end(state=state, run=run, provider=provider, status=SyncRun.Status.FAILED, error=error)
        return run
    run_end(state=state, run=run, provider=provider, status=SyncRun.Status.OK, error="; ".join(notes))
    return run


def _silent(_: BackfillProgress) -> None:
    return None


class _TrackedProgress:
    """A change-tracked load's records so far, as one page of unknown size until it is done."""

    def __init__(self, progress: Progress, object: str) -> None:
        self.progress, self.object, self.written = progress, object, 0

    def loading(self, written: int) -> None:
        self.written = written
        self.progress(BackfillProgress(self.object, 1, "loading", TRACKED_LOAD, written, None))

    def done(self) -> None:
        self.progress(BackfillProgress(self.object, 1, "done", TRACKED_LOAD, self.written, self.written))


def _job_unfinished(key: MirrorKey) -> ExportJob | None:
    """The newest job of the object if its backfill did not finish: exporting, loading, or done with more
    records to ask for."""
    latest = ExportJob.objects.unscoped().filter(**key.values()).order_by("-pk").first()
    if latest is None or latest.state == ExportJob.State.FAILED:
        return None
    if latest.state == ExportJob.State.DONE and not latest.more_records:
        return None
    return latest


def _vendor_job(job: ExportJob) -> CrmExportJob:
    """The provider's view of a stored job."""
    try:
        state = ExportState(job.vendor_state)
    except ValueError:
        state = ExportState.RUNNING
    if job.state == ExportJob.State.LOADING or job.state == ExportJob.State.DONE:
        state = ExportState.COMPLETED
    return CrmExportJob(
        id=job.job_id,
        object=job.object,
        state=state,
        requested_at=job.requested_at,
        continuation=job.continuation,
        error=job.error,
    )


class _Loader:
    """One backfill's export jobs, from the first (or the unfinished) one to the last."""

    def __init__(self, provider: CrmProvider, state: SyncState, run: SyncRun, progress: Progress, notes: list[str]):
        self.provider, self.state, self.run, self.progress, self.notes = provider, state, run, progress, notes
        self.key = run_key(run)

    def load(self, job: ExportJob | None) -> None:
        restarted = False
        if job is None:
            job = self._job_start(page=1, after=None)
        else:  # resumed: the job is this run's now
            job.run = self.run
            job.save(update_fields=["run", "updated_at"])
        while True:
            try:
                if job.state == ExportJob.State.DONE:  # the next job (also after a crash between two jobs)
                    job = self._job_start(page=job.page + 1, after=_vendor_job(job))
                if job.state == ExportJob.State.EXPORTING:
                    self._wait(job)
                self._load_job(job)
            except CrmNotFound as exc:
                # The job or its result is gone (results expire), or the continuation expired: the export starts
                # again from the first job; records already loaded are skipped as unchanged.
                if restarted:
                    raise
                restarted = True
                self._job_fail(job, f"{exc.code or type(exc).__name__}: {exc}")
                self.notes.append(f"export job {job.job_id} was gone ({exc.code}); started a new export")
                job = self._job_start(page=1, after=None)
                continue
            last = not job.more_records
            now = timezone.now()
            with transaction.atomic():
                ExportJob.objects.unscoped().filter(pk=job.pk).update(state=ExportJob.State.DONE, finished_at=now)
                if last:  # with the last job, so a crash after it does not leave a loaded object unmarked
                    run_checkpoint(state=self.state, run=self.run, now=now, watermark=self._watermark(job))
            job.state = ExportJob.State.DONE
            self._report(job, "done")
            if last:
                return

    # --- the CRM's side ---------------------------------------------------------------------------------------
    def _job_start(self, *, page: int, after: CrmExportJob | None) -> ExportJob:
        asked = timezone.now()
        started = self.provider.export_start(object=self.run.object, after=after)
        requested = min(filter(None, [asked, started.requested_at]))  # the watermark must not pass any edit
        return ExportJob.objects.create(
            **self.key.values(),
            run=self.run,
            job_id=started.id,
            page=page,
            vendor_state=str(started.state),
            requested_at=requested,
        )

    def _wait(self, job: ExportJob) -> None:
        """Poll the job's state with a doubling delay, renewing the lease, until the CRM completes or fails it."""
        delay, started = POLL_FIRST_SECONDS, time.monotonic()
        while True:
            status = self.provider.export_status(job=_vendor_job(job))
            job.vendor_state = str(status.state)
            if status.state == ExportState.COMPLETED:
                job.state = ExportJob.State.LOADING
                job.more_records = bool(status.continuation)
                job.continuation = status.continuation
                job.save()
                return
            if status.state == ExportState.FAILED:
                self._job_fail(job, status.error or "the CRM failed the export")
                raise BackfillError(f"the CRM failed export job {job.job_id}: {status.error or 'no reason given'}")
            job.save(update_fields=["vendor_state", "updated_at"])
            self._report(job, "exporting")
            if time.monotonic() - started > EXPORT_WAIT_SECONDS:
                raise BackfillError(
                    f"export job {job.job_id} still {job.vendor_state} after {EXPORT_WAIT_SECONDS:.0f} s; "
                    "the next backfill resumes it"
                )
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
            # Renews the lease; LockLost if another run took it.
            run_checkpoint(state=self.state, run=self.run, now=timezone.now())

    def _job_fail(self, job: ExportJob, error: str) -> None:
        job.state, job.error, job.finished_at = ExportJob.State.FAILED, error[:2000], timezone.now()
        job.save(update_fields=["state", "error", "finished_at", "vendor_state", "updated_at"])

    # --- the mirror's side -----------------------------------------------------------------------------------
    def _load_job(self, job: ExportJob) -> None:
        """Stream the job's records into the mirror in batches, after the records a crashed run loaded."""
        self._report(job, "loading")
        records = self.provider.export_records(job=_vendor_job(job), skip=job.rows_loaded)
        for batch in batches(records, size=settings.SYNC_BATCH_SIZE):
            self._write(job, batch)
            self._report(job, "loading")
        if job.rows_total is None:
            job.rows_total = job.rows_loaded
            ExportJob.objects.unscoped().filter(pk=job.pk).update(rows_total=job.rows_total)

    def _write(self, job: ExportJob, batch: list[CanonicalRecord]) -> None:
        now = timezone.now()
        with transaction.atomic():
            result = crm_records_upsert(
                key=self.key, records=self._not_deleted_since(job, batch), run_id=self.run.pk, now=now
            )
            ExportJob.objects.unscoped().filter(pk=job.pk).update(rows_loaded=F("rows_loaded") + len(batch))
            run_checkpoint(state=self.state, run=self.run, now=now)
            SyncRun.objects.unscoped().filter(pk=self.run.pk).update(
                inserted=F("inserted") + result.inserted,
                updated=F("updated") + result.updated,
                quarantined=F("quarantined") + result.quarantined,
            )
        job.rows_loaded += len(batch)

    def _not_deleted_since(self, job: ExportJob, records: list[CanonicalRecord]) -> list[CanonicalRecord]:
        """Drop exported records the mirror saw deleted after the export was requested: the export holds them as
        they were before the delete, and writing them would bring a deleted record back."""
        stored = crm_record_versions(key=self.key, external_ids=[record.id for record in records])
        deleted = {
            external_id: held.modified_time
            for external_id, held in stored.items()
            if held.deleted_at is not None and held.deleted_at >= job.requested_at
        }
        return [record for record in records if record.id not in deleted or record.modified_time > deleted[record.id]]

    def _watermark(self, last: ExportJob) -> datetime:
        """The first job's request time minus the overlap: every record edited since is read by the next delta
        run (each job's snapshot is taken after it was requested, each later job after the one before)."""
        first = (
            ExportJob.objects.unscoped().filter(**self.key.values(), page=1, pk__lte=last.pk).order_by("-pk").first()
        ) or last
        moment = first.requested_at - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
        return max(filter(None, [self.state.watermark, moment]))

    def _report(self, job: ExportJob, phase: str) -> None:
        self.progress(
            BackfillProgress(self.run.object, job.page, phase, job.vendor_state, job.rows_loaded, job.rows_total)
        )
