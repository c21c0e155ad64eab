"""The HubSpot emulator's control API, under /_sandbox/hubspot/ (plain JSON, not HubSpot's shapes; bad input is
400 {"error"}, unknown portals or records 404 {"error"}). What a person or HubSpot itself does, for tests and the
people page:

- `GET|POST /_sandbox/hubspot/portals` {portal_id?, name?, domain?, owners?: [{id, userId, email, firstName,
  lastName}] | owner_count?, opt_out_property? (default true), external_id_property? (default true: the unique
  `leadline_id` on contacts, companies and deals), utc_offset_hours?, time_zone?, requests_per_10s?,
  requests_per_day?} -> the portal's summary. `GET|PATCH /_sandbox/hubspot/portals/<id>` (limits, name).
- `GET|POST /_sandbox/hubspot/apps` {app_id?, client_id?, client_secret?, name?, redirect_uris?, scopes?}.
- `POST .../portals/<id>/installs {app_id?, user_id?, scopes?}` -> {refresh_token, access_token, expires_in,
  hub_id, user_id} (an install without the consent page); `POST .../portals/<id>/private-token {scopes}`.
- `POST .../portals/<id>/seed {object_type: contacts|companies|deals|tasks, count, seed?, same_modified? (ISO),
  with_companies?}` -> {count, first_id, last_id} (direct writes, fast: 12,000 contacts in about a second).
- `POST .../portals/<id>/records/<type> {properties, at?, user_id?}` -> the record, made "in HubSpot's UI"
  (changeSource CRM_UI) at `at` (ISO; else the sandbox clock); `PATCH .../records/<type>/<rid>` likewise;
  `DELETE .../records/<type>/<rid>` archives; `GET .../records/<type>[?archived=true&limit=&ids=1,2]` and
  `GET .../records/<type>/<rid>` read raw records (every property) with their associations.
- `POST .../portals/<id>/edit {object_type, count? | ids?, properties?, at?}`: people edit records (one moment
  when `at` is given); `POST .../portals/<id>/stamp {object_type, at, count? | ids?, notify?}`: ONE modified time
  for many records (HubSpot's month-end batch), no changes announced unless `notify`.
- `POST .../portals/<id>/merge {object_type, primary_id, secondary_id}`; `POST .../portals/<id>/restore
  {object_type, id}`.
- `POST .../portals/<id>/associations {from_type, from_id, to_type, to_id, type_id?}`.
- `POST .../portals/<id>/validation-rules {object_type, property, message}`: a property validation rule refusing
  API writes that set the property (400 VALIDATION_ERROR with `message`); `DELETE` the same path {object_type,
  property?} removes it (or every rule of the type).
- `POST /_sandbox/hubspot/tokens/revoke {refresh_token?}`: that install's tokens, or every access token;
  `POST /_sandbox/hubspot/tokens/expire`: every OAuth access token expires now.
Faults go through the kit (`POST /_sandbox/faults`), with actions hs_revoke_tokens, hs_expire_tokens and
hs_edit_records {object_type, count}.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.hubspot import seed as seeding
from sandbox.hubspot.catalog import EDITED, resolve
from sandbox.hubspot.schema import iso_ms, parse_iso
from sandbox.hubspot.state import Portal, Source
from sandbox.kit.http import json_response, request_json

if TYPE_CHECKING:
    from sandbox.state import SandboxState

BASE = "/_sandbox/hubspot"


class Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _body(request: Request) -> dict[str, Any]:
    body = request_json(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Refused("the body is a JSON object")
    return body


def _portal(sandbox: SandboxState, portal_id: str) -> Portal:
    portal = sandbox.hubspot.portal(portal_id)
    if portal is None:
        raise Refused(f"no portal {portal_id}", 404)
    return portal


def _type(name: Any) -> str:
    kind = resolve(str(name or ""))
    if kind is None:
        raise Refused(f"unknown object type {name!r}")
    return kind.name


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_iso(str(value))
    except ValueError:
        raise Refused(f"not an ISO datetime: {value!r}") from None


def controlled(handler: Any) -> Any:
    def wrapped(sandbox: SandboxState, request: Request, **args: Any) -> Response:
        try:
            with sandbox.lock:
                return handler(sandbox, request, **args)
        except Refused as refused:
            return json_response({"error": str(refused)}, refused.status)
        except (KeyError, ValueError, TypeError) as exc:
            return json_response({"error": str(exc)}, 400)

    wrapped.__name__ = handler.__name__
    wrapped.__module__ = handler.__module__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def raw(portal: Portal, object_type: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record with every property and its associations ({to type: [[id, [type ids]], ...]})."""
    linked = {}
    for other in ("contacts", "companies", "deals", "tasks", "notes", "communications"):
        found = portal.associations.of(object_type, record["id"], other)
        if found:
            linked[other] = [{"id": other_id, "type_ids": type_ids} for other_id, type_ids in found]
    return {**record, "associations": linked}


