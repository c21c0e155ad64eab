"""Notifications REST handler: `/crm/v8/actions/watch` for GET, POST, PUT, PATCH and DELETE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content, request_json
from sandbox.zoho_crm.notifications.channels import WatchState
from sandbox.zoho_crm.notifications.validation import WatchError

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

MAX_ITEMS = 50
SCOPES = {
    "GET": "ZohoCRM.notifications.READ",
    "POST": "ZohoCRM.notifications.CREATE",
    "PUT": "ZohoCRM.notifications.UPDATE",
    "PATCH": "ZohoCRM.notifications.UPDATE",
    "DELETE": "ZohoCRM.notifications.DELETE",
}


def _rate_limited(refused: Response) -> Response:
    """The watch endpoints answer throttling with RATE_LIMIT_EXCEEDED (the OAS examples), not TOO_MANY_REQUESTS."""
    if refused.status_code == 429:
        return json_response(
            {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests. Please try again later.", "status": "error"},
            429,
        )
    return refused


def _envelope(results: list[dict[str, Any]], success_status: int) -> Response:
    failed = sum(1 for result in results if result.get("status") == "error")
    if failed == 0:
        status = success_status
    elif failed == len(results):
        status = 400
    else:
        status = 207
    return json_response({"watch": results}, status)


def _error(code: str, message: str, details: dict[str, Any], status: int = 400) -> Response:
    return json_response({"code": code, "details": details, "message": message, "status": "error"}, status)


def watch(sandbox: SandboxState, request: Request) -> Response:
    found = sandbox.crm.authenticate(request, scope=SCOPES[request.method])
    if isinstance(found, Response):
        return found
    org, _user = found
    with org.calling() as refused:
        if refused:
            return _rate_limited(refused)
        refused = org.charge(1)
        if refused:
            return _rate_limited(refused)
        state = sandbox.crm.watch
        if request.method == "GET":
            return _list(state, org, request)
        if request.method == "DELETE":
            return _delete(state, org, request)
        body = request_json(request)
        items = body.get("watch") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _error(
                "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "watch", "json_path": "$.watch"}
            )
        if len(items) > MAX_ITEMS:
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "watch", "json_path": "$.watch", "maximum_length": MAX_ITEMS},
            )
        api_base = request.host_url.rstrip("/")
        results = []
        for index, item in enumerate(items):
            try:
                results.append(state.apply(org, request.method, index, item, api_base))
            except WatchError as exc:
                results.append(exc.body)
        return _envelope(results, 201 if request.method == "POST" else 200)


def _list(state: WatchState, org: ZohoOrg, request: Request) -> Response:
    try:
        page = max(int(request.args.get("page", 1)), 1)
        per_page = min(max(int(request.args.get("per_page", 200)), 1), 200)
    except ValueError:
        return _error("INVALID_DATA", "invalid data", {"api_name": "page", "json_path": "$.page"})
    wanted_channel = request.args.get("channel_id")
    wanted_module = request.args.get("module")
    entries = [
        state.listing(org, channel, module)
        for channel in state.live(org.org_id)
        if wanted_channel in (None, "", channel.channel_id)
        for module in sorted(channel.events)
        if wanted_module in (None, "", module)
    ]
    chunk = entries[(page - 1) * per_page : page * per_page]
    if not chunk:
        return no_content()
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": len(entries) > page * per_page}
    return json_response({"watch": chunk, "info": info})


def _delete(state: WatchState, org: ZohoOrg, request: Request) -> Response:
    raw = request.args.get("channel_ids", "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        return _error(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "channel_ids", "param": "channel_ids"},
        )
    results: list[dict[str, Any]] = []
    for index, channel_id in enumerate(ids):
        try:
            results.extend(state.remove(org, channel_id, index))
        except WatchError as exc:
            results.append(exc.body)
    return _envelope(results, 200)
