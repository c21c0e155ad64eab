"""Bulk Read jobs: their state on the sandbox clock, completion (export and callback), and the background tick."""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.wrappers import Response

from sandbox.http import zoho_error
from sandbox.kit.limits import RateWindows
from sandbox.zoho_crm.bulk.criteria import SYSTEM_FIELDS, CriteriaError, Predicate, compile_criteria
from sandbox.zoho_crm.bulk.export import (
    ICS_FIELDS,
    all_columns,
    collector_paused,
    column_resolvers,
    write_csv,
    write_ics,
)
from sandbox.zoho_crm.bulk.ids import module_id, org_prefix
from sandbox.zoho_crm.store import IdSequence, format_zoho_datetime

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

logger = structlog.get_logger(__package__)  # "sandbox.zoho_crm.bulk", as before the package split

PER_PAGE = 200_000  # records per job (Zoho's limit); BulkState.per_page can lower it in tests
ICS_PER_PAGE = 20_000
MAX_PAGE = 50  # the OAS pattern for query.page allows 1..50
STATES = ("ADDED", "QUEUED", "IN PROGRESS", "COMPLETED")
COMPLETED = "COMPLETED"
FAILURE = "FAILURE"  # the v8 OAS state enum says FAILURE (docs/vendors/zoho-crm.md, Bulk Read: UNCONFIRMED)
TICK_SECONDS = 0.25


@dataclass
class BulkJob:
    id: str
    org_id: str
    module: str
    created_by: dict[str, Any]
    created_at: datetime
    created_time: str
    file_type: str
    fields: list[str]
    query_echo: dict[str, Any]
    predicate: Predicate | None
    page: int
    after_id: str | None
    callback: dict[str, str] | None
    final_state: str | None = None
    result: dict[str, Any] | None = None
    path: Path | None = None
    failure_reason: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class PageToken:
    org_id: str
    module: str
    page: int
    after_id: str


