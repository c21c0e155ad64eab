"""Reading records: Get Records, one record, deleted records, search (docs/vendors/zoho-crm.md, Get Records and Deleted
records; crm-oas record.json).

Get Records `GET /crm/v8/{module}`:
- `fields` required (REQUIRED_PARAM_MISSING), at most 50 (LIMIT_EXCEEDED), known API names only (INVALID_DATA);
  only those fields and `id` come back.
- `per_page` 1..200 (default 200); `page` only within the first 2,000 records (page * per_page ≤ 2,000, else
  DISCRETE_PAGINATION_LIMIT_EXCEEDED); beyond, `info.next_page_token`, good up to 100,000 records
  (PAGINATION_LIMIT_EXCEEDED), bound to the other parameters (TOKEN_BOUND_DATA_MISMATCH), expiring
  (EXPIRED_VALUE); `page` with `page_token` is refused (AMBIGUITY_DURING_PROCESSING, UNCONFIRMED code).
- `sort_by` id | Created_Time | Modified_Time (default id), `sort_order` asc | desc (default desc).
- `converted` false (default: converted leads are hidden) | true | both; `ids` (≤100); `cvid` (no custom views
  here: INVALID_DATA); 204 with no body when nothing matches; INVALID_MODULE for unknown modules.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content
from sandbox.kit import cursors
from sandbox.state import SandboxState
from sandbox.zoho_crm import paging
from sandbox.zoho_crm.calls import crm_endpoint, field_names, invalid_module, param_error, render
from sandbox.zoho_crm.orgs import ZohoOrg, module_scope
from sandbox.zoho_crm.store import RecordStore, format_zoho_datetime, parse_zoho_datetime

DISCRETE_LIMIT = 2000
TOKEN_LIMIT = 100_000
ID_PATTERN = re.compile(r"^\d{1,19}$")


def read_scope(module: str, **_: Any) -> str:
    return module_scope(module, "READ")


def parse_fields(org: ZohoOrg, module: str, raw: str | None, *, required: bool = True) -> list[str] | Response | None:
    if raw is None or not raw.strip():
        if required:
            return param_error("REQUIRED_PARAM_MISSING", "required param is missing", param_name="fields")
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if len(names) > 50:
        return param_error("LIMIT_EXCEEDED", "limit exceeded", limit=50, param_name="fields")
    known = field_names(org, module) | {"id"}
    for name in names:
        if name not in known and not name.startswith("$"):
            return param_error("INVALID_DATA", "invalid data", param_name="fields", api_name=name)
    return [name for name in names if name != "id"]


def _int_param(args, name: str, default: int, low: int, high: int | None) -> int | Response:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return param_error("INVALID_DATA", "invalid data", param_name=name)
    if value < low or (high is not None and value > high):
        return param_error("INVALID_DATA", "invalid data", param_name=name)
    return value


def converted_filter(module: str, value: str | None):
    """A predicate for the `converted` parameter (Leads only), or a Response when the value is wrong."""
    value = (value or "false").lower()
    if value not in ("false", "true", "both"):
        return param_error("INVALID_DATA", "invalid data", param_name="converted")
    if module != "Leads" or value == "both":
        return lambda record: True
    wanted = value == "true"
    return lambda record: bool(record.get("$converted")) is wanted


@crm_endpoint(scope=read_scope)
def get_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    name = store.module
    args = request.args
    fields = parse_fields(org, name, args.get("fields"))
    if isinstance(fields, Response):
        return fields
    per_page = _int_param(args, "per_page", 200, 1, 200)
    if isinstance(per_page, Response):
        return per_page
    if "page" in args and "page_token" in args:
        return param_error(
            "AMBIGUITY_DURING_PROCESSING",
            "page and page_token cannot be given together",
            ambiguity_due_to=["page", "page_token"],
        )
    sort_by = args.get("sort_by", "id")
    if sort_by not in paging.SORTS:
        return param_error("INVALID_DATA", "invalid data", param_name="sort_by", supported_values=list(paging.SORTS))
    sort_order = args.get("sort_order", "desc")
    if sort_order not in ("asc", "desc"):
        return param_error("INVALID_DATA", "invalid data", param_name="sort_order")
    keep = converted_filter(name, args.get("converted"))
    if isinstance(keep, Response):
        return keep
    if args.get("cvid"):
        return param_error("INVALID_DATA", "invalid data", param_name="cvid")
    wanted_ids: set[str] | None = None
    if args.get("ids"):
        wanted_ids = {value.strip() for value in args["ids"].split(",") if value.strip()}
        if len(wanted_ids) > 100:
            return param_error("LIMIT_EXCEEDED", "limit exceeded", limit=100, param_name="ids")
        if not all(ID_PATTERN.match(value) for value in wanted_ids):
            return param_error("INVALID_DATA", "invalid data", param_name="ids")
    now = sandbox.clock.timestamp()
    binding = paging.binding_of(name, dict(args.items()))
    after: paging.Key | None = None
    if "page_token" in args:
        token = org.page_tokens.check(args["page_token"], binding=binding, now=now)
        if token == cursors.EXPIRED:
            return param_error(
                "EXPIRED_VALUE", "Page token expired", api_name="page_token", json_path="$.query.page_token"
            )
        if isinstance(token, str):  # never issued, forgotten, or another query's
            return param_error(
                "TOKEN_BOUND_DATA_MISMATCH",
                "The page_token given seems to be invalid or input param is added or altered or deleted",
                param_name="page_token",
            )
        if token.offset >= TOKEN_LIMIT:
            return param_error(
                "PAGINATION_LIMIT_EXCEEDED",
                "You can only get upto 100000 records using page_token param",
                param_name="page_token",
            )
        offset, after, page = token.offset, token.after, token.offset // per_page + 1
        skip = 0
    else:
        page = _int_param(args, "page", 1, 1, None)
        if isinstance(page, Response):
            return page
        if page * per_page > DISCRETE_LIMIT:
            return param_error(
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                "You can only get the first 2000 records without using page_token param",
                limit=DISCRETE_LIMIT,
            )
        offset = skip = (page - 1) * per_page
    rows, more = _page(store, sort_by, sort_order == "desc", after, skip, per_page, keep, wanted_ids)
    if not rows:
        return no_content()
    info: dict[str, Any] = {
        "call": False,
        "per_page": per_page,
        "next_page_token": None,
        "count": len(rows),
        "sort_by": sort_by,
        "page": page,
        "page_token_expiry": None,
        "sort_order": sort_order,
        "email": False,
        "more_records": more,
        "previous_page_token": None,
    }
    if more:
        ttl = sandbox.config.page_token_ttl_seconds
        last_key = rows[-1][0]
        token = org.page_tokens.issue(
            kind=name, binding=binding, offset=offset + len(rows), after=last_key, now=now, ttl=ttl
        )
        info["next_page_token"] = token.token
        info["page_token_expiry"] = format_zoho_datetime(datetime.fromtimestamp(token.expires_at, org.tz), org.tz)
    if "page_token" in args:
        info["previous_page_token"] = args["page_token"]
    data = [render(org, name, record, fields) for _, record in rows]
    return json_response({"data": data, "info": info})


def _page(store: RecordStore, sort_by, descending, after, skip, per_page, keep, wanted_ids):
    rows: list[tuple[paging.Key, dict[str, Any]]] = []
    with store.lock:
        for key, record in paging.walk(store, sort_by, descending=descending, after=after):
            if wanted_ids is not None and record["id"] not in wanted_ids:
                continue
            if not keep(record):
                continue
            if skip:
                skip -= 1
                continue
            if len(rows) == per_page:
                return rows, True
            rows.append((key, record))
    return rows, False


@crm_endpoint(scope=read_scope)
def get_record(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str, record_id: str):
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    if not ID_PATTERN.match(record_id):
        return param_error("INVALID_DATA", "the id given seems to be invalid", resource_path_index=1)
    fields = parse_fields(org, store.module, request.args.get("fields"), required=False)
    if isinstance(fields, Response):
        return fields
    record = store.get(record_id)
    if record is None:
        return no_content()
    return json_response({"data": [render(org, store.module, record, fields)]})


def _wrapped(code: str, message: str, **details: Any) -> Response:
    """Deleted records answer 400s inside data[] (docs/vendors/zoho-crm.md, Deleted records)."""
    return json_response({"data": [{"code": code, "details": details, "message": message, "status": "error"}]}, 400)


@crm_endpoint(scope=read_scope)
def deleted_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    args = request.args
    kind = args.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        return _wrapped("PATTERN_NOT_MATCHED", "Please check whether the input values are correct", param_name="type")
    try:
        page = int(args.get("page", 1))
        per_page = int(args.get("per_page", 200))
    except ValueError:
        return _wrapped("INVALID_DATA", "invalid data", param_name="page")
    if page < 1:
        return _wrapped("INVALID_DATA", "invalid data", param_name="page")
    if not 1 <= per_page <= 200:
        return _wrapped("INVALID_DATA", "invalid data", param_name="per_page")
    since = None
    if request.headers.get("If-Modified-Since"):
        try:
            since = parse_zoho_datetime(request.headers["If-Modified-Since"])
        except ValueError:
            return _wrapped("INVALID_DATA", "invalid data", param_name="If-Modified-Since")
        if since.tzinfo is None:
            return _wrapped("INVALID_DATA", "invalid data", param_name="If-Modified-Since")
    with store.lock:
        entries = [
            entry
            for entry in store.deleted
            if (kind == "all" or entry["type"] == kind)
            and (since is None or parse_zoho_datetime(entry["deleted_time"]) > since)
        ]
    start = (page - 1) * per_page
    chunk = entries[start : start + per_page]
    if not chunk:
        return no_content()
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": start + per_page < len(entries)}
    return json_response({"data": [dict(entry) for entry in chunk], "info": info})
