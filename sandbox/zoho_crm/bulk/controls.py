"""Bulk Read controls under /_sandbox/zoho/bulk: list every job, complete or fail one now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json
from sandbox.zoho_crm.bulk.api import detail_response
from sandbox.zoho_crm.bulk.jobs import BulkJob

if TYPE_CHECKING:
    from sandbox.state import SandboxState


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
    return detail_response(sandbox, job)


def control_fail(sandbox: SandboxState, request: Request, job_id: str) -> Response:
    job = _control_job(sandbox, job_id)
    if isinstance(job, Response):
        return job
    reason = str((request_json(request) or {}).get("reason") or "injected failure")
    if not sandbox.crm.bulk.fail(job, reason):
        return json_response({"error": f"job already {job.final_state}", "job_id": job_id}, 409)
    return detail_response(sandbox, job)


def control_jobs(sandbox: SandboxState, request: Request) -> Response:
    bulk = sandbox.crm.bulk
    return json_response(
        [
            {**bulk.detail(job), "org_id": job.org_id, "failure_reason": job.failure_reason}
            for job in list(bulk.jobs.values())
        ]
    )
