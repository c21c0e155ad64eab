"""What every CRM REST call goes through, and how records are shown.

`@crm_endpoint(scope=..., credits=1)` wraps a handler `(sandbox, request, org, user, **path_args)`: it
authenticates (401 in Zoho's shapes, scope checked), takes a concurrency slot (429) and spends credits from the
rolling pool (429), in that order, as the CONTRACT in orgs.py describes. `scope` may be a function of the path
arguments (per-module scopes such as ZohoCRM.modules.leads.READ). With `credits=None` the call's price depends
on what it asks (COQL by LIMIT, a Bulk Read job, a throttled download): the handler calls `org.charge(n)` itself
once it knows, still inside the concurrency slot.

`render(org, module, record, fields)` is a record as the API answers: the requested fields plus `id` (every
requested field present, null when empty), or every field of the module's metadata plus the record's own
`$` keys. Unset booleans read false and unset multiselects and tags read [], as Zoho shows them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, zoho_error

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

ScopeSpec = str | tuple[str, ...] | Callable[..., str | tuple[str, ...] | None] | None


def crm_endpoint(*, scope: ScopeSpec, credits: int | None = 1) -> Callable:
    def wrap(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def endpoint(sandbox: SandboxState, request: Request, **args: Any) -> Response:
            required = scope(**args) if callable(scope) else scope
            auth = sandbox.crm.authenticate(request, scope=required)
            if isinstance(auth, Response):
                return auth
            org, user = auth
            with org.calling() as refused:
                if refused:
                    return refused
                refused = org.charge(credits) if credits is not None else None
                if refused:
                    return refused
                return handler(sandbox, request, org, user, **args)

        return endpoint

    return wrap


def invalid_module(*, wrapped: bool = False) -> Response:
    error = {
        "code": "INVALID_MODULE",
        "details": {"resource_path_index": 0},
        "message": "the module name given seems to be invalid",
        "status": "error",
    }
    return json_response({"data": [error]} if wrapped else error, 400)


def param_error(code: str, message: str, **details: Any) -> Response:
    return zoho_error(code, message, status=400, details=details)


_EMPTY_LIST_TYPES = ("multiselectpicklist", "multiselectlookup")


def default_value(meta: dict[str, Any]) -> Any:
    if meta["api_name"] == "Tag" or meta["data_type"] in _EMPTY_LIST_TYPES:
        return []
    if meta["data_type"] == "boolean":
        return False
    return None


def _defaults(org: ZohoOrg, module: str) -> dict[str, Any]:
    cache = org.__dict__.setdefault("_render_defaults", {})
    if module not in cache:
        cache[module] = {meta["api_name"]: default_value(meta) for meta in org.fields[module]}
    return cache[module]


def render(org: ZohoOrg, module: str, record: dict[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
    defaults = _defaults(org, module)
    if fields is not None:
        shown = {"id": record["id"]}
        for name in fields:
            value = record.get(name)
            shown[name] = defaults.get(name) if value is None else value
        return shown
    shown = {name: (default if record.get(name) is None else record[name]) for name, default in defaults.items()}
    for name, value in record.items():
        if name.startswith("$") or name not in shown:
            shown[name] = value
    shown["id"] = record["id"]
    return shown


def field_names(org: ZohoOrg, module: str) -> set[str]:
    return {meta["api_name"] for meta in org.fields[module]}
