"""Bulk Read (export): `POST /crm/bulk/v8/read`, job status on the sandbox clock, a ZIP with one CSV, callbacks.

A job's state follows the sandbox clock, one state per `config.bulk_read_seconds_per_state`:
ADDED -> QUEUED -> IN PROGRESS (with the space) -> COMPLETED. The job really completes (its export is written)
the first time anything looks at it after that moment: a status call, a download, the control API, or the
background tick that runs while unfinished jobs exist (so a product that only waits for the callback gets it).

Snapshot semantics (our choice; Zoho does not say): a job exports what the store holds when it completes,
taken under the store's lock, not what it held when the job was created.

The export is written once, at completion, straight into a ZIP in a temporary directory (200,000 records never
sit in memory as CSV text); downloads stream that file. Columns: `id` first, then the requested fields (all
fields when `fields` is empty); lookups (Owner too) as their record or user ids, dotted fields
(`Owner.last_name`, `Account_Name.Account_Name`) resolved, datetimes as the records hold them (ISO 8601).

Controls (tests, fault injection): `POST /_sandbox/zoho/bulk/<job_id>/complete` completes a job now (and sends
its callback); `POST /_sandbox/zoho/bulk/<job_id>/fail` fails it (state FAILURE, callback sent);
`GET /_sandbox/zoho/bulk` lists every job.
"""

from __future__ import annotations

import csv
import gc
import io
import logging
import re
import secrets
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from sandbox.http import json_response, request_json, zoho_error
from sandbox.zoho_crm.orgs import module_scope
from sandbox.zoho_crm.store import ORG_ID_PREFIX, IdSequence, format_zoho_datetime, parse_zoho_datetime

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

logger = logging.getLogger(__name__)

PER_PAGE = 200_000  # records per job (Zoho's limit); BulkState.per_page can lower it in tests
ICS_PER_PAGE = 20_000
MAX_PAGE = 50  # the OAS pattern for query.page allows 1..50
CREATE_CREDITS = 50  # UNCONFIRMED: the v8 credit cost of creating a bulk read job was not found
CALL_CREDITS = 1  # status and download calls
STATES = ("ADDED", "QUEUED", "IN PROGRESS", "COMPLETED")
COMPLETED = "COMPLETED"
FAILURE = "FAILURE"  # the v8 OAS state enum says FAILURE (api-facts A6: a failure state is UNCONFIRMED)
TICK_SECONDS = 0.25
SCOPE = "ZohoCRM.bulk.READ"

# Zoho's ids of the standard modules end like these in every org (schema.MODULE_IDS wins where it has one);
# other modules get a stable made-up id.
_STANDARD_MODULE_SUFFIXES = {
    "Leads": 2175,
    "Accounts": 2177,
    "Contacts": 2179,
    "Deals": 2181,
    "Campaigns": 2183,
    "Cases": 2187,
    "Events": 2189,
    "Calls": 2191,
    "Tasks": 2193,
    "Notes": 2195,
}
# Fields every record has even when the module's field metadata does not list them.
SYSTEM_FIELDS = frozenset({"id", "Owner", "Created_Time", "Modified_Time", "Created_By", "Modified_By"})


def module_id(api_name: str, prefix: str = ORG_ID_PREFIX) -> str:
    """The module's id (under the org's id prefix) as Zoho reports it in `query.module.id` and `resource_id`s."""
    try:
        from sandbox.zoho_crm.schema import MODULE_IDS
    except ImportError:  # the schema is another helper's; the sandbox works without it
        MODULE_IDS = {}
    suffix = MODULE_IDS.get(api_name) or _STANDARD_MODULE_SUFFIXES.get(api_name)
    if suffix is None:
        suffix = 3000 + sum(ord(char) * (index + 1) for index, char in enumerate(api_name)) % 6000
    return f"{prefix}{suffix:012d}"


def org_prefix(org: ZohoOrg) -> str:
    return getattr(org, "prefix", None) or ORG_ID_PREFIX


# --- criteria (shared with workflow rules) ------------------------------------------------------------------
COMPARATORS = (
    "equal",
    "not_equal",
    "in",
    "not_in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
    "not_between",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
)
MAX_CRITERIA = 25
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
Predicate = Callable[[dict[str, Any]], bool]


