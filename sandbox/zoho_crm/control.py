"""Control API for the sandbox CRM under /_sandbox/zoho/ (plain JSON, not Zoho's shapes).

- `POST /_sandbox/zoho/seed {module, count, seed, org_id?}`: generate records (seed.py).
- `POST /_sandbox/zoho/leads {First_Name, Last_Name, Mobile, Owner: {id}, ...}`: a lead created as a person
  would in Zoho's UI: validated like the API, announced with triggers ("workflow",) so workflow rules fire.
- `POST /_sandbox/zoho/{module} {field: value, ...}`: a record of any module created as a person would.
- `PATCH /_sandbox/zoho/{module}/{id} {field: value, ..., "bump_modified": false?, "by_user_id"?}`: change a record;
  `bump_modified: false` changes it as formula fields change (no Modified_Time, no event).
- `DELETE /_sandbox/zoho/{module}/{id}[?permanent=1]`: to the recycle bin, or for good.
- `POST /_sandbox/zoho/{module}/{id}/convert`: convert a lead (a Contact is made; the lead stays, converted).
- `POST /_sandbox/zoho/formula {module?, count, seed?}`: change the formula fields (Lead_Score) of `count`
  records without touching Modified_Time; answers the ids.
- `GET /_sandbox/zoho/{module}?limit=&org_id=`: records, most recently modified first (the people page).
- `POST /_sandbox/zoho/revoke-tokens {org_id?}`: every live access token stops working (INVALID_TOKEN).
- `GET|POST /_sandbox/zoho/orgs {name, org_id?, users?, leads?, seed?, redirect_uris?}`: list orgs, or create
  another org with its own OAuth client, refresh token and users (cross-tenant tests).
- `POST /_sandbox/zoho/validation-rules {module, field, message, org_id?}`: a validation rule: from now on an API
  write of `module` setting `field` is refused with `message` (validation.py); `GET` lists them;
  `DELETE ?module=&org_id=` removes a module's rules (every module's without `module`).
`org_id` defaults to the demo org everywhere.
"""

from __future__ import annotations

import random
import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox import worlds
from sandbox.http import json_response, request_json
from sandbox.state import SandboxState
from sandbox.zoho_accounts import CRM_ADMIN_SCOPES, OAuthClient
from sandbox.zoho_crm import schema, seed, validation
from sandbox.zoho_crm.orgs import ZohoOrg
from sandbox.zoho_crm.records_write import insert_one


def _bad(message: str, status: int = 400, **extra: Any) -> Response:
    return json_response({"error": message, **extra}, status)


def _org(sandbox: SandboxState, org_id: str | None) -> ZohoOrg | None:
    return sandbox.crm.orgs.get(org_id or worlds.DEMO_ZOHO_ORG_ID)


def _body(request: Request) -> dict[str, Any]:
    body = request_json(request)
    return body if isinstance(body, dict) else {}


def seed_records(sandbox: SandboxState, request: Request) -> Response:
    body = _body(request)
    org = _org(sandbox, body.get("org_id"))
    module = body.get("module", "Leads")
    if org is None or module not in seed.SEEDERS:
        return _bad("unknown org or module", modules=list(seed.SEEDERS))
    try:
        count, seed_value = int(body.get("count", 100)), int(body.get("seed", sandbox.seed))
    except (TypeError, ValueError):
        return _bad("count and seed are integers")
    with sandbox.lock:
        seed.seed_module(org, module, count, seed_value)
    return json_response({"org_id": org.org_id, "module": module, "count": count, "total": len(org.modules[module])})


def create_lead(sandbox: SandboxState, request: Request) -> Response:
    return create_record(sandbox, request, "Leads")


def create_record(sandbox: SandboxState, request: Request, module: str) -> Response:
    """A record as a person creates it in Zoho's UI (no validation rules: they guard API writes here)."""
    body = _body(request)
    org = _org(sandbox, body.pop("org_id", None))
    store = org.module_named(module) if org is not None else None
    if store is None:
        return _bad("unknown org or module")
    owner_id = (body.get("Owner") or {}).get("id") if isinstance(body.get("Owner"), dict) else None
    user = org.user(owner_id) or org.admin
    try:
        record = insert_one(org, store, body, 0, user, by_api=False, triggers=("workflow",))
    except validation.RecordError as error:
        return json_response(error.entry, 400)
    return json_response(record, 201)


def _store(sandbox: SandboxState, request: Request, module: str):
    org = _org(sandbox, request.args.get("org_id"))
    store = org.module_named(module) if org is not None else None
    return org, store


def list_records(sandbox: SandboxState, request: Request, module: str) -> Response:
    _, store = _store(sandbox, request, module)
    if store is None:
        return _bad("unknown org or module", 404)
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        return _bad("limit is an integer")
    with store.lock:
        records = []
        for record in store.iter_by_modified(descending=True):
            records.append(dict(record))
            if len(records) >= limit:
                break
    return json_response(records)


def record(sandbox: SandboxState, request: Request, module: str, record_id: str) -> Response:
    org, store = _store(sandbox, request, module)
    if store is None or store.get(record_id) is None:
        return _bad("no such record", 404)
    if request.method == "GET":
        return json_response(store.get(record_id))
    if request.method == "DELETE":
        permanent = request.args.get("permanent", "").lower() in ("1", "true", "yes")
        with sandbox.lock:
            store.delete(record_id, by_user=org.admin, permanent=permanent)
        return json_response({"deleted": record_id, "permanent": permanent})
    body = _body(request)
    bump = bool(body.pop("bump_modified", True))
    user = org.user(body.pop("by_user_id", None)) or org.admin
    with sandbox.lock:
        changed = store.update(record_id, body, by_user=user, bump_modified=bump, triggers=("workflow",))
    return json_response(changed)


