"""Change tracking's controls, under /_sandbox/dynamics/environments/<env>/ (plain JSON like control.py):

- `POST .../tables/<table>/backdate {ids, modifiedon}`: an import stamps a past `modifiedon` on rows; each gets a
  new version (change tracking reports it), no webhook fires -> {count}.
- `POST .../stamp {table, ids | null, at}`: many rows share one `modifiedon` (a bulk edit), each with a new version;
  `ids` null stamps every row of the table -> {count}.
- `POST .../expire-change-tokens`: every delta token issued so far stops working (the next GET of its link answers
  0x80044352 "Version stamp associated with the client has expired. Please perform a full sync.") -> {floor}.
- `GET|POST .../tables/<table>/change-tracking {enabled}`: the table's "Track changes" setting (metadata's
  ChangeTrackingEnabled follows it) -> {table, enabled}.
Tokens also expire by age: dv_change_tracking_days on the sandbox clock (`POST /_sandbox/clock`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from sandbox.dynamics.control import BASE, Refused, body_of, controlled, environment_of, moment, table_of
from sandbox.kit.http import json_response

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def _ids(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise Refused("ids is a list of row ids")
    return value


@controlled
def backdate(sandbox: SandboxState, request: Request, env: str, table: str) -> Response:
    environment = environment_of(sandbox, env)
    spec = table_of(environment, table)
    body = body_of(request)
    when = moment(body.get("modifiedon"))
    if when is None:
        raise Refused("modifiedon is required (ISO)")
    count = environment.backdate(spec.logical_name, _ids(body.get("ids")), when)
    return json_response({"count": count})


@controlled
def stamp(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    body = body_of(request)
    spec = table_of(environment, str(body.get("table") or "lead"))
    when = moment(body.get("at")) or sandbox.clock.now().replace(microsecond=0)
    ids = list(spec.rows) if body.get("ids") is None else _ids(body.get("ids"))
    return json_response({"count": environment.backdate(spec.logical_name, ids, when), "at": when.isoformat()})


@controlled
def expire_change_tokens(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = environment_of(sandbox, env)
    with environment.lock:  # tokens name the version their read began at: the next one is the first still valid
        environment.token_floor_version = environment.next_version()
    return json_response({"floor": environment.token_floor_version})


@controlled
def change_tracking(sandbox: SandboxState, request: Request, env: str, table: str) -> Response:
    environment = environment_of(sandbox, env)
    spec = table_of(environment, table)
    if request.method == "POST":
        body = body_of(request)
        if not isinstance(body.get("enabled"), bool):
            raise Refused("enabled is true or false")
        spec.change_tracking = body["enabled"]
    return json_response({"table": spec.logical_name, "enabled": spec.change_tracking})


CONTROL_ROUTES = [
    (f"{BASE}/environments/<env>/tables/<table>/backdate", ["POST"], backdate),
    (f"{BASE}/environments/<env>/stamp", ["POST"], stamp),
    (f"{BASE}/environments/<env>/expire-change-tokens", ["POST"], expire_change_tokens),
    (f"{BASE}/environments/<env>/tables/<table>/change-tracking", ["GET", "POST"], change_tracking),
]
