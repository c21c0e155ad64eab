"""Bulk Read REST handlers: create a job, its status, and the download of its ZIP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from sandbox.http import json_response, request_json, zoho_error
from sandbox.zoho_crm.bulk.jobs import COMPLETED, BulkJob
from sandbox.zoho_crm.calls import crm_endpoint
from sandbox.zoho_crm.orgs import module_scope

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

CREATE_CREDITS = 50  # UNCONFIRMED: the v8 credit cost of creating a bulk read job was not found
CALL_CREDITS = 1  # status and download calls
SCOPE = "ZohoCRM.bulk.READ"


def _module_refusal(sandbox: SandboxState, request: Request, module: str) -> Response | None:
    """Zoho asks for ZohoCRM.bulk.read *and* the module's read scope: the refusal when the token lacks either."""
    found = sandbox.crm.authenticate(request, scope=(SCOPE, module_scope(module, "READ")))
    return found if isinstance(found, Response) else None


def _not_found(job_id: str, status: int) -> Response:
    return zoho_error(
        "RESOURCE_NOT_FOUND", "the requested resource doesn't exist", status=status, details={"resource": job_id}
    )


def detail_response(sandbox: SandboxState, job: BulkJob) -> Response:
    """The job's details as the status call answers them (the controls answer the same)."""
    return json_response({"data": [sandbox.crm.bulk.detail(job)]})


@crm_endpoint(scope=SCOPE, credits=None)
def create_job(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    """A job costs CREATE_CREDITS once its body is readable; an unreadable body costs nothing."""
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
        refused = _module_refusal(sandbox, request, module)
        if refused:
            return refused
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


@crm_endpoint(scope=SCOPE, credits=CALL_CREDITS)
def job_status(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, job_id: str) -> Response:
    job = sandbox.crm.bulk.job_of(org, job_id)
    if job is None:
        return _not_found(job_id, 404)
    refused = _module_refusal(sandbox, request, job.module)
    if refused:
        return refused
    sandbox.crm.bulk.observe(job)
    return detail_response(sandbox, job)


@crm_endpoint(scope=SCOPE, credits=None)
def job_result(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, job_id: str) -> Response:
    """The download throttle answers before any credit is spent."""
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
        refused = _module_refusal(sandbox, request, job.module)
        if refused:
            return refused
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
