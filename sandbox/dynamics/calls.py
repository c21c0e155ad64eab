"""Dataverse's and Entra's answer shapes, and what every Web API call goes through (`dv_endpoint`: the
environment, the bearer token whose audience is the environment URL, the caller's system user, service
protection from limits.py, errors in Dataverse's shape), shared by every module of the emulator."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json

if TYPE_CHECKING:
    from sandbox.dynamics.state import AccessToken, DynamicsState, Environment
    from sandbox.state import SandboxState

logger = structlog.get_logger(__name__)

# Service protection's codes (docs/vendors/dynamics.md, Limits): hex code, message.
REQUESTS_EXCEEDED = (
    "0x80072322",
    "Number of requests exceeded the limit of {limit} over time window of {window} seconds.",
)
EXECUTION_TIME_EXCEEDED = (
    "0x80072321",
    "Combined execution time of incoming requests exceeded limit of {limit} milliseconds over time window of "
    "{window} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
)
CONCURRENCY_EXCEEDED = ("0x80072326", "Number of concurrent requests exceeded the limit of {limit}.")


def dv_error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """Dataverse's error shape: {"error": {"code", "message"}} (code may be "" as in the docs' 412/404 examples)."""
    response = json_response({"error": {"code": code, "message": message, **extra}}, status)
    response.headers["OData-Version"] = "4.0"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def entra_error(status: int, error: str, description: str, *, codes: tuple[int, ...] = ()) -> Response:
    """Entra ID's OAuth error shape: {"error", "error_description", "error_codes"}."""
    return json_response({"error": error, "error_description": description, "error_codes": list(codes)}, status)


# --- what every Web API call goes through ------------------------------------------------------------------------

API_PREFIX = "/dynamics/<env>/api/data/v9.2"
NOT_A_MEMBER = ("0x80072560", "The user is not a member of the organization.")


class Problem(Exception):
    """Raised by a handler (or anything it calls) to answer an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def problem(status: int, code: str, message: str, **extra: Any) -> Problem:
    return Problem(dv_error(status, code, message, **extra))


@dataclass
class Call:
    """One Web API call: the sandbox, the request, the environment, the caller (token and system user) and what
    the request asks for. `api_url` is the environment's Web API root as the caller reached it (with a trailing
    slash): OData-EntityId, @odata.context and links are built on it."""

    sandbox: SandboxState
    request: Request
    environment: Environment
    token: AccessToken
    user_id: str  # the caller's systemuserid (the application user for an app token)
    started: float = field(default_factory=time.monotonic)
    in_batch: bool = False

    @property
    def dynamics(self) -> DynamicsState:
        return self.sandbox.dynamics

    @property
    def api_url(self) -> str:
        return f"{self.request.host_url}dynamics/{self.environment.name}/api/data/v9.2/"

    @property
    def prefer(self) -> dict[str, str]:
        return parse_prefer(self.request.headers.get("Prefer", ""))

    @property
    def annotations(self) -> tuple[str, ...]:
        """The annotations `Prefer: odata.include-annotations="..."` asks for ("*" means all)."""
        asked = self.prefer.get("odata.include-annotations", "")
        return tuple(part.strip() for part in asked.split(",") if part.strip())

    def body(self) -> dict[str, Any]:
        found = request_json(self.request)
        if not isinstance(found, dict):
            raise problem(400, "0x80048d19", "Error identified in Payload provided by the user for Entity :''.")
        return found


def parse_prefer(header: str) -> dict[str, str]:
    """`Prefer: odata.maxpagesize=10, odata.include-annotations="*", return=representation` as a dict (a bare
    preference maps to "")."""
    found: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = value.strip().strip('"')
    return found


def odata_headers(response: Response) -> Response:
    response.headers["OData-Version"] = "4.0"
    return response


def _authenticate(sandbox: SandboxState, request: Request, environment: Environment) -> tuple[AccessToken, str]:
    """The caller's token and system user, or a Problem: 401 for no/unknown/expired token or another audience,
    403 when the caller has no system user in the environment (an app without an application user)."""
    header = request.headers.get("Authorization", "")
    token = sandbox.dynamics.token(header[7:].strip()) if header.lower().startswith("bearer ") else None
    challenge = {
        "WWW-Authenticate": f"Bearer authorization_uri={login_host(sandbox, request)}/{environment.tenant_id}"
        f"/oauth2/authorize, resource_id={environment.url}"
    }
    if token is None or not audience_matches(token.audience, environment, request):
        raise Problem(dv_error(401, "", "", headers=challenge))
    if token.tenant_id != environment.tenant_id:
        raise Problem(dv_error(401, "", "", headers=challenge))
    if token.kind == "app":
        user = environment.application_user(token.client_id)
    else:
        user = environment.user_by_object_id(token.object_id)
    if user is None or user.get("isdisabled"):
        raise problem(403, *NOT_A_MEMBER)
    return token, user["systemuserid"]


def login_host(sandbox: SandboxState, request: Request) -> str:
    """Where Entra is (the HTTPS listener when it runs, else `/entra` on the host reached)."""
    return sandbox.dynamics.tls_url or f"{request.host_url}entra"


def audience_matches(audience: str, environment: Environment, request: Request) -> bool:
    """A token is for this environment when its audience names the environment's path (`/dynamics/<name>`) on
    the environment's host or on the host the request reached (tests run servers on free ports)."""
    parsed = urlsplit(audience.rstrip("/"))
    if parsed.path.rstrip("/").lower() != f"/dynamics/{environment.name}":
        return False
    return parsed.netloc in (urlsplit(environment.url).netloc, request.host)