class CriteriaError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def response(self) -> Response:
        return zoho_error(self.code, self.message, details=self.details)


def compile_criteria(criteria: Any, known_fields: set[str] | None = None) -> Predicate:
    """Validate a Bulk Read criteria object ({group_operator, group} or {api_name|field, comparator, value}) and
    return a predicate over records. `known_fields` (when given) rejects unknown fields."""
    leaves = [0]
    predicate = _compile(criteria, known_fields, leaves)
    if leaves[0] > MAX_CRITERIA:
        raise CriteriaError("CRITERIA_LIMIT_EXCEEDED", "criteria limit exceeded", {"maximum_length": MAX_CRITERIA})
    return predicate


def _compile(node: Any, known: set[str] | None, leaves: list[int]) -> Predicate:
    if not isinstance(node, dict):
        raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "criteria"})
    if "group" in node:
        operator = node.get("group_operator")
        if not isinstance(operator, str) or operator.lower() not in ("and", "or"):
            raise CriteriaError(
                "GROUP_OPERATOR_NOT_SUPPORTED",
                "the given group operator is not supported",
                {"api_name": "group_operator", "supported": ["and", "or"]},
            )
        group = node.get("group")
        if not isinstance(group, list) or not group:
            raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "group"})
        parts = [_compile(child, known, leaves) for child in group]
        if operator.lower() == "and":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    leaves[0] += 1
    name = node.get("api_name")
    if name is None and isinstance(node.get("field"), dict):
        name = node["field"].get("api_name")
    if not isinstance(name, str) or not name:
        raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "api_name"})
    base = name.split(".", 1)[0]
    if known and base not in known and base not in SYSTEM_FIELDS:
        raise CriteriaError("FIELD_IN_CRITERIA_NOT_AVAILABLE", "the given field is not available", {"api_name": name})
    comparator = node.get("comparator")
    if comparator not in COMPARATORS:
        raise CriteriaError(
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            "the given comparator is not supported for the field",
            {"comparator": str(comparator), "api_name": name, "supported": list(COMPARATORS)},
        )
    value = node.get("value")
    if comparator in ("in", "not_in") and not isinstance(value, list):
        value = [value]
    if comparator in ("between", "not_between") and not (isinstance(value, list) and len(value) == 2):
        raise CriteriaError(
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            "the value is not compatible with the comparator",
            {"comparator": comparator, "api_name": name},
        )
    return _leaf(name, comparator, value)


