"""Bulk API 2.0 query jobs as the provider's bulk export (Capability.BULK_EXPORT): start a job, read its state,
stream its records.

    job = provider.export_start(object="lead")
    while (job := provider.export_status(job=job)).state not in (ExportState.COMPLETED, ExportState.FAILED):
        time.sleep(...)
    for record in provider.export_records(job=job, skip=already_loaded):
        ...

A job queries every selectable field of the object (compound fields are refused by Bulk 2.0; their parts are
selected). Its results are CSV pages fetched one at a time by `Sforce-Locator` (the string "null" after the last),
each parsed row by row: a cell goes back into the REST API's JSON shape by the field's describe type ("" is null,
booleans, numbers) and through the same mapping as every query, so an exported record equals the one `record()`
returns. Only one page is held at a time. `skip` leaves out the first rows (a resumed load; the job's result is
fixed, so the order is the same every time). One job holds every record: there is never a continuation.

States: UploadComplete is queued, InProgress running, JobComplete completed, Failed and Aborted failed. A job
Salesforce no longer has (terminal jobs are deleted after 7 days) answers 404: CrmNotFound, start a new export.
Facts: docs/vendors/salesforce.md, Bulk API 2.0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from crm.providers.salesforce import soql
from crm.providers.salesforce.errors import SalesforceNotFound, SalesforceRejected
from crm.providers.salesforce.mapping import ObjectMapping, csv_value, parse_datetime
from crm.records import CanonicalRecord, ExportJob, ExportState

STATES = {
    "Open": ExportState.QUEUED,
    "UploadComplete": ExportState.QUEUED,
    "InProgress": ExportState.RUNNING,
    "JobComplete": ExportState.COMPLETED,
    "Failed": ExportState.FAILED,
    "Aborted": ExportState.FAILED,
}
RESULT_PAGE_RECORDS = 10_000  # rows per results page (maxRecords): a few MB of CSV for a wide object
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # csv's default (128 KiB) is less than a long text area's 131,072 characters
LAST_LOCATOR = "null"


def export_start(client: Any, *, mapping: ObjectMapping, after: ExportJob | None = None) -> ExportJob:
    """A Bulk 2.0 query job of every selectable field of the object."""
    if after is not None:
        raise ValueError(f"export job {after.id} has no records after it: a Bulk API 2.0 job holds every record")
    asked = datetime.now(UTC)
    query = soql.select(mapping.columns, mapping.vendor_name)
    details = client.post("jobs/query", json={"operation": "query", "query": query}, expect=(200, 201)).json()
    return ExportJob(
        id=str(details["id"]),
        object=mapping.object,
        state=STATES.get(str(details.get("state") or ""), ExportState.QUEUED),
        requested_at=_requested_at(asked, details.get("createdDate")),
    )


def export_status(client: Any, *, job: ExportJob) -> ExportJob:
    details = client.get(f"jobs/query/{_job_id(job)}").json()
    sf_state = str(details.get("state") or "")
    state = STATES.get(sf_state, ExportState.RUNNING)
    error = ""
    if state == ExportState.FAILED:
        error = str(details.get("errorMessage") or f"Salesforce answered {sf_state}")
    return ExportJob(
        id=job.id,
        object=job.object,
        state=state,
        requested_at=job.requested_at or _requested_at(datetime.now(UTC), details.get("createdDate")),
        error=error,
    )


def export_records(
    client: Any,
    *,
    job: ExportJob,
    mapping: ObjectMapping,
    canonical: Callable[[dict[str, Any]], CanonicalRecord],
    skip: int = 0,
) -> Iterator[CanonicalRecord]:
    """A completed job's records, the first `skip` left out; one results page in memory at a time."""
    if job.state == ExportState.FAILED:
        raise SalesforceRejected(
            f"Salesforce failed Bulk API 2.0 job {job.id}: {job.error or 'no reason given'}", error_code="EXPORT_FAILED"
        )
    if job.state != ExportState.COMPLETED:
        raise ValueError(f"export job {job.id} is {job.state}; ask export_status until it completes")
    if skip < 0:
        raise ValueError("skip must not be negative")
    return _records(client, job=job, mapping=mapping, canonical=canonical, skip=skip)


def _records(
    client: Any,
    *,
    job: ExportJob,
    mapping: ObjectMapping,
    canonical: Callable[[dict[str, Any]], CanonicalRecord],
    skip: int,
) -> Iterator[CanonicalRecord]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    job_id = _job_id(job)
    locator = ""
    while True:
        params: dict[str, Any] = {"maxRecords": RESULT_PAGE_RECORDS}
        if locator:
            params["locator"] = locator
        answer = client.get(f"jobs/query/{job_id}/results", params=params, headers={"Accept": "text/csv"})
        reader = csv.reader(io.StringIO(answer.text, newline=""))
        header = next(reader, None)
        if header:
            types = [_sf_type(mapping, column) for column in header]
            for values in reader:
                if skip:
                    skip -= 1
                    continue
                row = {
                    column: csv_value(sf_type, value)
                    for column, sf_type, value in zip(header, types, values, strict=False)
                }
                yield canonical(row)
        locator = str(_header(answer, "Sforce-Locator") or LAST_LOCATOR)
        if locator == LAST_LOCATOR:
            return


def _sf_type(mapping: ObjectMapping, column: str) -> str:
    spec = mapping.by_name.get(column)
    return spec.sf_type if spec is not None else "string"


def _header(answer: Any, name: str) -> str:
    headers = answer.headers
    value = headers.get(name)
    if value is None:
        value = next((item for key, item in headers.items() if key.lower() == name.lower()), None)
    return value or ""


def _job_id(job: ExportJob) -> str:
    if not soql.is_record_id(job.id):
        raise SalesforceNotFound(f"{job.id!r} is not a Bulk API 2.0 job id", status=404, error_code="NOT_FOUND")
    return job.id


def _requested_at(asked: datetime, created: Any) -> datetime:
    """The earlier of our clock and Salesforce's (the job's createdDate): records changed after it are the delta
    sync's, so it must not pass any change the export may have missed."""
    try:
        salesforce_time = parse_datetime(created) if created else None
    except ValueError:
        salesforce_time = None
    return min(asked, salesforce_time) if salesforce_time else asked
