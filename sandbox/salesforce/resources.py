"""The versions list, the resources of a version and the org's limits.

- `GET /services/data/` (no session needed): `[{"label": "Spring \u201926", "url": "/services/data/v66.0",
  "version": "66.0"}, ...]`, every version of `sf_api_versions`, oldest first (REST API guide, Versions).
- `GET /services/data/vXX.X/`: the resources of a version by name (sobjects, query, queryAll, search, limits,
  composite, jobs/query, ...).
- `GET /services/data/vXX.X/limits`: `{"DailyApiRequests": {"Max", "Remaining"}, "DailyBulkV2QueryJobs",
  "DailyBulkV2QueryFileStorageMB", "ConcurrentAsyncGetReportInstances", ...}` (REST API guide, Limits; the
  DailyApiRequests numbers are the allocation the calls spend, after this call's own unit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response
from sandbox.salesforce.calls import sf_endpoint, supported_versions, version_label

if TYPE_CHECKING:
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState


def versions(sandbox: SandboxState, request: Request) -> Response:
    return json_response(
        [
            {"label": version_label(version), "url": f"/services/data/v{version}", "version": version}
            for version in supported_versions(sandbox.config)
        ]
    )


@sf_endpoint()
def resources(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    base = f"/services/data/v{version}"
    names = (
        "sobjects",
        "query",
        "queryAll",
        "search",
        "parameterizedSearch",
        "limits",
        "composite",
        "jobs/query",
        "jobs/ingest",
        "recent",
        "tooling",
    )
    return json_response({name.replace("/", ""): f"{base}/{name}" for name in names})


def _pool(maximum: int, remaining: int) -> dict[str, int]:
    return {"Max": maximum, "Remaining": max(0, remaining)}


@sf_endpoint()
def limits(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    bulk_jobs_today = sum(1 for _ in org.bulk_jobs)
    return json_response(
        {
            "ConcurrentAsyncGetReportInstances": _pool(200, 200),
            "ConcurrentSyncReportRuns": _pool(20, 20),
            "DailyApiRequests": _pool(org.daily_limit, org.daily_limit - org.api_usage()),
            "DailyAsyncApexExecutions": _pool(250_000, 250_000),
            "DailyBulkApiBatches": _pool(15_000, 15_000),
            "DailyBulkV2QueryFileStorageMB": _pool(976_562, 976_562),
            "DailyBulkV2QueryJobs": _pool(10_000, 10_000 - bulk_jobs_today),
            "DataStorageMB": _pool(1024, 1024 - sum(len(store) for store in org.stores.values()) // 500),
            "FileStorageMB": _pool(1024, 1024),
            "HourlyODataCallout": _pool(10_000, 10_000),
            "SingleEmail": _pool(5_000, 5_000),
        }
    )


ROUTES = [
    ("/services/data/", ["GET"], versions),
    ("/services/data/v<version>", ["GET"], resources),
    ("/services/data/v<version>/limits", ["GET"], limits),
]
