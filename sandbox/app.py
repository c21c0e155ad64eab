"""The WSGI application: one router for every emulated vendor, fault injection in front, counters per endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, twilio_error, zoho_error
from sandbox.state import SandboxState

Handler = Callable[..., Response]
# A route: (path rule, methods, handler). Handlers take (sandbox, request, **path arguments).
Route = tuple[str, list[str], Handler]


def _collect_routes() -> list[Route]:
    from sandbox import control, people, ui, zoho_accounts, zoho_voice, zoho_voice_control
    from sandbox.twilio import api as twilio_api
    from sandbox.zoho_crm import api as crm_api
    from sandbox.zoho_crm import bulk, coql, notifications, workflows
    from sandbox.zoho_crm import control as crm_control

    routes: list[Route] = []
    modules = (
        control,
        people,
        ui,
        zoho_accounts,
        crm_api,
        coql,
        bulk,
        notifications,
        workflows,
        crm_control,
        zoho_voice,
        zoho_voice_control,
        twilio_api,
    )
    for module in modules:
        routes.extend(module.ROUTES)
    return routes


def vendor_of(path: str) -> str:
    if path.startswith(("/crm/", "/crm/bulk/")):
        return "zoho_crm"
    if path.startswith("/oauth/"):
        return "zoho_accounts"
    if path.startswith("/rest/json/"):
        return "zoho_voice"
    if path.startswith("/2010-04-01/"):
        return "twilio"
    return "sandbox"


def default_fault_response(path: str, status: int) -> Response:
    """What a vendor says when it fails, in its own shape."""
    vendor = vendor_of(path)
    if vendor == "zoho_crm":
        if status == 429:
            return zoho_error("TOO_MANY_REQUESTS", "Too many requests. Please try again later.", status=429)
        if status == 401:
            return zoho_error("INVALID_TOKEN", "invalid oauth token", status=401)
        return zoho_error("INTERNAL_ERROR", "Internal Server Error", status=status)
    if vendor == "twilio":
        if status == 429:
            return twilio_error(20429, "Too Many Requests", status=429)
        return twilio_error(20500, "Internal Server Error", status=status)
    if vendor == "zoho_voice":
        return json_response({"status": "ERROR", "code": str(status), "message": "failed"}, status)
    return json_response({"error": "injected fault"}, status)


def apply_fault_action(state: SandboxState, rule: Any) -> None:
    """Change the world as the fault says, before the call it matched is answered."""
    with state.lock:
        if rule.action == "revoke_tokens":
            state.accounts.revoke_all()
            return
        for org in state.crm.orgs.values():
            store = org.module(rule.module)
            if store is None:
                continue
            victims = [record["id"] for _, record in zip(range(rule.count), store.iter_by_id(), strict=False)]
            for record_id in victims:
                store.update(record_id, {"Description": f"edited by a person while a sync paged ({record_id})"})


class SandboxApp:
    def __init__(self, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()
        self.handlers: dict[str, Handler] = {}
        rules = []
        for path, methods, handler in _collect_routes():
            endpoint = f"{handler.__module__.removeprefix('sandbox.')}.{handler.__name__}"
            self.handlers[endpoint] = handler
            rules.append(Rule(path, endpoint=endpoint, methods=methods, strict_slashes=False))
        self.url_map = Map(rules)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        path = request.path
        if not path.startswith("/_sandbox/"):
            rule = self.state.faults.take(request.method, path)
            if rule is not None:
                if rule.action:
                    apply_fault_action(self.state, rule)
                if rule.delay:
                    time.sleep(rule.delay)
                if rule.status is not None:
                    self.state.counters[f"fault:{path}"] += 1
                    if rule.body is not None:
                        return json_response(rule.body, rule.status, headers=rule.headers)
                    return default_fault_response(path, rule.status)
        try:
            endpoint, arguments = adapter.match()
        except NotFound:
            return self.not_found(path)
        except MethodNotAllowed:
            return self.not_found(path, status=405)
        except HTTPException as exc:  # redirects for trailing slashes and the like
            return exc.get_response(request.environ)
        self.state.counters[endpoint] += 1
        return self.handlers[endpoint](self.state, request, **arguments)

    @staticmethod
    def not_found(path: str, status: int = 404) -> Response:
        vendor = vendor_of(path)
        if vendor == "zoho_crm":
            return zoho_error(
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
                status=404 if status == 404 else 400,
            )
        if vendor == "twilio":
            return twilio_error(20404, f"The requested resource {path} was not found", status=404)
        return json_response({"error": "not_found", "path": path}, status)


def create_app(**state_options: Any) -> SandboxApp:
    return SandboxApp(SandboxState(**state_options))