class BulkState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.jobs: dict[str, BulkJob] = {}
        self.page_tokens: dict[str, PageToken] = {}
        self.downloads = RateWindows(60, now=sandbox.clock.timestamp)  # download calls per org, per minute
        self.per_page = PER_PAGE
        self._ids = IdSequence(start=4_717_000)
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------
    def clock_state(self, job: BulkJob) -> str:
        if job.final_state:
            return job.final_state
        step = self.sandbox.config.bulk_read_seconds_per_state
        elapsed = (self.sandbox.clock.now() - job.created_at).total_seconds()
        index = len(STATES) - 1 if step <= 0 else min(int(elapsed // step), len(STATES) - 1)
        return STATES[max(index, 0)]

    def observe(self, job: BulkJob) -> str:
        """The job's state now; completes it (writes the export, sends the callback) once its time has come."""
        state = self.clock_state(job)
        if state == COMPLETED and job.final_state is None:
            self.complete(job)
        return job.final_state or state

    def complete(self, job: BulkJob) -> None:
        with job.lock:
            if job.final_state is not None:
                return
            org = self.sandbox.crm.orgs.get(job.org_id)
            try:
                count, more, last_id = self._export(org, job)
            except Exception as exc:  # an export that cannot be written fails the job, as a vendor's would
                logger.exception("sandbox_bulk_read_export_failed", job_id=job.id)
                job.failure_reason = f"{type(exc).__name__}: {exc}"
                job.final_state = FAILURE
            else:
                job.result = {
                    "page": job.page,
                    "per_page": self.per_page,
                    "count": count,
                    "download_url": f"/crm/bulk/v8/read/{job.id}/result",
                    "more_records": more,
                }
                if more and last_id is not None:
                    token = secrets.token_hex(48)
                    self.page_tokens[token] = PageToken(job.org_id, job.module, job.page + 1, last_id)
                    job.result["next_page_token"] = token
                job.final_state = COMPLETED
        self._send_callback(job)

    def fail(self, job: BulkJob, reason: str = "injected failure") -> bool:
        with job.lock:
            if job.final_state is not None:
                return False
            job.final_state = FAILURE
            job.failure_reason = reason
        self._send_callback(job)
        return True

    def _send_callback(self, job: BulkJob) -> None:
        if not job.callback:
            return
        # docs/vendors/zoho-crm.md, Bulk Read: the callback carries the job details, in the same shape as the status
        # call (UNCONFIRMED).
        self.sandbox.sender.submit(
            kind="zoho_bulk_callback",
            method="POST",
            url=job.callback["url"],
            json={"data": [self.detail(job)]},
        )

    def detail(self, job: BulkJob) -> dict[str, Any]:
        body: dict[str, Any] = {"id": job.id, "operation": "read", "state": self.clock_state(job)}
        if job.final_state == COMPLETED and job.result is not None:
            body["result"] = dict(job.result)
        body["query"] = job.query_echo
        body["created_by"] = job.created_by
        body["created_time"] = job.created_time
        body["file_type"] = job.file_type
        return body

    # --- the background tick --------------------------------------------------------------------------------
    def _ensure_ticker(self) -> None:
        with self._lock:
            if self._ticker is not None and self._ticker.is_alive():
                return
            self._ticker = threading.Thread(target=self._tick, name="sandbox-bulk-ticker", daemon=True)
            self._ticker.start()

    def _retired(self) -> bool:
        crm = getattr(self.sandbox, "crm", None)
        return (crm is not None and crm.bulk is not self) or self.sandbox.sender.stopped

    def _tick(self) -> None:
        """Completes jobs whose time has come, so callbacks go out without anyone polling; ends with the last one."""
        while True:
            time.sleep(TICK_SECONDS)
            if self._retired():
                return
            pending = [job for job in list(self.jobs.values()) if job.final_state is None]
            if not pending:
                with self._lock:
                    if all(job.final_state is not None for job in self.jobs.values()):
                        self._ticker = None
                        return
                continue
            for job in pending:
                try:
                    self.observe(job)
                except Exception:  # the tick must outlive one bad job; observe() logs and fails it
                    logger.exception("sandbox_bulk_read_tick_failed", job_id=job.id)

    # --- export ---------------------------------------------------------------------------------------------
    def _tmpdir(self) -> Path:
        with self._lock:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="sandbox-bulk-")
            return Path(self._tmp.name)

    def _export(self, org: ZohoOrg | None, job: BulkJob) -> tuple[int, bool, str | None]:
        """Write the job's page of records into a ZIP; returns (count, more_records, last exported id)."""
        store = org.module(job.module) if org is not None else None
        limit = ICS_PER_PAGE if job.file_type == "ics" else self.per_page
        skip = 0 if job.after_id else (job.page - 1) * limit
        columns = list(job.fields)
        rows: list[tuple[Any, ...]] = []
        more = False
        if store is not None:
            # The snapshot: nothing changes while the page is taken. The rows are tuples of the records' own
            # values (no copies); the collector is paused meanwhile, as 200,000 new tuples would otherwise set
            # off collections that walk the whole heap and hold the lock for seconds instead of half of one.
            with store.lock, collector_paused():
                if not columns and job.file_type == "csv":
                    columns = all_columns(org, job.module, store.records.values())
                names = ICS_FIELDS if job.file_type == "ics" else ("id", *(name.split(".", 1)[0] for name in columns))
                matched = 0
                for record in store.iter_by_id(after=job.after_id):
                    if job.predicate is not None and not job.predicate(record):
                        continue
                    matched += 1
                    if matched <= skip:
                        continue
                    if len(rows) == limit:
                        more = True
                        break
                    rows.append(tuple(map(record.get, names)))
        path = self._tmpdir() / f"{job.id}.zip"
        if job.file_type == "ics":
            write_ics(path, job.id, rows, org)
        else:
            write_csv(path, job.id, columns, rows, column_resolvers(org, job.module, columns))
        job.path = path
        return len(rows), more, (str(rows[-1][0]) if rows else None)

    # --- requests -------------------------------------------------------------------------------------------
    def create(self, org: ZohoOrg, user: dict[str, Any], body: dict[str, Any]) -> BulkJob | Response:
        query = body.get("query")
        if not isinstance(query, dict):
            return zoho_error("MANDATORY_NOT_FOUND", "required field not found", details={"api_name": "query"})
        module_value = query.get("module")
        module = module_value.get("api_name") if isinstance(module_value, dict) else module_value
        if not isinstance(module, str) or not module:
            return zoho_error("MANDATORY_NOT_FOUND", "required field not found", details={"api_name": "module"})
        if org.module(module) is None:
            return zoho_error(
                "MODULE_NOT_AVAILABLE",
                "the given module is not available",
                details={"api_name": module, "module": module},
            )
        if query.get("cvid"):
            return zoho_error(
                "CVID_NOT_SUPPORTED", "custom views are not available in the sandbox", details={"api_name": "cvid"}
            )
        file_type = body.get("file_type") or query.get("file_type") or "csv"
        if file_type not in ("csv", "ics"):
            return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "file_type"})
        if file_type == "ics" and module != "Events":
            return zoho_error(
                "NOT_SUPPORTED_FEATURE",
                "ics export is supported only for Events",
                details={"api_name": "file_type"},
            )
        fields_value = query.get("fields") or []
        if not isinstance(fields_value, list):
            return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "fields"})
        if file_type == "ics" and fields_value:
            return zoho_error(
                "FIELD_NOT_SUPPORTED", "fields are not supported for ics export", details={"api_name": "fields"}
            )
        fields: list[str] = []
        known = {meta.get("api_name") for meta in org.fields.get(module, []) if isinstance(meta, dict)}
        for item in fields_value:
            name = item.get("api_name") if isinstance(item, dict) else item
            if not isinstance(name, str) or not name:
                return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "fields"})
            if known and name.split(".", 1)[0] not in known | SYSTEM_FIELDS:
                return zoho_error(
                    "FIELD_NOT_AVAILABLE",
                    "the given field is not available",
                    details={"api_name": name, "module": module},
                )
            if name != "id" and name not in fields:
                fields.append(name)
        predicate = None
        if query.get("criteria"):
            try:
                predicate = compile_criteria(query["criteria"], known or None)
            except CriteriaError as exc:
                return exc.response()
        page, after_id, token = 1, None, query.get("page_token")
        if token:
            found = self.page_tokens.get(str(token))
            if found is None or found.org_id != org.org_id or found.module != module:
                return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "page_token"})
            page, after_id = found.page, found.after_id
        elif query.get("page") is not None:
            try:
                page = int(query["page"])
            except (TypeError, ValueError):
                return zoho_error("INVALID_DATA", "invalid data", details={"api_name": "page"})
            if not 1 <= page <= MAX_PAGE:
                return zoho_error(
                    "PAGE_RANGE_EXCEEDED", "the given page is out of range", details={"max_limit": MAX_PAGE}
                )
        callback = body.get("callback")
        if callback is not None:
            if not isinstance(callback, dict) or not re.match(r"^https?://", str(callback.get("url") or "")):
                return zoho_error("INVALID_CALLBACK_URL", "the callback url is invalid", details={"api_name": "url"})
            if str(callback.get("method") or "post").lower() != "post":
                return zoho_error(
                    "INVALID_CALLBACK_METHOD", "the callback method must be post", details={"api_name": "method"}
                )
            callback = {"url": str(callback["url"]), "method": "post"}
        echo: dict[str, Any] = {"module": {"id": module_id(module, org_prefix(org)), "api_name": module}}
        if fields_value:
            echo["fields"] = list(fields_value)
        if query.get("criteria"):
            echo["criteria"] = query["criteria"]
        if token:
            echo["page_token"] = token
        echo["page"] = page
        now = self.sandbox.clock.now()
        job = BulkJob(
            id=self._ids.next(),
            org_id=org.org_id,
            module=module,
            created_by={"id": str(user.get("id", "")), "name": _user_name(user)},
            created_at=now,
            created_time=format_zoho_datetime(now, org.tz),
            file_type=file_type,
            fields=fields,
            query_echo=echo,
            predicate=predicate,
            page=page,
            after_id=after_id,
            callback=callback,
        )
        with self._lock:
            self.jobs[job.id] = job
        self._ensure_ticker()
        return job

    def job_of(self, org: ZohoOrg, job_id: str) -> BulkJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.org_id == org.org_id else None

    def take_download(self, org: ZohoOrg) -> bool:
        """Count a download call; False once the org has made its allowance within the last minute."""
        return self.downloads.take(org.org_id, limit=lambda: self.sandbox.config.bulk_downloads_per_minute)


def _user_name(user: dict[str, Any]) -> str:
    if user.get("full_name"):
        return str(user["full_name"])
    return " ".join(str(user[key]) for key in ("first_name", "last_name") if user.get(key))
