"""What every HubSpot API call goes through, and HubSpot's error shapes.

`@hs_endpoint(scopes=...)` wraps a handler `(call: Call, **route_args) -> Response`. Routes are written under
`/hubspot/` (the sandbox host serves HubSpot's API there: `{SANDBOX_URL}/hubspot/crm/v3/objects/contacts`); a route
with a `<version>` part is a date-versioned one (`/hubspot/crm/objects/<version>/...`) and the version must be
one of `hs_date_versions`. In order, the wrapper:
1. refuses a URI longer than `hs_uri_max_bytes`: 414 (a GET naming hundreds of properties);
2. answers 404 for a date version HubSpot does not serve (and, with `hs_legacy_sunsets`, for the legacy family
   once its sunset passed on the sandbox clock);
3. authenticates `Authorization: Bearer <token>`: 401 INVALID_AUTHENTICATION for a missing, unknown or revoked
   token, 401 EXPIRED_AUTHENTICATION for an expired one ("The OAuth token used to make this call expired N
   minute(s) ago.");
4. spends the call from the app's rolling 10-second window in the portal (`hs_requests_per_10s`, or the portal's
   own) and the portal's day (`hs_requests_per_day`, reset at the portal's midnight): 429 with
   {status, message, errorType: "RATE_LIMIT", correlationId, policyName: TEN_SECONDLY_ROLLING | DAILY, requestId};
   search calls (`search=True`) skip this: search.py keeps its own per-second limit and sends no rate headers;
5. checks scopes: 403 MISSING_SCOPES with `errors[0].context.requiredGranularScopes` and
   `context.missingScopes` (any one of the listed scopes is enough: `scopes` may be a tuple or a function of the
   route arguments returning one, e.g. the object type's read scopes);
6. runs the handler; `raise Problem(hs_error(...))` anywhere answers that error; an emulator bug answers 500
   in HubSpot's shape (and is logged);
7. adds X-HubSpot-RateLimit-Interval-Milliseconds / -Max / -Remaining to every spent call (and -Daily /
   -Daily-Remaining only for a private app's token, or OAuth ones when `hs_daily_headers_on_oauth`).

`Call` carries sandbox, request, portal, token, version ("v3" or "2026-03"), `source` (the write's Source:
INTEGRATION + the app id) and `body()` (the JSON body or a 400).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, request_json

if TYPE_CHECKING:
    from sandbox.hubspot.state import AccessToken, Portal, Source
    from sandbox.state import SandboxState

logger = structlog.get_logger(__name__)

PREFIX = "/hubspot"
SCOPES_LINK = "https://developers.hubspot.com/scopes"
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details "
    "at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class Problem(Exception):
    """Raised by a handler (or anything it calls) to answer an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def correlation_id() -> str:
    return str(uuid.uuid4())


