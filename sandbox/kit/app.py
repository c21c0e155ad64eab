"""The WSGI application: one router for every vendor an emulator serves, scheduled faults in front, a counter
per endpoint.

A vendor is a `Vendor`: its name, the path prefixes that are its API (so a fault or a 404 on them answers in
its shapes), its routes (its API and its controls under /_sandbox/<vendor>/) and how it fails:
`fault_response(status)` and `not_found(path, status)`. A route is `(werkzeug path rule, methods, handler)`;
a handler takes `(state, request, **path arguments)` and answers a werkzeug `Response`.

Endpoints are named after the handler's module and function without the package (`zoho_crm.coql.coql_query`,
`control.health` for the kit's own control API); `counters` counts each call under that name.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.kit import control
from sandbox.kit.http import json_response
from sandbox.kit.world import EmulatorState

Handler = Callable[..., Response]
Route = tuple[str, list[str], Handler]
CONTROL_PREFIX = "/_sandbox/"


def injected_fault(status: int) -> Response:
    return json_response({"error": "injected fault"}, status)


def not_found(path: str, status: int = 404) -> Response:
    return json_response({"error": "not_found", "path": path}, status)


@dataclass(frozen=True)
class Vendor:
    name: str
    prefixes: tuple[str, ...]
    routes: Sequence[Route] = ()
    fault_response: Callable[[int], Response] = injected_fault
    not_found: Callable[[str, int], Response] = not_found
    extra: dict[str, Any] = field(default_factory=dict)


def endpoint_name(handler: Handler) -> str:
    module = handler.__module__
    for package in ("sandbox.kit.", "sandbox."):
        if module.startswith(package):
            module = module.removeprefix(package)
            break
    return f"{module}.{handler.__name__}"


class EmulatorApp:
    def __init__(self, state: EmulatorState, vendors: Sequence[Vendor], *, routes: Sequence[Route] = ()) -> None:
        self.state = state
        self.vendors = list(vendors)
        self.handlers: dict[str, Handler] = {}
        rules = []
        every = [*control.ROUTES, *routes, *(route for vendor in self.vendors for route in vendor.routes)]
        for path, methods, handler in every:
            endpoint = endpoint_name(handler)
            self.handlers[endpoint] = handler
            rules.append(Rule(path, endpoint=endpoint, methods=methods, strict_slashes=False))
        self.url_map = Map(rules)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def vendor_of(self, path: str) -> Vendor | None:
        for vendor in self.vendors:
            if path.startswith(vendor.prefixes):
                return vendor
        return None

    def fault(self, request: Request) -> Response | None:
        """Apply the scheduled fault that takes this call, if any: its action, its delay, then its answer (None
        to go on and answer the call normally). The control API is never faulted."""
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return None
        rule = self.state.faults.take(request.method, path)
        if rule is None:
            return None
        if rule.action:
            with self.state.lock:
                self.state.faults.run_action(rule)
        if rule.delay:
            time.sleep(rule.delay)
        if rule.status is None:
            return None
        self.state.counters[f"fault:{path}"] += 1
        if rule.body is not None:
            return json_response(rule.body, rule.status, headers=rule.headers)
        vendor = self.vendor_of(path)
        return (vendor.fault_response if vendor else injected_fault)(rule.status)

    def dispatch(self, request: Request) -> Response:
        faulted = self.fault(request)
        if faulted is not None:
            return faulted
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, arguments = adapter.match()
        except NotFound:
            return self.not_found(request.path)
        except MethodNotAllowed:
            return self.not_found(request.path, status=405)
        except HTTPException as exc:  # redirects for trailing slashes and the like
            return exc.get_response(request.environ)
        self.state.counters[endpoint] += 1
        return self.handlers[endpoint](self.state, request, **arguments)

    def not_found(self, path: str, status: int = 404) -> Response:
        vendor = self.vendor_of(path)
        return (vendor.not_found if vendor else not_found)(path, status)
