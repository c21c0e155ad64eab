"""Backfill: the first load of a module with Zoho Bulk Read, resumable.

    run = backfill_run(organization=org, module="Leads", progress=print)

A run (kind "backfill") takes the same lock as the delta sync. It asks Zoho for an export of every mirrored field
(one `BulkReadJob` row per Zoho job), polls it with a growing delay while renewing the lease, downloads the ZIP
and streams its CSV (never all rows in memory), converts each row back into the JSON shape COQL answers, and
upserts batches of `SYNC_BATCH_SIZE` exactly like the delta sync. After each committed batch the job's
`rows_loaded` moves, so a killed backfill resumes the same Zoho job and skips the rows already loaded. Pages past
Zoho's 200,000 records follow `next_page_token`. At the end the watermark becomes the first job's request time
minus the overlap (records edited during the export are read by the next delta run), and deletions are synced.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import sentry_sdk
import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import ZohoRequestError
from studios.models import Organization, ProviderAccount
from sync.delta import deletions_sync
from sync.mapping import BOOLEAN, LOOKUP, MULTI, USER_LOOKUP, MappedRecord, ModuleMapping, crm_record_map
from sync.models import BulkReadJob, CrmRecord, SyncRun, SyncState
from sync.reads import batches, module_mapping_get
from sync.runs import run_begin, run_checkpoint, run_client, run_end
from sync.selectors import crm_record_versions
from sync.upsert import crm_records_upsert

logger = structlog.get_logger(__name__)

POLL_FIRST_SECONDS = 1.0  # the first status call after creating a job; then doubled up to POLL_MAX_SECONDS
POLL_MAX_SECONDS = 30.0
EXPORT_WAIT_SECONDS = 3600.0  # a run stops waiting after this; the next run resumes polling the same job
GONE = "RESOURCE_NOT_FOUND"  # Zoho no longer has the job or its result (results are kept for a day)
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # csv's default (128 KiB) is less than a long rich-text field
Progress = Callable[["BackfillProgress"], None]


class BackfillError(RuntimeError):
    """Zoho failed the export, or it did not finish in time."""


@dataclass(frozen=True)
class BackfillProgress:
    """Where a backfill is, for a progress bar: `phase` is exporting (Zoho's `zoho_state`), loading or done."""

    module: str
    page: int
    phase: str
    zoho_state: str
    rows_loaded: int
    rows_total: int | None


def backfill_due(*, organization: Organization, module: str) -> bool:
    """Whether the scheduled run of a module should backfill: it never loaded (no watermark, no checkpoint, no
    rows), or a backfill is unfinished."""
    if _job_unfinished(organization, module) is not None:
        return True
    state = SyncState.objects.for_organization(organization).filter(module=module).first()
    if state is not None and (state.watermark is not None or state.checkpoint_time is not None):
        return False
    return not CrmRecord.objects.for_organization(organization).filter(module=module).exists()


def backfill_run(
    *,
    organization: Organization,
    module: str,
    account: ProviderAccount | None = None,
    client: ZohoClient | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """Load one module of one organization with Bulk Read (resuming an unfinished export); returns the run."""
    run, state = run_begin(organization=organization, module=module, kind=SyncRun.Kind.BACKFILL)
    if state is None:
        return run
    job = _job_unfinished(organization, module)
    run.watermark_before = state.watermark
    run.resumed = job is not None
    run.save(update_fields=["watermark_before", "resumed"])
    notes: list[str] = []
    try:
        if client is None:
            client = run_client(organization=organization, account=account)
        loader = _Loader(client, state, run, progress or _silent, notes)
        loader.load(job)
        deletions_sync(client=client, state=state, run=run)
    except Exception as exc:
        with sentry_sdk.new_scope() as scope:  # the Sentry event of this log line says which run failed
            scope.set_tag("organization", organization.slug)
            scope.set_tag("module", module)
            scope.set_tag("run_id", run.pk)
            logger.exception("sync.backfill.failed", run_id=run.pk, zoho_module=module)
        error = "; ".join([*notes, f"{type(exc).__name__}: {exc}"])
        run_end(state=state, run=run, client=client, status=SyncRun.Status.FAILED, error=error)
        return run
    run_end(state=state, run=run, client=client, status=SyncRun.Status.OK, error="; ".join(notes))
    return run


def _silent(_: BackfillProgress) -> None:
    return None


def _job_unfinished(organization: Organization, module: str) -> BulkReadJob | None:
    """The newest job of the module if its backfill did not finish: exporting, loading, or done with more pages
    to ask for."""
    latest = BulkReadJob.objects.for_organization(organization).filter(module=module).order_by("-pk").first()
    if latest is None or latest.state == BulkReadJob.State.FAILED:
        return None
    if latest.state == BulkReadJob.State.DONE and not latest.more_records:
        return None
    return latest


class _Loader:
    """One backfill's export jobs, from the first (or the unfinished) one to the last page."""

    def __init__(self, client: ZohoClient, state: SyncState, run: SyncRun, progress: Progress, notes: list[str]):
        self.client, self.state, self.run, self.progress, self.notes = client, state, run, progress, notes
        self.mapping = module_mapping_get(client=client, module=run.module)

    def load(self, job: BulkReadJob | None) -> None:
        restarted = False
        if job is None:
            job = self._job_start(page=1)
        else:  # resumed: the job is this run's now
            job.run = self.run
            job.save(update_fields=["run", "updated_at"])
        while True:
            try:
                if job.state == BulkReadJob.State.DONE:  # the next page (also after a crash between two pages)
                    job = self._job_start(page=job.page + 1, page_token=job.next_page_token)
                if job.state == BulkReadJob.State.EXPORTING:
                    self._wait(job)
                self._load_page(job)
            except ZohoRequestError as exc:
                # The job or its result is gone (results expire after a day), or the next page's token expired:
                # the export starts again from the first page; rows already loaded are skipped as unchanged.
                if restarted or not (exc.code == GONE or job.state == BulkReadJob.State.DONE):
                    raise
                restarted = True
                self._job_fail(job, f"{exc.code or type(exc).__name__}: {exc}")
                self.notes.append(f"bulk read job {job.zoho_job_id} was gone ({exc.code}); started a new export")
                job = self._job_start(page=1)
                continue
            last = not job.more_records
            now = timezone.now()
            with transaction.atomic():
                BulkReadJob.objects.unscoped().filter(pk=job.pk).update(state=BulkReadJob.State.DONE, finished_at=now)
                if last:  # with the last page, so a crash after it does not leave a loaded module unmarked
                    run_checkpoint(state=self.state, run=self.run, now=now, watermark=self._watermark(job))
            job.state = BulkReadJob.State.DONE
            self._report(job, "done")
            if last:
                return

    # --- Zoho's side -----------------------------------------------------------------------------------------
    def _job_start(self, *, page: int, page_token: str = "") -> BulkReadJob:
        asked = timezone.now()
        details = self.client.bulk_read_create(
            module=self.run.module, fields=_export_fields(self.mapping), page=page, page_token=page_token or None
        )
        return BulkReadJob.objects.create(
            organization_id=self.run.organization_id,
            module=self.run.module,
            run=self.run,
            zoho_job_id=str(details["id"]),
            page=page,
            zoho_state=str(details.get("state") or ""),
            requested_at=_requested_at(asked, details.get("created_time")),
        )

    def _wait(self, job: BulkReadJob) -> None:
        """Poll the job's state with a doubling delay, renewing the lease, until Zoho completes or fails it."""
        delay, started = POLL_FIRST_SECONDS, time.monotonic()
        while True:
            details = self.client.bulk_read_get(job_id=job.zoho_job_id)
            job.zoho_state = str(details.get("state") or "")
            if job.zoho_state == "COMPLETED":
                result = details.get("result") or {}
                job.state = BulkReadJob.State.LOADING
                job.rows_total = int(result.get("count") or 0)
                job.more_records = bool(result.get("more_records"))
                job.next_page_token = str(result.get("next_page_token") or "")
                job.save()
                return
            if job.zoho_state in ("FAILURE", "FAILED"):
                self._job_fail(job, f"Zoho answered {job.zoho_state}")
                raise BackfillError(f"Zoho failed bulk read job {job.zoho_job_id} ({job.zoho_state})")
            job.save(update_fields=["zoho_state", "updated_at"])
            self._report(job, "exporting")
            if time.monotonic() - started > EXPORT_WAIT_SECONDS:
                raise BackfillError(
                    f"bulk read job {job.zoho_job_id} still {job.zoho_state} after {EXPORT_WAIT_SECONDS:.0f} s; "
                    "the next backfill resumes it"
                )
            time.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
            # Renews the lease; LockLost if another run took it.
            run_checkpoint(state=self.state, run=self.run, now=timezone.now())

    def _job_fail(self, job: BulkReadJob, error: str) -> None:
        job.state, job.error, job.finished_at = BulkReadJob.State.FAILED, error[:2000], timezone.now()
        job.save(update_fields=["state", "error", "finished_at", "zoho_state", "updated_at"])

    # --- the mirror's side -----------------------------------------------------------------------------------
    def _load_page(self, job: BulkReadJob) -> None:
        """Download the page's ZIP and upsert its CSV rows in batches, after the rows a crashed run loaded."""
        self._report(job, "loading")
        content = self.client.bulk_read_download(job_id=job.zoho_job_id)
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        with zipfile.ZipFile(io.BytesIO(content)) as archive, _csv_member(archive) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            rows = _zoho_rows(self.mapping, csv.reader(text), skip=job.rows_loaded)
            for batch in batches(rows, size=settings.SYNC_BATCH_SIZE):
                self._write(job, batch)
                self._report(job, "loading")

    def _write(self, job: BulkReadJob, batch: list[dict[str, Any]]) -> None:
        region = settings.SYNC_PHONE_DEFAULT_REGION
        mapped = [crm_record_map(mapping=self.mapping, record=row, region=region) for row in batch]
        now = timezone.now()
        with transaction.atomic():
            result = crm_records_upsert(
                organization_id=self.run.organization_id,
                module=self.run.module,
                records=self._not_deleted_since(job, mapped),
                run_id=self.run.pk,
                now=now,
            )
            BulkReadJob.objects.unscoped().filter(pk=job.pk).update(rows_loaded=F("rows_loaded") + len(batch))
            run_checkpoint(state=self.state, run=self.run, now=now)
            SyncRun.objects.unscoped().filter(pk=self.run.pk).update(
                inserted=F("inserted") + result.inserted,
                updated=F("updated") + result.updated,
                quarantined=F("quarantined") + result.quarantined,
            )
        job.rows_loaded += len(batch)

    def _not_deleted_since(self, job: BulkReadJob, mapped: list[MappedRecord]) -> list[MappedRecord]:
        """Drop export rows of records the mirror saw deleted after the export was requested: the export holds
        them as they were before the delete, and writing them would bring a deleted record back."""
        stored = crm_record_versions(
            organization_id=self.run.organization_id,
            module=self.run.module,
            zoho_ids=[record.zoho_id for record in mapped],
        )
        deleted = {
            zoho_id: held.modified_time
            for zoho_id, held in stored.items()
            if held.deleted_at is not None and held.deleted_at >= job.requested_at
        }
        return [
            record
            for record in mapped
            if record.zoho_id not in deleted or record.modified_time > deleted[record.zoho_id]
        ]

    def _watermark(self, last: BulkReadJob) -> datetime:
        """The first page's request time minus the overlap: every record edited since is read by the next delta
        run (a page's snapshot is taken after it was requested, each later page after the one before)."""
        first = (
            BulkReadJob.objects.unscoped()
            .filter(organization_id=last.organization_id, module=last.module, page=1, pk__lte=last.pk)
            .order_by("-pk")
            .first()
        ) or last
        moment = first.requested_at - timedelta(seconds=settings.SYNC_OVERLAP_SECONDS)
        return max(filter(None, [self.state.watermark, moment]))

    def _report(self, job: BulkReadJob, phase: str) -> None:
        self.progress(
            BackfillProgress(self.run.module, job.page, phase, job.zoho_state, job.rows_loaded, job.rows_total)
        )


def _export_fields(mapping: ModuleMapping) -> list[str]:
    """Every mirrored column (the dotted lookup names too); Modified_Time is needed to guard the upsert."""
    columns = [column for column in mapping.columns if column != "id"]
    return columns if "Modified_Time" in columns else [*columns, "Modified_Time"]


def _requested_at(asked: datetime, created_time: Any) -> datetime:
    """The earlier of our clock and Zoho's (the job's `created_time`): the watermark must not pass any edit."""
    try:
        zoho_time = datetime.fromisoformat(str(created_time))
    except ValueError:
        return asked
    return min(asked, zoho_time) if zoho_time.tzinfo else asked


def _csv_member(archive: zipfile.ZipFile) -> Any:
    names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
    if len(names) != 1:
        raise BackfillError(f"the bulk read ZIP holds {len(names)} CSV files, expected one")
    return archive.open(names[0])


def _zoho_rows(mapping: ModuleMapping, reader: Iterator[list[str]], *, skip: int) -> Iterator[dict[str, Any]]:
    """CSV rows after the first `skip` as records in COQL's shape, for `crm_record_map`. The CSV has only strings:
    empty is null (an empty list for multi-selects), booleans are true/false, lookups their id (the name is its
    own dotted column), multi-selects are joined by ';'. Numbers and dates stay text: the mapping parses text as
    it parses COQL's."""
    header = next(reader, None)
    if not header:
        return
    converters = [_converter(mapping, column) for column in header]
    for values in islice(reader, skip, None):
        yield {column: convert(value) for (column, convert), value in zip(converters, values, strict=False)}


def _converter(mapping: ModuleMapping, column: str) -> tuple[str, Callable[[str], Any]]:
    spec = mapping.specs.get(column)
    kind = spec.kind if spec is not None else ""
    if kind == BOOLEAN:
        return column, _boolean
    if kind in (LOOKUP, USER_LOOKUP):
        return column, _lookup
    if kind == MULTI:
        return column, _multi
    return column, _text


def _text(value: str) -> str | None:
    return value if value != "" else None


def _boolean(value: str) -> bool | str | None:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return value or None  # anything else is quarantined by the mapping, as from COQL


def _lookup(value: str) -> dict[str, str] | None:
    return {"id": value} if value else None


def _multi(value: str) -> list[str]:
    return value.split(";") if value else []
