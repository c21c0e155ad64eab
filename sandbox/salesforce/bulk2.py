"""Bulk API 2.0 query jobs: `POST jobs/query`, `GET jobs/query` (list), `GET|PATCH|DELETE jobs/query/<id>` and
`GET jobs/query/<id>/results` (CSV paged by `Sforce-Locator`), plus the sandbox's controls.

What Salesforce does and the emulator does too (docs/vendors/salesforce.md, Bulk API 2.0 query):
- create `{"operation": "query"|"queryAll", "query", "columnDelimiter"?, "lineEnding"?}` answers the job info
  in state `UploadComplete`; the query is checked at once (the REST query's errors); compound fields (address,
  location), `COUNT()` and `OFFSET` are refused (400, UNCONFIRMED wording);
- the job moves `UploadComplete -> InProgress -> JobComplete`, one step every `sf_bulk_seconds_per_state` on
  the sandbox clock; `PATCH {"state": "Aborted"}` stops an unfinished job; `DELETE` removes a finished one;
- results before `JobComplete`: 412 `JOB_NOT_COMPLETE`; each page holds `maxRecords` rows (default
  `sf_bulk_result_max_records`) with headers `Sforce-NumberOfRecords` and `Sforce-Locator` (the next page's
  locator, the string "null" after the last page); every value quoted, nulls empty;
- every call about a job must use the API version that created it: 409 otherwise (wording UNCONFIRMED).

The job keeps the ids its query matched when it completed; pages show those records' values when read (the
emulator does not keep a copy of every row: 100,000 wide Leads would be hundreds of megabytes).

Controls (JSON): `POST /_sandbox/salesforce/orgs/<org_id>/bulk/hold {"hold": true|false}` (the org's jobs stop
moving, e.g. to test polling); `POST /_sandbox/salesforce/bulk/<job_id>/finish` (JobComplete now),
`/fail {"message"?}` (Failed with an errorMessage), `/expire` (gone at once, as Salesforce deletes finished jobs
after 7 days: the emulator also forgets them then, on its clock, when the next job is created).
"""

from __future__ import annotations

import base64
import csv
import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, no_content, request_json
from sandbox.salesforce import ids, soql
from sandbox.salesforce.calls import sf_endpoint, sf_error
from sandbox.salesforce.query import compile_for, matching_records
from sandbox.salesforce.state import format_sf_datetime

if TYPE_CHECKING:
    from datetime import datetime

    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState

UPLOAD_COMPLETE, IN_PROGRESS, JOB_COMPLETE = "UploadComplete", "InProgress", "JobComplete"
ABORTED, FAILED = "Aborted", "Failed"
TERMINAL = (JOB_COMPLETE, ABORTED, FAILED)
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_JOB_LOCK = threading.RLock()
JOB_KEEP_SECONDS = 7 * 24 * 3600


@dataclass
class BulkJob:
    id: str
    org_id: str
    operation: str
    query: str
    sobject: str
    compiled: soql.Compiled
    created_by: str
    created: datetime
    created_at: float  # epoch seconds on the sandbox clock
    api_version: str
    column_delimiter: str
    line_ending: str
    state: str = UPLOAD_COMPLETE  # the last state settled (the clock may have moved it further: see `advance`)
    settled_at: float = 0.0  # when `state` began
    held: bool = False
    error_message: str | None = None
    record_ids: list[str] | None = None
    modified: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _held(org: SfOrg) -> bool:
    return bool(org.__dict__.get("bulk_hold"))


def advance(sandbox: SandboxState, org: SfOrg, job: BulkJob) -> None:
    """Move the job along the clock (unless the org's jobs are held); run its query when it completes."""
    if job.state in TERMINAL or _held(org):
        return
    step = float(sandbox.config.sf_bulk_seconds_per_state)
    now = sandbox.clock.timestamp()
    with _JOB_LOCK:  # two polls at once must not run the query twice
        while job.state not in TERMINAL and now - job.settled_at >= step:
            job.settled_at += step
            job.state = IN_PROGRESS if job.state == UPLOAD_COMPLETE else JOB_COMPLETE
            job.modified = org.now()
            if job.state == JOB_COMPLETE:
                complete(org, job)


def complete(org: SfOrg, job: BulkJob) -> None:
    records = matching_records(org, job.compiled, include_deleted=job.operation == "queryAll")
    job.record_ids = [record["Id"] for record in records]
    job.state = JOB_COMPLETE
    job.modified = org.now()


def job_info(job: BulkJob, *, full: bool = True) -> dict[str, Any]:
    info: dict[str, Any] = {
        "id": job.id,
        "operation": job.operation,
        "object": job.sobject,
        "createdById": job.created_by,
        "createdDate": format_sf_datetime(job.created),
        "systemModstamp": format_sf_datetime(job.modified or job.created),
        "state": job.state,
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(job.api_version),
        "lineEnding": job.line_ending,
        "columnDelimiter": job.column_delimiter,
    }
    if full:
        info["jobType"] = "V2Query"
        info["numberRecordsProcessed"] = len(job.record_ids or [])
        info["retries"] = 0
        info["totalProcessingTime"] = 0
        info["isPkChunkingSupported"] = True
    if job.error_message:
        info["errorMessage"] = job.error_message
    return info