def _leaf(name: str, comparator: str, value: Any) -> Predicate:
    def get(record: dict[str, Any]) -> Any:
        if "." in name:
            base, sub = name.split(".", 1)
            found = record.get(base)
            return found.get(sub) if isinstance(found, dict) else None
        return record.get(name)

    def predicate(record: dict[str, Any]) -> bool:
        return compare(get(record), comparator, value)

    return predicate


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _scalar(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _keys(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Comparable forms of a record value and a criteria value, or None when they cannot be compared."""
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower(), str(right).lower()
    if isinstance(left, int | float):
        try:
            return float(left), float(right)
        except (TypeError, ValueError):
            return None
    left_text, right_text = str(left), str(right)
    if _DATETIME.match(left_text) and _DATETIME.match(right_text):
        try:
            return parse_zoho_datetime(left_text), parse_zoho_datetime(right_text)
        except ValueError:
            pass
    return left_text.casefold(), right_text.casefold()


def _equal(left: Any, right: Any) -> bool:
    if right is None or right == "${EMPTY}":
        return _is_empty(left)
    left = _scalar(left)
    if isinstance(left, list):
        return any(_equal(item, right) for item in left)
    pair = _keys(left, _scalar(right))
    return pair is not None and pair[0] == pair[1]


def _order(left: Any, right: Any, test: Callable[[Any, Any], bool]) -> bool:
    pair = _keys(_scalar(left), _scalar(right))
    if pair is None:
        return False
    try:
        return test(*pair)
    except TypeError:  # e.g. an aware datetime against a plain date string
        return False


def compare(left: Any, comparator: str, right: Any) -> bool:
    """Zoho's comparators: text is compared case-insensitively, lookups by id, datetimes as instants."""
    if comparator == "equal":
        return _equal(left, right)
    if comparator == "not_equal":
        return not _equal(left, right)
    if comparator == "in":
        return any(_equal(left, item) for item in right)
    if comparator == "not_in":
        return not any(_equal(left, item) for item in right)
    if comparator == "greater_than":
        return _order(left, right, lambda a, b: a > b)
    if comparator == "greater_equal":
        return _order(left, right, lambda a, b: a >= b)
    if comparator == "less_than":
        return _order(left, right, lambda a, b: a < b)
    if comparator == "less_equal":
        return _order(left, right, lambda a, b: a <= b)
    if comparator == "between":
        return _order(left, right[0], lambda a, b: a >= b) and _order(left, right[1], lambda a, b: a <= b)
    if comparator == "not_between":
        return not compare(left, "between", right)
    text = "" if _is_empty(left) else str(_scalar(left)).casefold()
    needle = "" if right is None else str(right).casefold()
    if comparator == "contains":
        return needle in text
    if comparator == "not_contains":
        return needle not in text
    if comparator == "starts_with":
        return text.startswith(needle)
    if comparator == "ends_with":
        return text.endswith(needle)
    return False


# --- jobs ---------------------------------------------------------------------------------------------------
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
        self.downloads: dict[str, deque[float]] = {}  # org id -> sandbox-clock times of download calls
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
                logger.exception("bulk read job %s failed while exporting", job.id)
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
        # api-facts A6: the callback carries the job details, in the same shape as the status call (UNCONFIRMED).
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
                    logger.exception("bulk read tick failed for job %s", job.id)

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
            with store.lock, _collector_paused():
                if not columns and job.file_type == "csv":
                    columns = _all_columns(org, job.module, store.records.values())
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
            _write_ics(path, job.id, rows, org)
        else:
            _write_csv(path, job.id, columns, rows, _resolvers(org, job.module, columns))
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
        now = self.sandbox.clock.timestamp()
        with self._lock:
            times = self.downloads.setdefault(org.org_id, deque())
            while times and times[0] <= now - 60:
                times.popleft()
            if len(times) >= self.sandbox.config.bulk_downloads_per_minute:
                return False
            times.append(now)
        return True


def _user_name(user: dict[str, Any]) -> str:
    if user.get("full_name"):
        return str(user["full_name"])
    return " ".join(str(user[key]) for key in ("first_name", "last_name") if user.get(key))


# --- writing the files --------------------------------------------------------------------------------------
ICS_FIELDS = ("id", "Event_Title", "Start_DateTime", "End_DateTime", "Venue", "Description")


def _all_columns(org: ZohoOrg, module: str, records: Iterable[dict[str, Any]]) -> list[str]:
    """Every field of the module: its metadata order, then any other field the records carry ($ keys aside)."""
    columns = [
        meta["api_name"]
        for meta in org.fields.get(module, [])
        if isinstance(meta, dict) and meta.get("api_name") and meta["api_name"] != "id"
    ]
    seen = set(columns) | {"id"}
    extra: set[str] = set()
    for record in records:
        extra.update(key for key in record if key not in seen and not key.startswith("$"))
    return columns + sorted(extra)


def csv_value(value: Any) -> str:
    """A record value as Zoho writes it in a Bulk Read CSV: lookups as ids, multi-select values joined by ';'."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is dict:
        return str(value.get("id") or "")
    if kind is list:
        return ";".join(map(csv_value, value))
    return str(value)


_collector_lock = threading.Lock()
_collector_state = {"pauses": 0, "was_enabled": True}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (process-wide) while many long-lived small objects are created; it
    comes back when the last overlapping pause ends, if it was on before the first."""
    with _collector_lock:
        if _collector_state["pauses"] == 0:
            _collector_state["was_enabled"] = gc.isenabled()
        _collector_state["pauses"] += 1
        gc.disable()
    try:
        yield
    finally:
        with _collector_lock:
            _collector_state["pauses"] -= 1
            if _collector_state["pauses"] == 0 and _collector_state["was_enabled"]:
                gc.enable()


def _resolvers(org: ZohoOrg | None, module: str, columns: list[str]) -> list[Callable[[Any], str]]:
    """One formatter per column; dotted columns look up the user or the related record."""
    metadata = {meta.get("api_name"): meta for meta in (org.fields.get(module, []) if org else [])}
    resolvers: list[Callable[[Any], str]] = []
    for name in columns:
        if "." not in name or org is None:
            resolvers.append(csv_value)
            continue
        base, sub = name.split(".", 1)
        lookup = (metadata.get(base) or {}).get("lookup") or {}
        target = ((lookup.get("module") or {}) if isinstance(lookup, dict) else {}).get("api_name")
        resolvers.append(_dotted(org, target, sub))
    return resolvers


def _dotted(org: ZohoOrg, target: str | None, sub: str) -> Callable[[Any], str]:
    def resolve(value: Any) -> str:
        if not isinstance(value, dict):
            return ""
        related_id = str(value.get("id") or "")
        user = org.users.get(related_id)
        if user is not None:
            return csv_value(user.get(sub, value.get(sub)))
        store = org.module(target) if target else None
        related = store.get(related_id) if store is not None else None
        if related is not None:
            return csv_value(related.get(sub))
        return csv_value(value.get(sub, value.get("name")))

    return resolve


def _write_csv(
    path: Path, job_id: str, columns: list[str], rows: list[tuple[Any, ...]], resolvers: list[Callable[[Any], str]]
) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(f"{job_id}.csv", "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(["id", *columns])
            if all(resolve is csv_value for resolve in resolvers):
                for row in rows:
                    writer.writerow(map(csv_value, row))
            else:
                everything = [csv_value, *resolvers]
                for row in rows:
                    writer.writerow([resolve(value) for resolve, value in zip(everything, row, strict=True)])
            text.flush()
            text.detach()


def _ics_time(value: Any) -> str:
    if not value:
        return ""
    try:
        moment = parse_zoho_datetime(str(value))
    except ValueError:
        return ""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _ics_text(value: Any) -> str:
    return csv_value(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _write_ics(path: Path, job_id: str, rows: list[tuple[Any, ...]], org: ZohoOrg | None) -> None:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Zoho CRM//Bulk Read//EN"]
    for record_id, title, start, end, venue, description in rows:
        lines += ["BEGIN:VEVENT", f"UID:{record_id}", f"SUMMARY:{_ics_text(title)}"]
        lines += [f"DTSTART:{_ics_time(start)}", f"DTEND:{_ics_time(end)}"]
        if venue:
            lines.append(f"LOCATION:{_ics_text(venue)}")
        if description:
            lines.append(f"DESCRIPTION:{_ics_text(description)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{job_id}.ics", "\r\n".join(lines) + "\r\n")


# --- handlers -----------------------------------------------------------------------------------------------
def _authenticated(sandbox: SandboxState, request: Request) -> tuple[ZohoOrg, dict] | Response:
    return sandbox.crm.authenticate(request, scope=SCOPE)


def _not_found(job_id: str, status: int) -> Response:
    return zoho_error(
        "RESOURCE_NOT_FOUND", "the requested resource doesn't exist", status=status, details={"resource": job_id}
    )


def create_job(sandbox: SandboxState, request: Request) -> Response:
    found = _authenticated(sandbox, request)
    if isinstance(found, Response):
        return found
    org, user = found
    with org.calling() as refused:
        if refused:
            return refused
        body = request_json(request)
        if body is None and not request.get_data():
            return zoho_error("REQUEST_BODY_IS_EMPTY", "the request body is empty")
        if not isinstance(body, dict):
            return zoho_error("REQUEST_BODY_NOT_SUPPORTED", "request body contains invalid format")
        refused = org.charge(CREATE_CREDITS)
        if refused:
            return refused
        query = body.get("query")
        module = query.get("module") if isinstance(query, dict) else None
        module = module.get("api_name") if isinstance(module, dict) else module
        if isinstance(module, str) and module:
            # Zoho asks for ZohoCRM.bulk.read *and* the module's read scope.
            found = sandbox.crm.authenticate(request, scope=(SCOPE, module_scope(module, "READ")))
            if isinstance(found, Response):
                return found
        job = sandbox.crm.bulk.create(org, user, body)
        if isinstance(job, Response):
            return job
        details = {
            "id": job.id,
            "operation": "read",
            "state": "ADDED",
            "created_by": job.created_by,
            "created_time": job.created_time,
        }
        return json_response(
            {
                "data": [
                    {
                        "status": "success",
                        "code": "ADDED_SUCCESSFULLY",
                        "message": "Added successfully.",
                        "details": details,
                    }
                ],
                "info": {},
            },
            201,
        )


def job_status(sandbox: SandboxState, request: Request, job_id: str) -> Response:
    found = _authenticated(sandbox, request)
    if isinstance(found, Response):
        return found
    org, _user = found
    with org.calling() as refused:
        if refused:
            return refused
        refused = org.charge(CALL_CREDITS)
        if refused:
            return refused
        job = sandbox.crm.bulk.job_of(org, job_id)
        if job is None:
            return _not_found(job_id, 404)
        found = sandbox.crm.authenticate(request, scope=(SCOPE, module_scope(job.module, "READ")))
        if isinstance(found, Response):
            return found
        sandbox.crm.bulk.observe(job)
        return json_response({"data": [sandbox.crm.bulk.detail(job)]})


def job_result(sandbox: SandboxState, request: Request, job_id: str) -> Response:
    found = _authenticated(sandbox, request)
    if isinstance(found, Response):
        return found
    org, _user = found
    with org.calling() as refused:
        if refused:
            return refused
        if not sandbox.crm.bulk.take_download(org):
            return zoho_error(
                "TOO_MANY_REQUESTS",
                "Only 10 download requests are allowed per minute. Please try again later.",
                status=429,
                details={"limit": sandbox.config.bulk_downloads_per_minute, "interval_seconds": 60},
            )
        refused = org.charge(CALL_CREDITS)
        if refused:
            return refused
        job = sandbox.crm.bulk.job_of(org, job_id)
        if job is not None:
            found = sandbox.crm.authenticate(request, scope=(SCOPE, module_scope(job.module, "READ")))
            if isinstance(found, Response):
                return found
        # The OAS answers a download it cannot give with 400 RESOURCE_NOT_FOUND (not 404).
        if job is None or sandbox.crm.bulk.observe(job) != COMPLETED or job.path is None:
            return _not_found(job_id, 400)
        handle = job.path.open("rb")
        return Response(
            wrap_file(request.environ, handle),
            mimetype="application/x-download",
            direct_passthrough=True,
            headers={
                "Content-Disposition": f'attachment; filename="{job.id}.zip"',
                "Content-Length": str(job.path.stat().st_size),
            },
        )


# --- controls -----------------------------------------------------------------------------------------------
def _control_job(sandbox: SandboxState, job_id: str) -> BulkJob | Response:
    job = sandbox.crm.bulk.jobs.get(job_id)
    if job is None:
        return json_response({"error": "no such bulk read job", "job_id": job_id}, 404)
    return job


def control_complete(sandbox: SandboxState, request: Request, job_id: str) -> Response:
    job = _control_job(sandbox, job_id)
    if isinstance(job, Response):
        return job
    sandbox.crm.bulk.complete(job)
    return json_response({"data": [sandbox.crm.bulk.detail(job)]})


def control_fail(sandbox: SandboxState, request: Request, job_id: str) -> Response:
    job = _control_job(sandbox, job_id)
    if isinstance(job, Response):
        return job
    reason = str((request_json(request) or {}).get("reason") or "injected failure")
    if not sandbox.crm.bulk.fail(job, reason):
        return json_response({"error": f"job already {job.final_state}", "job_id": job_id}, 409)
    return json_response({"data": [sandbox.crm.bulk.detail(job)]})


def control_jobs(sandbox: SandboxState, request: Request) -> Response:
    bulk = sandbox.crm.bulk
    return json_response(
        [
            {**bulk.detail(job), "org_id": job.org_id, "failure_reason": job.failure_reason}
            for job in list(bulk.jobs.values())
        ]
    )


ROUTES = [
    ("/crm/bulk/v8/read", ["POST"], create_job),
    ("/crm/bulk/v8/read/<job_id>", ["GET"], job_status),
    ("/crm/bulk/v8/read/<job_id>/result", ["GET"], job_result),
    ("/_sandbox/zoho/bulk", ["GET"], control_jobs),
    ("/_sandbox/zoho/bulk/<job_id>/complete", ["POST"], control_complete),
    ("/_sandbox/zoho/bulk/<job_id>/fail", ["POST"], control_fail),
]
