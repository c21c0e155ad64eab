"""The Dynamics emulator's control API, under /_sandbox/dynamics/ (plain JSON, not Dataverse's shapes; bad input is
400 {"error"}, unknown environments, tables or rows 404 {"error"}). What a person, an admin or Dataverse itself
does, for tests and the people page:

- `GET|POST /_sandbox/dynamics/environments` {name?, tenant_id?, organization_name?, users? (3), consent? (true)}
  -> {name, url, tenant_id, organization_id, application_user_id, users: [{systemuserid,
  azureactivedirectoryobjectid, fullname, internalemailaddress}]}: a new environment whose tenant consented to
  Leadline's demo app, with its application user (consent false: neither).
- `GET .../environments/<env>`: that summary plus rows per table, webhooks and change tracking per table.
- `POST .../environments/<env>/seed {table, count, owner?, at?, seed?}` -> {ids} (generated rows, written directly:
  no webhooks; change tracking sees them).
- `GET|POST .../environments/<env>/tables/<table>/rows` and `GET|PATCH|DELETE .../rows/<id>`: rows as a person
  edits them in the app (webhooks fire, change tracking sees them). Body {values, as_user?, at?}: values by column
  as the Web API takes them (`"parentaccountid@odata.bind": "/accounts(<id>)"`) or, for a lookup, its id
  (`"ownerid": "<systemuserid>"`, the first target table) or {"table", "id"}; `as_user` a systemuserid (default: the
  environment's first person); `at` an ISO moment (default: the sandbox clock). Rows answer with every column
  (datetimes ISO, lookups as ids with "<column>@table"). `GET .../rows?regarding=<id>` lists the activities
  regarding a record (tasks, text messages).
- `GET|POST .../environments/<env>/webhooks` {url, header_name, header_value, table (lead), message (Create)} ->
  {serviceendpointid, ...}; `DELETE .../webhooks/<serviceendpointid>`; `GET .../webhooks/deliveries` (every
  attempt: status, error, headers without the auth value, body).
- `GET .../environments/<env>/limits` (service protection counters per user: limits.py) and `POST .../limits/reset`.
Change tracking's controls (back-dated rows, one modifiedon for many rows, expired tokens, tracking on/off):
control_tracking.py. The kit's controls (clock, faults, reset, config) work for this vendor too."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.dynamics import limits, webhooks
from sandbox.dynamics.calls import Problem
from sandbox.dynamics.shapes import json_value
from sandbox.dynamics.state_env import DuplicateRow, RowNotFound, norm_id
from sandbox.kit.http import json_response, request_json

if TYPE_CHECKING:
    from sandbox.dynamics.state import Environment, Row, Table
    from sandbox.state import SandboxState

BASE = "/_sandbox/dynamics"


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def controlled(handler: Any) -> Any:
    @functools.wraps(handler)
    def wrapped(sandbox: SandboxState, request: Request, **args: Any) -> Response:
        try:
            with sandbox.lock:
                return handler(sandbox, request, **args)
        except Refused as refused:
            return json_response({"error": str(refused)}, refused.status)
        except Problem as problem:
            status = problem.response.status_code  # Dataverse's own refusal of the values (400, or 404 for a reference)
            return json_response({"error": request_json_of(problem.response)}, status if status in (400, 404) else 400)
        except RowNotFound as missing:
            return json_response({"error": str(missing)}, 404)
        except (KeyError, ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)

    return wrapped


def request_json_of(response: Response) -> Any:
    import json

    try:
        return json.loads(response.get_data(as_text=True)).get("error", {}).get("message", "")
    except ValueError:
        return response.get_data(as_text=True)


def body_of(request: Request) -> dict[str, Any]:
    body = request_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Refused("the body is a JSON object")
    return body


def environment_of(sandbox: SandboxState, env: str) -> Environment:
    found = sandbox.dynamics.environment(env)
    if found is None:
        raise Refused(f"no environment {env}", 404)
    return found


def table_of(environment: Environment, name: str) -> Table:
    table = environment.table(name) or environment.table_of_set(name)
    if table is None:
        raise Refused(f"no table {name}", 404)
    return table


def moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"not an ISO datetime: {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).replace(microsecond=0)


def raw(row: Row | None) -> dict[str, Any]:
    """A row with every column (JSON values; a lookup's target table under "<column>@table")."""
    return {name: json_value(value) for name, value in (row or {}).items()}


def people(environment: Environment) -> list[Row]:
    return [row for row in environment.rows("systemuser") if not row.get("applicationid")]


def environment_summary(sandbox: SandboxState, environment: Environment) -> dict[str, Any]:
    from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

    app_user = environment.application_user(DEMO_DV_CLIENT_ID)
    return {
        "name": environment.name,
        "url": environment.url,
        "api_url": environment.api_url,
        "tenant_id": environment.tenant_id,
        "organization_id": environment.organization_id,
        "organization_name": environment.organization_name,
        "business_unit_id": environment.business_unit_id,
        "application_user_id": app_user["systemuserid"] if app_user else None,
        "users": [
            {
                "systemuserid": row["systemuserid"],
                "azureactivedirectoryobjectid": row.get("azureactivedirectoryobjectid"),
                "fullname": row.get("fullname"),
                "internalemailaddress": row.get("internalemailaddress"),
            }
            for row in people(environment)
        ],
    }


def acting_user(environment: Environment, body: dict[str, Any]) -> str:
    given = body.get("as_user")
    if given:
        user = environment.user(str(given))
        if user is None:
            raise Refused(f"no system user {given}", 404)
        return user["systemuserid"]
    found = people(environment)
    return found[0]["systemuserid"] if found else ""


def stored_values(environment: Environment, table: Table, given: Any, *, creating: bool) -> dict[str, Any]:
    """Stored values from the body's `values`: Web API JSON, plus lookups given by id or {table, id}."""
    from sandbox.dynamics.records_values import values_from_body

    if not isinstance(given, dict):
        raise Refused("values is a JSON object")
    lookups: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for name, value in given.items():
        attribute = table.attribute(name)
        if attribute is not None and attribute.is_lookup:
            target, row_id = (value.get("table"), value.get("id")) if isinstance(value, dict) else (None, value)
            target = target or (attribute.targets[0] if attribute.targets else "")
            if row_id is not None and environment.row(target, str(row_id)) is None:
                raise Refused(f"no {target} {row_id} for {name}", 404)
            lookups[name] = norm_id(row_id) if row_id is not None else None
            lookups[f"{name}@table"] = target if row_id is not None else None
        else:
            rest[name] = value
    return {**values_from_body(environment, table, rest, creating=creating), **lookups}


# --- environments --------------------------------------------------------------------------------------------------
@controlled
def environments(sandbox: SandboxState, request: Request) -> Response:
    dynamics = sandbox.dynamics
    if request.method == "GET":
        return json_response([environment_summary(sandbox, found) for found in dynamics.environments.values()])
    body = body_of(request)
    environment = dynamics.create_environment(
        body.get("name"),
        body.get("tenant_id"),
        str(body.get("organization_name") or "Contoso"),
        users=int(body.get("users", 3)),
        consent=bool(body.get("consent", True)),
    )
    return json_response(environment_summary(sandbox, environment), 201)


@controlled
def environment_detail(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    summary = environment_summary(sandbox, environment)
    summary["tables"] = {
        name: {"rows": len(table.rows), "change_tracking": table.change_tracking, "entity_set": table.entity_set_name}
        for name, table in environment.tables.items()
    }
    summary["version"] = environment.version
    summary["token_floor_version"] = environment.token_floor_version
    summary["webhooks"] = webhooks.webhooks(environment)
    return json_response(summary)


@controlled
def seed(sandbox: SandboxState, request: Request, env: str) -> Response:
    from sandbox.dynamics.seed import seed_rows

    environment = environment_of(sandbox, env)
    body = body_of(request)
    table = table_of(environment, str(body.get("table") or "lead"))
    if table.logical_name not in ("lead", "contact", "account", "opportunity"):
        raise Refused("seed makes lead, contact, account or opportunity rows")
    count = int(body.get("count", 10))
    if not 0 <= count <= 1_000_000:
        raise Refused("count is 0 to 1,000,000")
    owner = body.get("owner")
    if owner and environment.user(str(owner)) is None:
        raise Refused(f"no system user {owner}", 404)
    ids = seed_rows(
        environment,
        table.logical_name,
        count,
        seed=int(body.get("seed", sandbox.seed)),
        owner=str(owner) if owner else None,
        at=moment(body.get("at")),
    )
    return json_response({"count": len(ids), "ids": ids}, 201)


# --- rows as people edit them ------------------------------------------------------------------------------------
@controlled
def rows(sandbox: SandboxState, request: Request, env: str, table: str) -> Response:
    environment = environment_of(sandbox, env)
    spec = table_of(environment, table)
    if request.method == "GET":
        found = environment.rows(spec.logical_name)
        regarding = request.args.get("regarding")
        if regarding:
            found = [row for row in found if (row.get("regardingobjectid") or "") == regarding.strip("{}").lower()]
        return json_response([raw(row) for row in found])
    body = body_of(request)
    values = stored_values(environment, spec, body.get("values") or {}, creating=True)
    try:
        row = environment.create(
            spec.logical_name,
            values,
            by=acting_user(environment, body),
            at=moment(body.get("at")),
            row_id=body.get("id"),
        )
    except DuplicateRow as exc:
        raise Refused(f"a {spec.logical_name} with id {exc} exists", 409) from None
    return json_response(raw(row), 201)


@controlled
def row_detail(sandbox: SandboxState, request: Request, env: str, table: str, row_id: str) -> Response:
    environment = environment_of(sandbox, env)
    spec = table_of(environment, table)
    if request.method == "GET":
        found = environment.row(spec.logical_name, row_id)
        if found is None:
            raise Refused(f"{spec.logical_name} With Id = {row_id} Does Not Exist", 404)
        return json_response(raw(found))
    body = body_of(request)
    if request.method == "DELETE":
        environment.delete(spec.logical_name, row_id, by=acting_user(environment, body))
        return Response(status=204)
    values = stored_values(environment, spec, body.get("values") or {}, creating=False)
    row = environment.update(
        spec.logical_name, row_id, values, by=acting_user(environment, body), at=moment(body.get("at"))
    )
    return json_response(raw(row))


# --- webhooks ----------------------------------------------------------------------------------------------------
@controlled
def webhook_list(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    if request.method == "GET":
        return json_response(webhooks.webhooks(environment))
    body = body_of(request)
    if not body.get("url"):
        raise Refused("url is required")
    step = webhooks.webhook_register(
        environment,
        url=str(body["url"]),
        header_name=str(body.get("header_name") or ""),
        header_value=str(body.get("header_value") or ""),
        table=str(body.get("table") or "lead"),
        message=str(body.get("message") or "Create"),
    )
    return json_response({**step, "header_value": "***" if step["header_value"] else ""}, 201)


@controlled
def webhook_detail(sandbox: SandboxState, request: Request, env: str, endpoint_id: str) -> Response:
    environment = environment_of(sandbox, env)
    if not webhooks.webhook_unregister(environment, endpoint_id):
        raise Refused(f"no webhook {endpoint_id}", 404)
    return Response(status=204)


@controlled
def webhook_deliveries(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    if request.method == "DELETE":
        webhooks.webhook_deliveries(environment).clear()
        return Response(status=204)
    return json_response(list(webhooks.webhook_deliveries(environment)))


# --- service protection ------------------------------------------------------------------------------------------
@controlled
def limits_detail(sandbox: SandboxState, request: Request, env: str) -> Response:
    return json_response(limits.limits_summary(environment_of(sandbox, env)))


@controlled
def limits_reset(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    limits.limits_reset(environment)
    return json_response(limits.limits_summary(environment))


CONTROL_ROUTES = [
    (f"{BASE}/environments", ["GET", "POST"], environments),
    (f"{BASE}/environments/<env>", ["GET"], environment_detail),
    (f"{BASE}/environments/<env>/seed", ["POST"], seed),
    (f"{BASE}/environments/<env>/tables/<table>/rows", ["GET", "POST"], rows),
    (f"{BASE}/environments/<env>/tables/<table>/rows/<row_id>", ["GET", "PATCH", "DELETE"], row_detail),
    (f"{BASE}/environments/<env>/webhooks", ["GET", "POST"], webhook_list),
    (f"{BASE}/environments/<env>/webhooks/deliveries", ["GET", "DELETE"], webhook_deliveries),
    (f"{BASE}/environments/<env>/webhooks/<endpoint_id>", ["DELETE"], webhook_detail),
    (f"{BASE}/environments/<env>/limits", ["GET"], limits_detail),
    (f"{BASE}/environments/<env>/limits/reset", ["POST"], limits_reset),
]