def _jobs(org: SfOrg) -> dict[str, BulkJob]:
    return org.bulk_jobs


def _find(sandbox: SandboxState, org: SfOrg, job_id: str, version: str) -> BulkJob | Response:
    job = _jobs(org).get(ids.normalize(job_id) or job_id)
    if job is None:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.api_version != version:
        return sf_error(
            409,
            "API_VERSION_MISMATCH",
            f"The job was created with API version {job.api_version}: use /services/data/v{job.api_version}/",
        )
    advance(sandbox, org, job)
    return job


# --- endpoints -----------------------------------------------------------------------------------------------
@sf_endpoint()
def create_job(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    body = request_json(request)
    if not isinstance(body, dict):
        return sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    operation = body.get("operation")
    if operation not in ("query", "queryAll"):
        return sf_error(400, "INVALIDJOB", f"Invalid operation for a query job: {operation!r}")
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        return sf_error(400, "INVALIDJOB", "A query is required for a query job")
    delimiter = str(body.get("columnDelimiter") or "COMMA").upper()
    line_ending = str(body.get("lineEnding") or "LF").upper()
    if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
        return sf_error(400, "INVALIDJOB", "columnDelimiter or lineEnding is not one Salesforce accepts")
    if str(body.get("contentType") or "CSV").upper() != "CSV":
        return sf_error(400, "INVALIDJOB", "Only CSV is supported as contentType")
    try:
        compiled = compile_for(org, text)
    except soql.SoqlError as error:
        return sf_error(400, error.code, error.message_for(text))
    refused = _unsupported(compiled)
    if refused is not None:
        return refused
    now = org.now()
    job = BulkJob(
        id=org.ids.new_for_prefix(ids.KEY_PREFIXES["BulkJob"]),
        org_id=org.org_id,
        operation=operation,
        query=text,
        sobject=compiled.entity.name,
        compiled=compiled,
        created_by=session.user_id,
        created=now,
        created_at=sandbox.clock.timestamp(),
        api_version=version,
        column_delimiter=delimiter,
        line_ending=line_ending,
        settled_at=sandbox.clock.timestamp(),
    )
    _forget_old_jobs(sandbox, org)
    _jobs(org)[job.id] = job
    sandbox.counters["salesforce.bulk_jobs_created"] += 1
    return json_response(job_info(job, full=False))


def _forget_old_jobs(sandbox: SandboxState, org: SfOrg) -> None:
    """Salesforce deletes finished jobs (and their results) after 7 days; so does the emulator, on its clock."""
    horizon = sandbox.clock.timestamp() - JOB_KEEP_SECONDS
    with _JOB_LOCK:
        for job_id, job in list(org.bulk_jobs.items()):
            if job.state in TERMINAL and job.created_at < horizon:
                org.bulk_jobs.pop(job_id, None)


def _unsupported(compiled: soql.Compiled) -> Response | None:
    compound = [".".join(column.path) for column in compiled.columns if column.meta["type"] in soql.COMPOUND_TYPES]
    if compound:
        return sf_error(
            400,
            "API_ERROR",
            f"FeatureNotEnabled : Compound fields are not supported by Bulk API: {', '.join(compound)}. Select "
            "their component fields instead.",
        )
    if compiled.is_count:
        return sf_error(400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0 query jobs")
    if compiled.query.offset is not None:
        return sf_error(400, "API_ERROR", "OFFSET is not supported by Bulk API 2.0 query jobs")
    return None


@sf_endpoint()
def list_jobs(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    records = []
    for job in _jobs(org).values():
        advance(sandbox, org, job)
        records.append(job_info(job, full=False) | {"jobType": "V2Query"})
    return json_response({"done": True, "records": records, "nextRecordsUrl": None})


@sf_endpoint()
def job_detail(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, job_id: str
) -> Response:
    found = _find(sandbox, org, job_id, version)
    if isinstance(found, Response):
        return found
    job = found
    if request.method == "GET":
        return json_response(job_info(job))
    if request.method == "DELETE":
        if job.state not in TERMINAL and job.state != UPLOAD_COMPLETE:
            return sf_error(400, "INVALIDJOBSTATE", f"A job in state {job.state} can not be deleted")
        del _jobs(org)[job.id]
        return no_content()
    body = request_json(request)
    wanted = body.get("state") if isinstance(body, dict) else None
    if wanted != ABORTED:
        return sf_error(400, "INVALIDJOBSTATE", "A query job's state can only be set to Aborted")
    if job.state in TERMINAL:
        return sf_error(400, "INVALIDJOBSTATE", f"Job is already {job.state}: it can not be aborted")
    job.state = ABORTED
    job.modified = org.now()
    return json_response(job_info(job, full=False))


def _locator_text(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _locator_offset(text: str) -> int | None:
    try:
        padded = text + "=" * (-len(text) % 4)
        value = int(base64.b64decode(padded.encode(), validate=True).decode())
    except ValueError:
        return None
    return value if value >= 0 else None


@sf_endpoint()
def job_results(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str, job_id: str
) -> Response:
    found = _find(sandbox, org, job_id, version)
    if isinstance(found, Response):
        return found
    job = found
    if job.state != JOB_COMPLETE or job.record_ids is None:
        return sf_error(412, "JOB_NOT_COMPLETE", f"The job is not complete: its state is {job.state}")
    offset = 0
    locator = request.args.get("locator")
    if locator and locator != "null":
        decoded = _locator_offset(locator)
        if decoded is None or decoded > len(job.record_ids):
            return sf_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        offset = decoded
    try:
        max_records = int(request.args.get("maxRecords") or sandbox.config.sf_bulk_result_max_records)
    except ValueError:
        return sf_error(400, "INVALID_INPUT", "maxRecords must be a positive integer")
    if max_records <= 0:
        return sf_error(400, "INVALID_INPUT", "maxRecords must be a positive integer")
    chunk = job.record_ids[offset : offset + max_records]
    text = render_csv(org, job, chunk)
    end = offset + len(chunk)
    headers = {
        "Sforce-NumberOfRecords": str(len(chunk)),
        "Sforce-Locator": _locator_text(end) if end < len(job.record_ids) else "null",
    }
    return Response(text, status=200, mimetype="text/csv", headers=headers)


def render_csv(org: SfOrg, job: BulkJob, record_ids: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=DELIMITERS[job.column_delimiter],
        lineterminator=LINE_ENDINGS[job.line_ending],
        quoting=csv.QUOTE_ALL,
    )
    columns = job.compiled.columns
    writer.writerow([".".join(column.path) for column in columns])
    store = org.store(job.sobject)
    if store is None:
        return buffer.getvalue()
    # Plain columns are read with record.get in one pass (the csv module writes None as an empty field);
    # booleans, relationship paths and compound fields are fixed up by position.
    names = [column.path[-1] for column in columns]
    special = [
        (index, column.get)
        for index, column in enumerate(columns)
        if column.relation or column.meta["type"] == "boolean" or column.meta["type"] in soql.COMPOUND_TYPES
    ]
    with store.lock:
        for record_id in record_ids:
            record = store.get(record_id)
            if record is None:
                continue
            values = list(map(record.get, names))
            for index, get in special:
                values[index] = _csv_value(get(record))
            writer.writerow(values)
    return buffer.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


# --- controls ------------------------------------------------------------------------------------------------
def _control_error(message: str, status: int = 404) -> Response:
    return json_response({"error": message}, status)


def _job_anywhere(sandbox: SandboxState, job_id: str) -> tuple[SfOrg, BulkJob] | None:
    normalized = ids.normalize(job_id) or job_id
    for org in sandbox.salesforce.orgs.values():
        job = org.bulk_jobs.get(normalized)
        if job is not None:
            return org, job
    return None


def control_hold(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = sandbox.salesforce.org(org_id)
    if org is None:
        return _control_error(f"no org {org_id}")
    body = request_json(request)
    hold = bool(body.get("hold", True)) if isinstance(body, dict) else True
    now = sandbox.clock.timestamp()
    if not hold:
        for job in org.bulk_jobs.values():  # the clock starts again from the release
            job.settled_at = now
    else:
        for job in org.bulk_jobs.values():
            advance(sandbox, org, job)
    org.__dict__["bulk_hold"] = hold
    return json_response({"org_id": org.org_id, "hold": hold})


def control_job(sandbox: SandboxState, request: Request, job_id: str, action: str) -> Response:
    found = _job_anywhere(sandbox, job_id)
    if found is None:
        return _control_error(f"no bulk job {job_id}")
    org, job = found
    if action == "finish":
        if job.state in (ABORTED, FAILED):
            return _control_error(f"job is {job.state}", 409)
        if job.state != JOB_COMPLETE:
            complete(org, job)
    elif action == "fail":
        body = request_json(request)
        message = body.get("message") if isinstance(body, dict) else None
        job.state = FAILED
        job.error_message = message or "InternalServerError : the job failed in the sandbox"
        job.modified = org.now()
    elif action == "expire":
        del org.bulk_jobs[job.id]
        return json_response({"id": job.id, "expired": True})
    else:
        return _control_error(f"unknown action {action}")
    return json_response(job_info(job))


ROUTES = [
    ("/services/data/v<version>/jobs/query", ["POST"], create_job),
    ("/services/data/v<version>/jobs/query", ["GET"], list_jobs),
    ("/services/data/v<version>/jobs/query/<job_id>", ["GET", "PATCH", "DELETE"], job_detail),
    ("/services/data/v<version>/jobs/query/<job_id>/results", ["GET"], job_results),
]

CONTROL_ROUTES = [
    ("/_sandbox/salesforce/orgs/<org_id>/bulk/hold", ["POST"], control_hold),
    ("/_sandbox/salesforce/bulk/<job_id>/<any(finish, fail, expire):action>", ["POST"], control_job),
]