def hs_error(
    status: int,
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
    sub_category: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """HubSpot's error body: {status: "error", message, correlationId, category[, subCategory][, errors][, context]}."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    body.update(extra)
    return json_response(body, status, headers=headers)


def rate_limited(policy: str) -> Response:
    """The 429 of the 10-second window (TEN_SECONDLY_ROLLING) or the day (DAILY): no `category`."""
    name = "ten_secondly_rolling" if policy == "TEN_SECONDLY_ROLLING" else "daily"
    body = {
        "status": "error",
        "message": f"You have reached your {name} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": correlation_id(),
    }
    return json_response(body, 429)


def invalid_authentication() -> Response:
    return hs_error(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)


def expired_authentication(seconds_ago: float) -> Response:
    minutes = max(0, int(seconds_ago // 60))
    return hs_error(
        401, "EXPIRED_AUTHENTICATION", f"The OAuth token used to make this call expired {minutes} minute(s) ago."
    )


def missing_scopes(required: Iterable[str]) -> Response:
    wanted = list(required)
    return hs_error(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: "
        f"{SCOPES_LINK}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": wanted},
            }
        ],
        context={"missingScopes": wanted},
        links={"scopes": SCOPES_LINK},
    )


def not_found(message: str = "Resource not found", **context: Any) -> Response:
    return hs_error(404, "OBJECT_NOT_FOUND", message, context=context or None)


def validation_error(message: str, *, errors: list[dict[str, Any]] | None = None, **context: Any) -> Response:
    return hs_error(400, "VALIDATION_ERROR", message, errors=errors, context=context or None)


def unknown_object_type(name: str) -> Response:
    return validation_error(f"Unable to infer object type from: {name}")


OAUTH_V1_SUNSET = "2027-02-16"
LEGACY_CRM_SUNSET = "2027-09-01"


def legacy_gone(sandbox: SandboxState, sunset: str) -> Response | None:
    """404 once a legacy API's sunset passed on the sandbox clock (only with `hs_legacy_sunsets`)."""
    if not sandbox.config.hs_legacy_sunsets or sandbox.clock.now().date().isoformat() < sunset:
        return None
    return hs_error(404, "OBJECT_NOT_FOUND", f"This API version is no longer supported (sunset {sunset}).")


def date_versions(config: Any) -> list[str]:
    return [part.strip() for part in str(config.hs_date_versions).split(",") if part.strip()]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def uri_too_long(sandbox: SandboxState, request: Request) -> Response | None:
    cap = sandbox.config.hs_uri_max_bytes
    uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    if len(uri.encode()) > cap:
        return hs_error(414, "VALIDATION_ERROR", "URI Too Long", sub_category="URI_TOO_LONG")
    return None


@dataclass
class Call:
    sandbox: SandboxState
    request: Request
    portal: Portal
    token: AccessToken
    version: str  # "v3" for the legacy path family, else the date version

    @property
    def config(self) -> Any:
        return self.sandbox.config

    @property
    def source(self) -> Source:
        from sandbox.hubspot.state import Source

        if self.token.app_id is None:
            return Source("INTEGRATION", f"private:{self.portal.portal_id}")
        return Source.integration(self.token.app_id)

    def body(self) -> Any:
        """The JSON body; a 400 when it is missing or not JSON."""
        body = request_json(self.request)
        if body is None:
            raise Problem(validation_error("Invalid input JSON on line 1, column 1: the request body is not JSON."))
        return body

    def arg(self, name: str) -> str | None:
        return self.request.args.get(name)

    def list_arg(self, name: str) -> list[str]:
        """A comma list that may also repeat (`properties=a,b&properties=c`)."""
        found: list[str] = []
        for value in self.request.args.getlist(name):
            found += [part.strip() for part in value.split(",") if part.strip()]
        return found

    def flag(self, name: str) -> bool:
        return (self.request.args.get(name) or "").lower() == "true"


ScopeSpec = tuple[str, ...] | Callable[..., tuple[str, ...]] | None


def _spend(call_portal: Portal, token: AccessToken) -> tuple[Response | None, int]:
    """Spend one call from the app's 10-second window and the portal's day; (a 429, 0) when refused."""
    window = call_portal.ten_second.window(token.limit_key)
    if not window.take(1, limit=call_portal.limit_per_10s):
        return rate_limited("TEN_SECONDLY_ROLLING"), 0
    if not call_portal.spend_daily():
        return rate_limited("DAILY"), 0
    return None, max(0, call_portal.limit_per_10s() - int(window.used()))


def _rate_headers(sandbox: SandboxState, portal: Portal, token: AccessToken, remaining: int) -> dict[str, str]:
    headers = {
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": str(portal.limit_per_10s()),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
    }
    if token.kind != "oauth" or sandbox.config.hs_daily_headers_on_oauth:
        headers["X-HubSpot-RateLimit-Daily"] = str(portal.limit_per_day())
        headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(portal.daily_remaining())
    return headers


def authenticate(sandbox: SandboxState, request: Request) -> tuple[AccessToken, Portal] | Response:
    """The live token and its portal, or the 401 to answer."""
    token, status = sandbox.hubspot.token(bearer_token(request))
    if token is None:
        return invalid_authentication()
    if status == "expired":
        return expired_authentication(sandbox.clock.timestamp() - token.expires)
    return token, sandbox.hubspot.portal(token.portal_id)


def hs_endpoint(*, scopes: ScopeSpec = None, search: bool = False, spend: bool = True) -> Callable:
    """Wrap a HubSpot API handler (see the module docstring)."""

    def wrap(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def endpoint(sandbox: SandboxState, request: Request, version: str | None = None, **args: Any) -> Response:
            refused = uri_too_long(sandbox, request)
            if refused is not None:
                return refused
            if version is not None and version not in date_versions(sandbox.config):
                return not_found(f"API version {version} does not exist")
            if version is None:
                gone = legacy_gone(sandbox, LEGACY_CRM_SUNSET)
                if gone is not None:
                    return gone
            found = authenticate(sandbox, request)
            if isinstance(found, Response):
                return found
            token, portal = found
            headers: dict[str, str] = {}
            if spend and not search:
                refusal, remaining = _spend(portal, token)
                if refusal is not None:
                    sandbox.counters[f"hubspot.rate_limited:{portal.portal_id}"] += 1
                    return refusal
                headers = _rate_headers(sandbox, portal, token, remaining)
            elif spend and not portal.spend_daily():
                return rate_limited("DAILY")
            required = scopes(**args) if callable(scopes) else scopes
            if required and not set(required) & set(token.scopes):
                response = missing_scopes(required[:1] if len(required) > 1 else required)
            else:
                call = Call(sandbox, request, portal, token, version or "v3")
                try:
                    response = handler(call, **args)
                except Problem as problem:
                    response = problem.response
                except Exception:  # an emulator bug still answers in HubSpot's shape (and is logged)
                    logger.exception("hubspot.emulator_error", path=request.path)
                    response = hs_error(500, "INTERNAL_ERROR", "internal error")
            for name, value in headers.items():
                response.headers[name] = value
            return response

        return endpoint

    return wrap


def both_families(api: str, rest: str, methods: list[str], handler: Callable, *, legacy: str = "v3") -> list[tuple]:
    """The same endpoint on the legacy path (`/hubspot/crm/v3/<api><rest>`) and the date-versioned one
    (`/hubspot/crm/<api>/<version><rest>`); associations' legacy family is v4 (`legacy="v4"`)."""
    return [
        (f"{PREFIX}/crm/{legacy}/{api}{rest}", methods, handler),
        (f"{PREFIX}/crm/{api}/<version>{rest}", methods, handler),
    ]