def convert(sandbox: SandboxState, request: Request, module: str, record_id: str) -> Response:
    org, store = _store(sandbox, request, module)
    if store is None or store.module != "Leads" or store.get(record_id) is None:
        return _bad("no such lead", 404)
    lead = store.get(record_id)
    if lead.get("$converted"):
        return _bad("already converted", 409)
    with sandbox.lock:
        contact_id = seed.convert_lead(org, lead, when=org.now())
    return json_response({"lead": store.get(record_id), "contact_id": contact_id})


def change_formulas(sandbox: SandboxState, request: Request) -> Response:
    """Formula fields change without Modified_Time moving (Zoho recomputes them silently)."""
    body = _body(request)
    org = _org(sandbox, body.get("org_id"))
    module = body.get("module", "Leads")
    if org is None or module != "Leads":
        return _bad("formula fields exist on Leads")
    store = org.modules[module]
    rng = random.Random(int(body.get("seed", 0)))
    count = int(body.get("count", 1))
    with sandbox.lock, store.lock:
        ids = list(store.records)
        chosen = ids if count >= len(ids) else rng.sample(ids, count)
        for record_id in chosen:
            current = store.records[record_id].get("Lead_Score") or 0.0
            store.update(record_id, {"Lead_Score": float(current) + rng.choice((5, 10, 15))}, bump_modified=False)
    return json_response({"module": module, "field": "Lead_Score", "ids": chosen})


def revoke_tokens(sandbox: SandboxState, request: Request) -> Response:
    body = _body(request)
    with sandbox.lock:
        count = sandbox.accounts.revoke_all(org_id=body.get("org_id"))
    return json_response({"revoked": count})


def _users_for(prefix: str, slug: str, specs: Any) -> list[dict[str, Any]]:
    if specs:
        return [
            {**spec, "id": spec.get("id") or f"{prefix}{225001 + number:012d}"} for number, spec in enumerate(specs)
        ]
    people = (("Alex", "Admin", "Administrator", "CEO"), ("Sam", "Staff", "Standard", "Manager"))
    return [
        {
            "id": f"{prefix}{225001 + number:012d}",
            "first_name": first,
            "last_name": last,
            "email": f"{first.lower()}@{slug}.leadline.test",
            "profile": profile,
            "role": role,
        }
        for number, (first, last, profile, role) in enumerate(people)
    ]


def orgs(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "GET":
        return json_response(
            [
                {"org_id": org.org_id, "name": org.name, "users": list(org.users.values())}
                for org in sandbox.crm.orgs.values()
            ]
        )
    body = _body(request)
    with sandbox.lock:
        number = len(sandbox.crm.orgs)
        org_id = str(body.get("org_id") or 20_000_000 + number)
        if org_id in sandbox.crm.orgs:
            return _bad(f"org {org_id} exists", 409)
        name = body.get("name") or f"Other Fitness {number}"
        slug = "".join(char for char in name.lower() if char.isalnum()) or org_id
        prefix = str(5_725_767 + number * 1_111)
        org = sandbox.crm.create_org(org_id, name, _users_for(prefix, slug, body.get("users")), prefix=prefix)
        if int(body.get("leads", 0)):
            seed.seed_org(org, seed=int(body.get("seed", sandbox.seed)), leads=int(body["leads"]))
        client = OAuthClient(
            f"1000.{secrets.token_hex(12).upper()}",
            secrets.token_hex(20),
            tuple(body.get("redirect_uris") or worlds.DEMO_REDIRECT_URIS),
            name=body.get("client_name", "Leadline"),
        )
        sandbox.accounts.clients[client.client_id] = client
        refresh = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        sandbox.accounts.add_refresh_token(refresh, client.client_id, org_id, org.admin_user_id, CRM_ADMIN_SCOPES)
    return json_response(
        {
            "org_id": org_id,
            "name": name,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "refresh_token": refresh,
            "users": list(org.users.values()),
            "modules": list(schema.MODULES),
        },
        201,
    )


def validation_rules(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "POST":
        body = _body(request)
        org = _org(sandbox, body.get("org_id"))
        module, field, message = body.get("module"), body.get("field"), body.get("message")
        if org is None or module not in org.fields:
            return _bad("unknown org or module", modules=list(org.fields) if org else [])
        if field not in schema.field_index(org.fields[module]) or not message:
            return _bad("field (an API name of the module) and message are required")
        with sandbox.lock:
            org.validation_rules.setdefault(module, {})[field] = str(message)
        return json_response(org.validation_rules, 201)
    org = _org(sandbox, request.args.get("org_id"))
    if org is None:
        return _bad("unknown org", 404)
    if request.method == "DELETE":
        with sandbox.lock:
            module = request.args.get("module")
            if module:
                org.validation_rules.pop(module, None)
            else:
                org.validation_rules.clear()
    return json_response(org.validation_rules)


ROUTES = [
    ("/_sandbox/zoho/seed", ["POST"], seed_records),
    ("/_sandbox/zoho/leads", ["POST"], create_lead),
    ("/_sandbox/zoho/formula", ["POST"], change_formulas),
    ("/_sandbox/zoho/revoke-tokens", ["POST"], revoke_tokens),
    ("/_sandbox/zoho/orgs", ["GET", "POST"], orgs),
    ("/_sandbox/zoho/validation-rules", ["GET", "POST", "DELETE"], validation_rules),
    ("/_sandbox/zoho/<module>", ["GET"], list_records),
    ("/_sandbox/zoho/<module>", ["POST"], create_record),
    ("/_sandbox/zoho/<module>/<record_id>", ["GET", "PATCH", "DELETE"], record),
    ("/_sandbox/zoho/<module>/<record_id>/convert", ["POST"], convert),
]
