"""What every data API call (`/services/data/vXX.X/...`) goes through, Salesforce's error shape, and how records
are shown.

`@sf_endpoint()` wraps a handler `(sandbox, request, org, session, *, version, **route_args) -> Response`. Routes
are written `/services/data/v<version>/...`; the handler receives `version` (e.g. "66.0") among its keyword
arguments. In order, the wrapper:
1. refuses a URI longer than `sf_uri_max_bytes` (414) or URI + headers longer than it (431): "URI + headers
   capped at 16,384 bytes" (help article 000386264);
2. answers 404 NOT_FOUND for a version outside `sf_api_versions`;
3. authenticates `Authorization: Bearer <token>` (or `OAuth <token>`): 401
   `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` for a missing, unknown, ended
   or expired session (REST API guide, Status Codes and Error Responses);
4. checks the Host header against the org's instance host when the org has its own `instance_url` (a client
   that ignores the token answer's instance_url calls the wrong host: 401 INVALID_SESSION_ID);
5. spends 1 request from the org's rolling 24 h allocation: past it, 403
   `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`;
6. refuses the call when `long_limit` calls have run for `sf_long_request_seconds` already (the concurrent
   long-running request limit: 25 per org, 5 on Developer Edition; app limits cheat sheet): 403
   REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn Limit exceeded.";
7. notes the `Sforce-Call-Options: client=<name>` client (`call_client(request)`; counted per client);
8. adds `Sforce-Limit-Info: api-usage=N/M` to every answer of an authenticated call, errors included
   (REST API guide, Limit Info Header); a handler's own failure answers 500 UNKNOWN_EXCEPTION (logged).

Helpers: `sf_error(status, code, message, fields=None)` (the JSON error array), `not_found_error()`,
`record_json(org, sobject, record, fields=None, *, version)` (a record as the REST API shows it, with
`attributes: {type, url}`), `record_url(version, sobject, record_id)`, `call_client(request)`,
`bearer_token(request)`, `supported_versions(config)`, `version_label(version)`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response

if TYPE_CHECKING:
    from sandbox.salesforce.schema import SobjectSchema
    from sandbox.salesforce.state import SfOrg
    from sandbox.state import SandboxState

logger = structlog.get_logger(__name__)

# Release names by API version (the versions list's labels): three releases a year, v66.0 Spring '26.
_SEASONS = ("Spring", "Summer", "Winter")


def version_label(version: str) -> str:
    number = int(float(version))
    offset = number - 66  # v66.0 = Spring '26
    season = _SEASONS[offset % 3]
    year = 26 + offset // 3 + (1 if season == "Winter" else 0)  # Winter '27 ships in the autumn of 2026
    return f"{season} \u2019{year:02d}"


def supported_versions(config: Any) -> list[str]:
    """Every version `sf_api_versions` ("31.0-68.0") names, oldest first."""
    text = str(config.sf_api_versions)
    first, _, last = text.partition("-")
    low, high = int(float(first)), int(float(last or first))
    return [f"{number}.0" for number in range(low, high + 1)]


def sf_error(status: int, code: str, message: str, fields: Iterable[str] | None = None, **headers: str) -> Response:
    """Salesforce's error body: a JSON array of {message, errorCode[, fields]}."""
    error: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        error["fields"] = list(fields)
    return json_response([error], status, headers=headers or None)


def not_found_error() -> Response:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> Response:
    return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def call_client(request: Request) -> str | None:
    """The `client` of `Sforce-Call-Options: client=leadline, defaultNamespace=...` (None without one)."""
    header = request.headers.get("Sforce-Call-Options", "")
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def uri_too_long(sandbox: SandboxState, request: Request) -> Response | None:
    cap = sandbox.config.sf_uri_max_bytes
    uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
    uri_bytes = len(uri.encode())
    if uri_bytes > cap:
        return sf_error(414, "URI_TOO_LONG", f"The request URI is {uri_bytes} bytes; the limit is {cap}.")
    header_bytes = sum(len(name) + len(value) + 4 for name, value in request.headers.items())
    if uri_bytes + header_bytes > cap:
        return sf_error(
            431, "REQUEST_HEADER_FIELDS_TOO_LARGE", f"The request URI and headers are too large (limit {cap} bytes)."
        )
    return None


