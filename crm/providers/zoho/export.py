"""Zoho Bulk Read as the provider's bulk export (Capability.BULK_EXPORT): start a job, read its state, stream its
records.

    job = provider.export_start(object="lead")
    while (job := provider.export_status(job=job)).state not in (ExportState.COMPLETED, ExportState.FAILED):
        time.sleep(...)
    for record in provider.export_records(job=job, skip=already_loaded):
        ...
    if job.continuation:  # Zoho caps a job at 200,000 records
        job = provider.export_start(object="lead", after=job)

A job exports every mapped column of the module (the dotted lookup-name columns too) as CSV in a ZIP. The ZIP is
streamed to a temporary file, never held in memory, and its CSV read row by row: each row goes back into the JSON
shape COQL answers (the CSV has only text: empty is null, booleans true/false, lookups and user lookups their id
with the name in its own dotted column, multi-selects joined by ';'), then through the same mapping as every
other read, so an exported record equals the one `record()` returns. `skip` leaves out the first rows (a resumed
load); `after` asks for the records past a capped job with the `next_page_token` Zoho gave it.

Zoho's states: ADDED and QUEUED are queued, IN PROGRESS running, COMPLETED, FAILURE (FAILED in older answers)
failed. A job Zoho no longer has (results are kept for a day) answers RESOURCE_NOT_FOUND, and a `next_page_token`
Zoho no longer takes is CONTINUATION_EXPIRED: both CrmNotFound, start a new export. The records of a failed job
raise ZohoExportFailed (CrmRejected, code EXPORT_FAILED). Zoho's facts: docs/vendors/zoho-crm.md, Bulk Read.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import IO, Any

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import ZohoExportFailed, ZohoRequestError
from crm.providers.zoho.mapping import BOOLEAN, LOOKUP, MULTI, USER_LOOKUP, ModuleMapping
from crm.records import CanonicalRecord, ExportJob, ExportState

STATES = {
    "ADDED": ExportState.QUEUED,
    "QUEUED": ExportState.QUEUED,
    "IN PROGRESS": ExportState.RUNNING,
    "COMPLETED": ExportState.COMPLETED,
    "FAILURE": ExportState.FAILED,
    "FAILED": ExportState.FAILED,
}
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # csv's default (128 KiB) is less than a long rich-text field
DOWNLOAD_TIMEOUT = (5.0, 300.0)  # a 200,000-record ZIP takes a while to arrive
SPOOL_BYTES = 8 * 1024 * 1024  # a small export stays in memory; a large one goes to disk


def export_start(
    client: ZohoClient, *, module: str, object: str, mapping: ModuleMapping, after: ExportJob | None = None
) -> ExportJob:
    """A Bulk Read job of every mapped column of `module` (`after`: the records past that completed job's)."""
    page_token = None
    if after is not None:
        if not after.continuation:
            raise ValueError(f"export job {after.id} has no records after it (no continuation)")
        page_token = after.continuation
    asked = datetime.now(UTC)
    try:
        details = client.bulk_read_create(module=module, fields=export_fields(mapping), page_token=page_token)
    except ZohoRequestError as exc:
        if page_token and exc.details.get("api_name") == "page_token":  # Zoho's page tokens expire
            raise ZohoRequestError(
                f"the continuation of export job {after.id} is no longer valid ({exc.message}): export again",
                status=exc.status,
                code="CONTINUATION_EXPIRED",
                details=exc.details,
            ) from exc
        raise
    return ExportJob(
        id=str(details["id"]),
        object=object,
        state=STATES.get(str(details.get("state") or ""), ExportState.QUEUED),
        requested_at=requested_at(asked, details.get("created_time")),
    )


def export_status(client: ZohoClient, *, job: ExportJob) -> ExportJob:
    """The job as Zoho sees it now; `continuation` once it completed with more records than one job holds."""
    details = client.bulk_read_get(job_id=_job_id(job))
    zoho_state = str(details.get("state") or "")
    state = STATES.get(zoho_state, ExportState.RUNNING)
    result = details.get("result") or {}
    continuation = ""
    if state == ExportState.COMPLETED and result.get("more_records"):
        continuation = str(result.get("next_page_token") or "")
    return ExportJob(
        id=job.id,
        object=job.object,
        state=state,
        requested_at=job.requested_at or requested_at(datetime.now(UTC), details.get("created_time")),
        continuation=continuation,
        error=f"Zoho answered {zoho_state}" if state == ExportState.FAILED else "",
    )


def export_records(
    client: ZohoClient,
    *,
    job: ExportJob,
    mapping: ModuleMapping,
    canonical: Callable[[dict[str, Any]], CanonicalRecord],
    skip: int = 0,
) -> Iterator[CanonicalRecord]:
    """A completed job's records in the CSV's order, the first `skip` left out; streamed from a temporary file.
    A job that is not completed is refused at once; the download starts with the first record asked for."""
    if job.state == ExportState.FAILED:
        raise ZohoExportFailed(f"Zoho failed bulk read job {job.id}: {job.error or 'no reason given'}")
    if job.state != ExportState.COMPLETED:
        raise ValueError(f"export job {job.id} is {job.state}; ask export_status until it completes")
    if skip < 0:
        raise ValueError("skip must not be negative")
    return _records(client, job=job, mapping=mapping, canonical=canonical, skip=skip)


def _records(
    client: ZohoClient,
    *,
    job: ExportJob,
    mapping: ModuleMapping,
    canonical: Callable[[dict[str, Any]], CanonicalRecord],
    skip: int,
) -> Iterator[CanonicalRecord]:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as archive_file:
        client.request(
            "GET", f"/crm/bulk/v8/read/{_job_id(job)}/result", raw=True, timeout=DOWNLOAD_TIMEOUT, into=archive_file
        )
        archive_file.seek(0)
        with zipfile.ZipFile(archive_file) as archive, _csv_member(archive, job) as member:
            text = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
            csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
            for row in zoho_rows(mapping, csv.reader(text), skip=skip):
                yield canonical(row)


def export_fields(mapping: ModuleMapping) -> list[str]:
    """Every mapped column (the dotted lookup names too); Modified_Time always (the cursor and the guarded upsert
    need it). `id` is always the CSV's first column, unasked."""
    columns = [column for column in mapping.columns if column != "id"]
    return columns if "Modified_Time" in columns else [*columns, "Modified_Time"]


def requested_at(asked: datetime, created_time: Any) -> datetime:
    """The earlier of our clock and Zoho's (the job's `created_time`): records changed after it are the delta
    sync's, so it must not pass any change the export may have missed."""
    try:
        zoho_time = datetime.fromisoformat(str(created_time))
    except ValueError:
        return asked
    return min(asked, zoho_time) if zoho_time.tzinfo else asked


def zoho_rows(mapping: ModuleMapping, reader: Iterator[list[str]], *, skip: int = 0) -> Iterator[dict[str, Any]]:
    """CSV rows after the first `skip` as records in COQL's shape. Numbers and dates stay text: the mapping parses
    text as it parses COQL's."""
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
    return value or None  # anything else is reported by the mapping as a problem, as from COQL


def _lookup(value: str) -> dict[str, str] | None:
    return {"id": value} if value else None


def _multi(value: str) -> list[str]:
    return value.split(";") if value else []


def _job_id(job: ExportJob) -> str:
    if not job.id.isdigit():
        raise ZohoRequestError(f"{job.id!r} is not a Zoho bulk read job id", code="RESOURCE_NOT_FOUND")
    return job.id


def _csv_member(archive: zipfile.ZipFile, job: ExportJob) -> IO[bytes]:
    names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
    if len(names) != 1:
        raise ZohoRequestError(
            f"bulk read job {job.id}'s ZIP holds {len(names)} CSV files, expected one", code="UNEXPECTED_RESULT"
        )
    return archive.open(names[0])
