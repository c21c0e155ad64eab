"""Zoho CRM v8 COQL: `POST /crm/v8/coql` with `{"select_query": "...", "include_meta": ["fields"]}`.

lexer.py and parser.py read the query (syntax errors), planner.py checks it against the org's modules and field
metadata (types, operators, limits), executor.py runs it on the module's RecordStore, from the store's sorted
indexes when the ordering allows. Behaviour follows docs/vendors/zoho-crm.md (COQL) and Zoho's v8 OAS examples (errors
verbatim); the choices no source settles are marked UNCONFIRMED where they are made.

    from sandbox.zoho_crm import coql
    coql.query(org, "select Last_Name from Leads where Last_Name like 'Sm%'")  # the JSON body, or None (204)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content, request_json, zoho_error
from sandbox.zoho_crm.calls import crm_endpoint
from sandbox.zoho_crm.coql import errors
from sandbox.zoho_crm.coql.errors import CoqlError
from sandbox.zoho_crm.coql.executor import project, run
from sandbox.zoho_crm.coql.parser import parse
from sandbox.zoho_crm.coql.planner import Plan, plan
from sandbox.zoho_crm.orgs import module_scope, scopes_allow

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg

FIELDS_SCOPE = "ZohoCRM.settings.fields.READ"  # include_meta ["fields"] (docs/vendors/zoho-crm.md, COQL)

__all__ = ["ROUTES", "CoqlError", "Plan", "answer", "coql_query", "parse", "prepare", "query"]


def prepare(org: ZohoOrg, select_query: str) -> Plan:
    """Parse and check a query against the org; raises CoqlError with Zoho's 400 answer."""
    parsed = parse(select_query)
    store = org.module(parsed.module)
    if store is None:
        raise errors.invalid_module()
    with store.lock:
        return plan(org, parsed)


def answer(plan: Plan, *, include_fields: bool = False) -> dict[str, Any] | None:
    """The 200 body of a prepared query, or None when nothing matches (Zoho answers 204 with no body)."""
    with plan.store.lock:
        page = run(plan)
        rows = [project(plan, record) for record in page.records]
    if not rows:
        return None
    body: dict[str, Any] = {"data": rows}
    if include_fields:
        body["fields"] = {
            ref.name: plan.metadata[ref.base] for ref in plan.columns if not ref.dotted and ref.base in plan.metadata
        }
    body["info"] = {"count": len(rows), "more_records": page.more_records}
    return body


def query(org: ZohoOrg, select_query: str, *, include_fields: bool = False) -> dict[str, Any] | None:
    return answer(prepare(org, select_query), include_fields=include_fields)


# --- the endpoint --------------------------------------------------------------------------------------------
@crm_endpoint(scope="ZohoCRM.coql.READ", credits=None)
def coql_query(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict) -> Response:
    """Credits follow the LIMIT (1, 2 or 3), so they are charged once the query is understood."""
    try:
        select_query, include_fields = _read_body(request_json(request))
        prepared = prepare(org, select_query)
    except CoqlError as error:
        return error.response()
    mismatch = _scope_mismatch(sandbox, request, prepared.module, include_fields=include_fields)
    if mismatch is not None:
        return mismatch
    refused = org.charge(prepared.credits)
    if refused:
        return refused
    body = answer(prepared, include_fields=include_fields)
    return no_content() if body is None else json_response(body)


def _read_body(body: Any) -> tuple[str, bool]:
    if not isinstance(body, dict) or body.get("select_query") is None:
        raise errors.mandatory_not_found()
    select_query = body["select_query"]
    if not isinstance(select_query, str):
        raise errors.invalid_data(
            {"expected_data_type": "text", "api_name": "select_query", "json_path": "$.select_query"}
        )
    if not select_query.strip():
        raise errors.mandatory_not_found()
    include_meta = body.get("include_meta")
    if include_meta is None:
        return select_query, False
    if not isinstance(include_meta, list):
        raise errors.invalid_data(
            {"expected_data_type": "jsonarray", "api_name": "include_meta", "json_path": "$.include_meta"}
        )
    if not include_meta:
        raise errors.invalid_data(
            {"api_name": "include_meta", "json_path": "$.include_meta", "supported_values": ["fields"]}
        )
    for index, item in enumerate(include_meta):
        details: dict[str, Any] = {"api_name": "include_meta", "json_path": f"$.include_meta[{index}]"}
        if not isinstance(item, str):
            raise errors.invalid_data({"expected_data_type": "text", **details, "supported_values": ["fields"]})
        if item != "fields" or index > 0:  # one item at most (maxItems 1)
            raise errors.invalid_data({**details, "supported_values": ["fields"]})
    return select_query, True


def _scope_mismatch(sandbox: SandboxState, request: Request, module: str, *, include_fields: bool) -> Response | None:
    """Besides ZohoCRM.coql.READ, COQL needs read access to the module, and `include_meta` the fields scope."""
    token = request.headers.get("Authorization", "").strip().partition(" ")[2].strip()
    granted = getattr(sandbox.accounts.resolve(token), "scopes", ())
    needed = (module_scope(module, "READ"), FIELDS_SCOPE) if include_fields else module_scope(module, "READ")
    if scopes_allow(granted, needed):
        return None
    return zoho_error("OAUTH_SCOPE_MISMATCH", "Unauthorized", status=401)


ROUTES = [("/crm/v8/coql", ["POST"], coql_query)]
