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

Layout: jobs.py (BulkState: job states, completion, the tick, request validation), criteria.py (criteria,
shared with workflow rules), export.py (the CSV/ICS files in the ZIP), ids.py (module ids), api.py (the REST
handlers), controls.py (the /_sandbox controls).
"""

from sandbox.zoho_crm.bulk.api import (
    CALL_CREDITS,
    CREATE_CREDITS,
    SCOPE,
    create_job,
    detail_response,
    job_result,
    job_status,
)
from sandbox.zoho_crm.bulk.controls import control_complete, control_fail, control_jobs
from sandbox.zoho_crm.bulk.criteria import (
    COMPARATORS,
    MAX_CRITERIA,
    SYSTEM_FIELDS,
    CriteriaError,
    Predicate,
    compare,
    compile_criteria,
    field_name,
)
from sandbox.zoho_crm.bulk.export import ICS_FIELDS, csv_value
from sandbox.zoho_crm.bulk.ids import module_id, org_prefix
from sandbox.zoho_crm.bulk.jobs import (
    COMPLETED,
    FAILURE,
    ICS_PER_PAGE,
    MAX_PAGE,
    PER_PAGE,
    STATES,
    TICK_SECONDS,
    BulkJob,
    BulkState,
    PageToken,
)

ROUTES = [
    ("/crm/bulk/v8/read", ["POST"], create_job),
    ("/crm/bulk/v8/read/<job_id>", ["GET"], job_status),
    ("/crm/bulk/v8/read/<job_id>/result", ["GET"], job_result),
    ("/_sandbox/zoho/bulk", ["GET"], control_jobs),
    ("/_sandbox/zoho/bulk/<job_id>/complete", ["POST"], control_complete),
    ("/_sandbox/zoho/bulk/<job_id>/fail", ["POST"], control_fail),
]

# The app names a route's endpoint, and its key in GET /_sandbox/counters, after the handler's module: the handlers
# keep the module they had before bulk.py became this package, so the counter keys stay `zoho_crm.bulk.<handler>`.
for _path, _methods, _handler in ROUTES:
    _handler.__module__ = __name__

__all__ = [
    "CALL_CREDITS",
    "COMPARATORS",
    "COMPLETED",
    "CREATE_CREDITS",
    "FAILURE",
    "ICS_FIELDS",
    "ICS_PER_PAGE",
    "MAX_CRITERIA",
    "MAX_PAGE",
    "PER_PAGE",
    "ROUTES",
    "SCOPE",
    "STATES",
    "SYSTEM_FIELDS",
    "TICK_SECONDS",
    "BulkJob",
    "BulkState",
    "CriteriaError",
    "PageToken",
    "Predicate",
    "compare",
    "compile_criteria",
    "control_complete",
    "control_fail",
    "control_jobs",
    "create_job",
    "csv_value",
    "detail_response",
    "field_name",
    "job_result",
    "job_status",
    "module_id",
    "org_prefix",
]