def dv_endpoint(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a Web API handler `(call: Call, **route_args) -> Response` into a route handler `(state, request,
    env, **route_args)`. In order: 414 past dv_uri_max_bytes; 404 for an unknown environment; authentication
    (above); service protection (`sandbox/dynamics/limits.py`, when present: `request_admit(call)` answers a
    Response to refuse with, or None to go on; `request_done(call, elapsed_ms, response)` after the handler,
    for every admitted call, may add headers); the handler (a raised Problem answers its response; an emulator
    bug answers 500 in Dataverse's shape and is logged); `OData-Version: 4.0` on every answer. `wrapper.impl`
    is the bare handler ($batch runs inner operations through it, inside the batch's own admission)."""

    @functools.wraps(handler)
    def wrapper(state: SandboxState, request: Request, env: str, **arguments: Any) -> Response:
        if len(request.full_path.encode()) > state.config.dv_uri_max_bytes:
            return dv_error(414, "0x8006088a", "The request URI is too long.")
        environment = state.dynamics.environment(env)
        if environment is None:
            return dv_error(404, "0x80060888", f"No environment named '{env}'.")
        try:
            token, user_id = _authenticate(state, request, environment)
        except Problem as exc:
            return exc.response
        call = Call(state, request, environment, token, user_id)
        limits = _limits()
        if limits is not None:
            refusal = limits.request_admit(call)
            if refusal is not None:
                return odata_headers(refusal)
        response: Response | None = None
        try:
            response = run(handler, call, arguments)
        finally:
            if limits is not None:
                limits.request_done(call, (time.monotonic() - call.started) * 1000, response)
        return response

    wrapper.impl = handler  # type: ignore[attr-defined]
    return wrapper


def run(handler: Callable[..., Response], call: Call, arguments: dict[str, Any]) -> Response:
    try:
        return odata_headers(handler(call, **arguments))
    except Problem as exc:
        return odata_headers(exc.response)
    except Exception:
        logger.exception("dynamics.emulator_error", path=call.request.path)
        return dv_error(500, "0x80040216", "An unexpected error occurred.")


def _limits() -> Any:
    try:
        from sandbox.dynamics import limits
    except ImportError:
        return None
    return limits if hasattr(limits, "request_admit") and hasattr(limits, "request_done") else None