# --- portals, apps, installs -----------------------------------------------------------------------------------
@controlled
def portals(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "GET":
        return json_response([portal.summary() for portal in sandbox.hubspot.portals.values()])
    body = _body(request)
    owners = body.get("owners")
    if owners is None:
        count = int(body.get("owner_count", 2))
        base = 80_000_000 + len(sandbox.hubspot.portals) * 100
        owners = [
            {
                "id": str(base + n),
                "userId": 9_000_000 + base % 1_000_000 + n,
                "email": f"owner{n}@portal.test",
                "firstName": "Owner",
                "lastName": str(n),
            }
            for n in range(1, count + 1)
        ]
    stamp = iso_ms(sandbox.clock.now())
    portal = sandbox.hubspot.create_portal(
        portal_id=body.get("portal_id"),
        name=str(body.get("name") or "Sandbox portal"),
        domain=body.get("domain"),
        owners=seeding.owner_records(owners, stamp=stamp),
        time_zone=str(body.get("time_zone") or "US/Eastern"),
        utc_offset_hours=float(body.get("utc_offset_hours", -5.0)),
    )
    if body.get("opt_out_property", True):
        seeding.add_opt_out_property(portal)
    if body.get("external_id_property", True):
        seeding.add_external_id_property(portal)
    portal.requests_per_10s = body.get("requests_per_10s")
    portal.requests_per_day = body.get("requests_per_day")
    return json_response(portal.summary(), 201)


@controlled
def portal_detail(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    if request.method == "PATCH":
        body = _body(request)
        for key in ("requests_per_10s", "requests_per_day"):
            if key in body:
                setattr(portal, key, None if body[key] is None else int(body[key]))
        if "name" in body:
            portal.name = str(body["name"])
        if body.get("reset_limits"):
            portal.ten_second = type(portal.ten_second)(10.0, now=sandbox.clock.timestamp)
            portal.daily_used.clear()
    return json_response(portal.summary())


@controlled
def apps(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "GET":
        return json_response([app.summary() for app in sandbox.hubspot.apps.values()])
    body = _body(request)
    app = sandbox.hubspot.create_app(
        app_id=body.get("app_id"),
        client_id=body.get("client_id"),
        client_secret=body.get("client_secret"),
        name=str(body.get("name") or "Leadline"),
        redirect_uris=body.get("redirect_uris") or (),
        scopes=body.get("scopes") or (),
    )
    return json_response(app.summary(), 201)


@controlled
def installs(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    from sandbox import worlds

    portal = _portal(sandbox, portal_id)
    body = _body(request)
    app = sandbox.hubspot.apps.get(str(body.get("app_id") or worlds.DEMO_HS_APP_ID))
    if app is None:
        raise Refused("no such app", 404)
    user_id = body.get("user_id") or next((owner["userId"] for owner in portal.owners if owner.get("userId")), 1)
    scopes = body.get("scopes") or worlds.DEMO_HS_SCOPES
    grant = sandbox.hubspot.install(app, portal, int(user_id), scopes, token=body.get("refresh_token"))
    access = sandbox.hubspot.issue_access(grant)
    return json_response(
        {
            "refresh_token": grant.token,
            "access_token": access.token,
            "expires_in": int(sandbox.config.hs_access_token_ttl_seconds),
            "hub_id": portal.portal_id,
            "user_id": grant.user_id,
            "app_id": app.app_id,
            "scopes": list(grant.scopes),
        },
        201,
    )


@controlled
def private_token(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    from sandbox import worlds

    portal = _portal(sandbox, portal_id)
    body = _body(request)
    token = sandbox.hubspot.private_token(portal, body.get("scopes") or worlds.DEMO_HS_SCOPES)
    return json_response({"token": token.token, "hub_id": portal.portal_id}, 201)


@controlled
def tokens_revoke(sandbox: SandboxState, request: Request) -> Response:
    body = _body(request)
    if body.get("refresh_token"):
        return json_response({"revoked": sandbox.hubspot.revoke_refresh(str(body["refresh_token"]))})
    return json_response({"revoked": sandbox.hubspot.revoke_all_access()})


@controlled
def tokens_expire(sandbox: SandboxState, request: Request) -> Response:
    return json_response({"expired": sandbox.hubspot.expire_all_access()})


# --- records -------------------------------------------------------------------------------------------------
@controlled
def seed(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    count = int(body.get("count", 100))
    number = int(body.get("seed", sandbox.seed))
    stream = f"{object_type}:{len(portal.stores[object_type])}"
    if object_type == "contacts":
        companies = list(portal.stores["companies"].records) if body.get("with_companies") else None
        ids = seeding.seed_contacts(
            portal,
            count,
            seed=number,
            same_modified=_moment(body.get("same_modified")),
            companies=companies,
            stream=stream,
        )
    elif object_type == "companies":
        ids = seeding.seed_companies(portal, count, seed=number)
    elif object_type == "deals":
        ids = seeding.seed_deals(
            portal,
            count,
            seed=number,
            contacts=list(portal.stores["contacts"].records),
            companies=list(portal.stores["companies"].records),
        )
    elif object_type == "tasks":
        ids = seeding.seed_tasks(portal, count, seed=number, contacts=list(portal.stores["contacts"].records))
    else:
        raise Refused(f"seeding {object_type} is not supported")
    if body.get("same_modified") and object_type != "contacts":
        portal.stamp(object_type, ids, _moment(body["same_modified"]))  # type: ignore[arg-type]
    return json_response({"count": len(ids), "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None})


def _ui(body: dict[str, Any]) -> Source:
    return Source.ui(body.get("user_id"))


def _clean(portal: Portal, object_type: str, values: Any) -> dict[str, str]:
    clean, errors = portal.check(object_type, values or {})
    if errors:
        raise Refused("; ".join(error["message"] for error in errors))
    return clean


@controlled
def records(sandbox: SandboxState, request: Request, portal_id: str, object_type: str) -> Response:
    portal = _portal(sandbox, portal_id)
    object_type = _type(object_type)
    if request.method == "POST":
        body = _body(request)
        record = portal.create(
            object_type,
            _clean(portal, object_type, body.get("properties")),
            source=_ui(body),
            at=_moment(body.get("at")),
        )
        return json_response(raw(portal, object_type, record), 201)
    archived = request.args.get("archived") == "true"
    pool = portal.archived[object_type] if archived else portal.stores[object_type].records
    wanted = [part for part in (request.args.get("ids") or "").split(",") if part]
    chosen = (
        [pool[item] for item in wanted if item in pool]
        if wanted
        else sorted(list(pool.values()), key=lambda r: int(r["id"]))
    )
    limit = int(request.args.get("limit") or 1000)
    return json_response({"total": len(pool), "results": [raw(portal, object_type, r) for r in chosen[:limit]]})


@controlled
def record(sandbox: SandboxState, request: Request, portal_id: str, object_type: str, record_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    object_type = _type(object_type)
    if request.method == "DELETE":
        archived = portal.archive(object_type, record_id, source=_ui({}))
        return json_response({"archived": archived is not None})
    found = portal.get(object_type, record_id) or portal.get(object_type, record_id, archived=True)
    if found is None:
        raise Refused(f"no {object_type} {record_id}", 404)
    if request.method == "PATCH":
        body = _body(request)
        if found.get("archived"):
            raise Refused(f"{object_type} {record_id} is archived")
        found = portal.update(
            object_type,
            record_id,
            _clean(portal, object_type, body.get("properties")),
            source=_ui(body),
            at=_moment(body.get("at")),
        )
    return json_response(raw(portal, object_type, found))


def _chosen_ids(portal: Portal, object_type: str, body: dict[str, Any]) -> list[str]:
    if body.get("ids"):
        return [str(item) for item in body["ids"]]
    count = int(body.get("count", 10))
    store = portal.stores[object_type]
    with store.lock:
        return [record["id"] for _, record in zip(range(count), store.iter_by_id(), strict=False)]


@controlled
def edit(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    values = body.get("properties")
    at = _moment(body.get("at"))
    edited = []
    for record_id in _chosen_ids(portal, object_type, body):
        if portal.get(object_type, record_id) is None:
            continue
        change = (
            _clean(portal, object_type, values) if values else {EDITED[object_type]: f"edited in HubSpot ({record_id})"}
        )
        portal.update(object_type, record_id, change, source=_ui(body), at=at)
        edited.append(record_id)
    return json_response({"edited": len(edited), "ids": edited})


@controlled
def stamp(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    at = _moment(body.get("at")) or sandbox.clock.now()
    ids = (
        _chosen_ids(portal, object_type, body)
        if (body.get("ids") or body.get("count"))
        else list(portal.stores[object_type].records)
    )
    stamped = portal.stamp(object_type, ids, at, notify=bool(body.get("notify")))
    return json_response({"stamped": stamped, "at": iso_ms(at)})


@controlled
def merge(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    merged = portal.merge(object_type, str(body["primary_id"]), str(body["secondary_id"]), source=_ui(body))
    return json_response(raw(portal, object_type, merged))


@controlled
def restore(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    restored = portal.restore(object_type, str(body["id"]), source=_ui(body))
    if restored is None:
        raise Refused(f"no archived {object_type} {body['id']}", 404)
    return json_response(raw(portal, object_type, restored))


@controlled
def associate(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    from_type, to_type = _type(body.get("from_type")), _type(body.get("to_type"))
    for kind, record_id in ((from_type, body.get("from_id")), (to_type, body.get("to_id"))):
        if not portal.alive(kind, str(record_id)):
            raise Refused(f"no {kind} {record_id}", 404)
    type_id = body.get("type_id")
    portal.associate(
        from_type,
        str(body["from_id"]),
        to_type,
        str(body["to_id"]),
        None if type_id is None else int(type_id),
        source=_ui(body),
    )
    return json_response({"associations": portal.associations.of(from_type, str(body["from_id"]), to_type)}, 201)


@controlled
def validation_rules(sandbox: SandboxState, request: Request, portal_id: str) -> Response:
    """A person sets (POST {object_type, property, message}) or removes (DELETE {object_type[, property]}) a property
    validation rule: API writes setting the property are refused with the message."""
    portal = _portal(sandbox, portal_id)
    body = _body(request)
    object_type = _type(body.get("object_type", "contacts"))
    rules = portal.validation_rules.setdefault(object_type, {})
    if request.method == "POST":
        name = str(body.get("property") or "")
        if name not in portal.properties[object_type]:
            raise Refused(f"{object_type} has no property {name!r}")
        rules[name] = str(body.get("message") or f"{name} does not meet the property's validation rules")
    elif body.get("property"):
        rules.pop(str(body["property"]), None)
    else:
        rules.clear()
    return json_response({"object_type": object_type, "rules": dict(rules)})


PORTAL = f"{BASE}/portals/<portal_id>"
CONTROL_ROUTES = [
    (f"{BASE}/portals", ["GET", "POST"], portals),
    (PORTAL, ["GET", "PATCH"], portal_detail),
    (f"{BASE}/apps", ["GET", "POST"], apps),
    (f"{PORTAL}/installs", ["POST"], installs),
    (f"{PORTAL}/private-token", ["POST"], private_token),
    (f"{BASE}/tokens/revoke", ["POST"], tokens_revoke),
    (f"{BASE}/tokens/expire", ["POST"], tokens_expire),
    (f"{PORTAL}/seed", ["POST"], seed),
    (f"{PORTAL}/records/<object_type>", ["GET", "POST"], records),
    (f"{PORTAL}/records/<object_type>/<record_id>", ["GET", "PATCH", "DELETE"], record),
    (f"{PORTAL}/edit", ["POST"], edit),
    (f"{PORTAL}/stamp", ["POST"], stamp),
    (f"{PORTAL}/merge", ["POST"], merge),
    (f"{PORTAL}/restore", ["POST"], restore),
    (f"{PORTAL}/associations", ["POST"], associate),
    (f"{PORTAL}/validation-rules", ["POST", "DELETE"], validation_rules),
]