def instance_host_mismatch(org: SfOrg, request: Request) -> bool:
    if not org.instance_url:
        return False
    expected = org.instance_url.split("://", 1)[-1].split("/", 1)[0].lower()
    return request.host.lower() != expected


def sf_endpoint(*, spend: int = 1) -> Callable:
    """Wrap a data API handler (see the module docstring). `spend` is the requests it costs (0: free)."""

    def wrap(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def endpoint(sandbox: SandboxState, request: Request, version: str, **args: Any) -> Response:
            refused = uri_too_long(sandbox, request)
            if refused is not None:
                return refused
            if version not in supported_versions(sandbox.config):
                return not_found_error()
            found = sandbox.salesforce.org_of_token(bearer_token(request))
            if found is None:
                return invalid_session()
            org, session = found
            if instance_host_mismatch(org, request):
                return invalid_session()
            limit_header = {"Sforce-Limit-Info": ""}
            if spend and not org.spend(spend):
                sandbox.counters[f"salesforce.limit_exceeded:{org.org_id}"] += 1
                limit_header["Sforce-Limit-Info"] = org.limit_info()
                return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", **limit_header)
            number = org.enter_call()
            if number is None:
                return sf_error(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "ConcurrentPerOrgLongTxn Limit exceeded.",
                    **{"Sforce-Limit-Info": org.limit_info()},
                )
            try:
                client = call_client(request)
                if client:
                    sandbox.counters[f"salesforce.client:{client}"] += 1
                if org.slow_seconds:
                    time.sleep(org.slow_seconds)
                response = handler(sandbox, request, org, session, version=version, **args)
            except Exception:  # an emulator bug still answers in Salesforce's shape (and is logged)
                logger.exception("salesforce.emulator_error", path=request.path)
                response = sf_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred in the emulator.")
            finally:
                org.leave_call(number)
            response.headers["Sforce-Limit-Info"] = org.limit_info()
            return response

        return endpoint

    return wrap


def record_url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def _address(record: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    parts = {
        "city": record.get(f"{prefix}City"),
        "country": record.get(f"{prefix}Country"),
        "geocodeAccuracy": record.get(f"{prefix}GeocodeAccuracy"),
        "latitude": record.get(f"{prefix}Latitude"),
        "longitude": record.get(f"{prefix}Longitude"),
        "postalCode": record.get(f"{prefix}PostalCode"),
        "state": record.get(f"{prefix}State"),
        "street": record.get(f"{prefix}Street"),
    }
    return parts if any(value is not None for value in parts.values()) else None


def _layout(schema: SobjectSchema) -> list[tuple[str, str, Any]]:
    """(field name, kind, default) in describe order: kind "value" or "address:<prefix>"."""
    cached = schema.__dict__.get("_layout")
    if cached is None or cached[0] is not schema.fields or cached[1] != len(schema.fields):
        layout = []
        for meta in schema.fields:
            if meta["type"] == "address":
                layout.append((meta["name"], "address:" + meta["name"].removesuffix("Address"), None))
            else:
                layout.append((meta["name"], "value", False if meta["type"] == "boolean" else None))
        cached = (schema.fields, len(schema.fields), layout)
        schema.__dict__["_layout"] = cached
    return cached[2]


def field_value(schema: SobjectSchema, record: dict[str, Any], name: str) -> Any:
    """One field as the API shows it (booleans false when unset, compound addresses built from their parts)."""
    meta = schema.field(name)
    if meta is None:
        return record.get(name)
    if meta["type"] == "address":
        return _address(record, meta["name"].removesuffix("Address"))
    value = record.get(meta["name"])
    if value is None and meta["type"] == "boolean":
        return False
    return value


def record_json(
    org: SfOrg, sobject: str, record: dict[str, Any], fields: list[str] | None = None, *, version: str = "66.0"
) -> dict[str, Any]:
    """A record as the REST API answers it: `attributes` first, then the fields asked for (canonical names; every
    field of the describe when None), in that order."""
    schema = org.schema[sobject]
    shown: dict[str, Any] = {"attributes": {"type": sobject, "url": record_url(version, sobject, record["Id"])}}
    if fields is None:
        for name, kind, default in _layout(schema):
            if kind == "value":
                value = record.get(name)
                shown[name] = default if value is None else value
            else:
                shown[name] = _address(record, kind[8:])
        return shown
    for name in fields:
        shown[name] = field_value(schema, record, name)
    return shown
