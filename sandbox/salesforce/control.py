"""The Salesforce emulator's control API, under /_sandbox/salesforce/ (plain JSON; bad input answers 400
{"error": ...}, an unknown org 404). What a Salesforce admin, a person in Lightning or Salesforce itself would do.

    POST   orgs {name, redirect_uris?, rotation?, instance_host?, daily_api_requests?, my_domain?, is_sandbox?,
                 users?: [{first_name, last_name, email, id?}], client_credentials?: bool}
           -> {org_id, instance_url, login_url, client_id, client_secret, users: [{id, name, email, username}],
               refresh_token (a ready grant for users[0], scopes api refresh_token id openid web), ...}
           `instance_host` (e.g. "localhost") gives the org its own instance_url on the sandbox's port; the data
           API then refuses calls on any other Host (401 INVALID_SESSION_ID).
    GET    orgs; GET orgs/<org_id>
    PATCH  orgs/<org_id> {rotation, daily_api_requests, api_usage, callout_url, long_requests_max, callout_retries,
                          callout_retry_seconds, slow_seconds, client_credentials_user, redirect_uris,
                          drop_fields: {sObject: [field, ...]}}  -> the org
    POST   orgs/<org_id>/grants {user_id?} -> {refresh_token, user_id}          (another user's approval)
    POST   orgs/<org_id>/seed {sobject, count, seed?} -> {ids}                  (realistic rows: seed.py)
    POST   orgs/<org_id>/records/<sobject> {records: [{...}], user_id?} -> {ids}
           (Salesforce itself writing: read-only fields allowed; new Leads fire the Flow callout)
    PATCH  orgs/<org_id>/records/<sobject> {ids, values, stamp?, late_seconds?, silent?} -> {stamp, ids}
           stamp: one SystemModstamp for all (a bulk update); late_seconds: committed now but stamped N seconds
           ago (a long transaction landing behind a cursor); silent: no SystemModstamp change (a formula or
           rollup recalculated)
    GET    orgs/<org_id>/records/<sobject>/<id> -> every field, deleted rows too, plus "_last_client"
    GET    orgs/<org_id>/records/<sobject>?<Field>=<value>&include_deleted=1&order=newest&limit=N -> [records]
           (e.g. WhoId=<lead id>: the tasks on a lead; oldest first unless order=newest)
    DELETE orgs/<org_id>/records/<sobject>/<id> -> {id, deletedDate}           (to the Recycle Bin)
    POST   orgs/<org_id>/leads/<id>/convert {opportunity?: true} -> {account_id, contact_id, opportunity_id}
    POST   orgs/<org_id>/revoke {what: "sessions" | "grant", refresh_token?} -> {ended_sessions, revoked_grants}
    POST   orgs/<org_id>/deleted-log/purge {before: iso} -> {purged, earliest_deleted_available}
    GET    orgs/<org_id>/validation-rules -> [{name, sobject, field, message}]
    POST   orgs/<org_id>/validation-rules {sobject, field, message, name?} -> the rule  (an admin activates a rule:
           API writes of that sObject setting that field answer FIELD_CUSTOM_VALIDATION_EXCEPTION with `message`)
    DELETE orgs/<org_id>/validation-rules[?sobject=X] -> {removed}            (the admin deactivates them)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, request_json
from sandbox.salesforce import ids, writes
from sandbox.salesforce.calls import record_json
from sandbox.salesforce.oauth import APP_SCOPES, base_url
from sandbox.salesforce.seed import seed as seed_rows
from sandbox.salesforce.state import RECORD_SOBJECTS, SfOrg, format_sf_datetime, parse_sf_datetime
from sandbox.salesforce.validation import ApiError, ValidationRule

if TYPE_CHECKING:
    from sandbox.state import SandboxState

DEFAULT_USERS = (
    {"first_name": "Avery", "last_name": "Admin", "email": "admin@{domain}.leadline.test", "title": "Administrator"},
    {"first_name": "Sasha", "last_name": "Staff", "email": "sasha@{domain}.leadline.test", "title": "Front Desk"},
    {"first_name": "Toni", "last_name": "Trainer", "email": "toni@{domain}.leadline.test", "title": "Coach"},
)
ORG_SETTINGS = (
    "rotation",
    "daily_api_requests",
    "api_usage",
    "callout_url",
    "long_requests_max",
    "callout_retries",
    "callout_retry_seconds",
    "slow_seconds",
    "client_credentials_user",
    "redirect_uris",
    "drop_fields",
)


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def _org(sandbox: SandboxState, org_id: str) -> SfOrg | Response:
    org = sandbox.salesforce.org(org_id)
    return org if org is not None else _bad(f"no Salesforce org {org_id}", 404)


def _body(request: Request) -> dict[str, Any] | Response:
    body = request_json(request)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return _bad("the body is a JSON object")
    return body


def _sobject(org: SfOrg, name: str) -> str | Response:
    store = org.store(name)
    if store is None:
        return _bad(f"unknown sObject {name!r}; use one of {sorted(org.stores)}", 404)
    return store.sobject


def _org_answer(org: SfOrg, request: Request) -> dict[str, Any]:
    return org.as_dict(base_url(request))


def orgs(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "GET":
        return json_response([_org_answer(org, request) for org in sandbox.salesforce.orgs.values()])
    body = _body(request)
    if isinstance(body, Response):
        return body
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return _bad("an org needs a name")
    domain = "".join(char for char in name.lower() if char.isalnum())[:20] or "org"
    users = body.get("users") or [
        {key: value.format(domain=domain) for key, value in spec.items()} for spec in DEFAULT_USERS
    ]
    if not isinstance(users, list) or not all(isinstance(user, dict) and user.get("email") for user in users):
        return _bad("users is a list of {first_name, last_name, email}")
    instance_url = None
    if body.get("instance_host"):
        port = request.host.rsplit(":", 1)[1] if ":" in request.host else ""
        instance_url = f"{request.scheme}://{body['instance_host']}{':' + port if port else ''}"
    redirect_uris = body.get("redirect_uris") or []
    if not isinstance(redirect_uris, list):
        return _bad("redirect_uris is a list of URLs")
    try:
        with sandbox.lock:
            org = sandbox.salesforce.create_org(
                name=name.strip(),
                users=users,
                redirect_uris=redirect_uris,
                rotation=body.get("rotation"),
                instance_url=instance_url,
                my_domain=body.get("my_domain"),
                is_sandbox=bool(body.get("is_sandbox")),
                client_id=body.get("client_id"),
                client_secret=body.get("client_secret"),
            )
            if body.get("daily_api_requests"):
                org.daily_api_requests = int(body["daily_api_requests"])
            if body.get("client_credentials"):
                org.app.client_credentials_user = org.admin_user_id
            grant = sandbox.salesforce.new_grant(org, org.admin_user_id, APP_SCOPES)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    answer = _org_answer(org, request)
    answer["refresh_token"] = grant.refresh_token
    return json_response(answer, 201)


def org_detail(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    if request.method == "PATCH":
        body = _body(request)
        if isinstance(body, Response):
            return body
        unknown = sorted(set(body) - set(ORG_SETTINGS))
        if unknown:
            return _bad(f"unknown org settings {unknown}; use {list(ORG_SETTINGS)}")
        try:
            _apply_settings(org, body)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    return json_response(_org_answer(org, request))


def _apply_settings(org: SfOrg, body: dict[str, Any]) -> None:
    if "rotation" in body:
        org.app.rotation = None if body["rotation"] is None else bool(body["rotation"])
    if "daily_api_requests" in body:
        org.daily_api_requests = int(body["daily_api_requests"]) if body["daily_api_requests"] else None
    if "api_usage" in body:
        org.set_api_usage(int(body["api_usage"]))
    if "callout_url" in body:
        org.callout_url = body["callout_url"] or None
    if "long_requests_max" in body:
        org.long_requests_max = int(body["long_requests_max"]) if body["long_requests_max"] else None
    if "callout_retries" in body:
        org.callout_retries = int(body["callout_retries"])
    if "callout_retry_seconds" in body:
        org.callout_retry_seconds = float(body["callout_retry_seconds"])
    if "slow_seconds" in body:
        org.slow_seconds = float(body["slow_seconds"])
    if "client_credentials_user" in body:
        user = body["client_credentials_user"]
        if user and org.user(user) is None:
            raise ValueError(f"no user {user} in the org")
        org.app.client_credentials_user = ids.normalize(user) if user else None
    if "redirect_uris" in body:
        org.app.redirect_uris = list(body["redirect_uris"])
    for sobject, names in (body.get("drop_fields") or {}).items():
        schema = org.schema.get(sobject)
        if schema is None:
            raise ValueError(f"unknown sObject {sobject}")
        for name in names:
            if not schema.drop(name):
                raise ValueError(f"no field {name} on {sobject}")


def grants(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    body = _body(request)
    if isinstance(body, Response):
        return body
    user = org.user(body.get("user_id") or org.admin_user_id)
    if user is None:
        return _bad(f"no user {body.get('user_id')} in the org")
    grant = sandbox.salesforce.new_grant(org, user["Id"], APP_SCOPES)
    return json_response({"refresh_token": grant.refresh_token, "user_id": user["Id"]}, 201)


def seed(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    body = _body(request)
    if isinstance(body, Response):
        return body
    sobject = _sobject(org, str(body.get("sobject") or "Lead"))
    if isinstance(sobject, Response):
        return sobject
    try:
        count = int(body.get("count", 0))
        made = seed_rows(org, sobject, count, seed=int(body.get("seed", sandbox.seed)))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return json_response({"ids": made}, 201)


def records(sandbox: SandboxState, request: Request, org_id: str, sobject: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    name = _sobject(org, sobject)
    if isinstance(name, Response):
        return name
    if request.method == "GET":
        return _list(org, name, request)
    body = _body(request)
    if isinstance(body, Response):
        return body
    if name not in RECORD_SOBJECTS:
        return _bad(f"{name} rows are not written here")
    if request.method == "POST":
        return _create(org, name, body)
    return _patch(org, name, body)


def _create(org: SfOrg, sobject: str, body: dict[str, Any]) -> Response:
    rows = body.get("records")
    if not isinstance(rows, list):
        return _bad("records is a list of field maps")
    user = org.user(body.get("user_id") or org.admin_user_id)
    if user is None:
        return _bad("no such user")
    made = []
    try:
        for row in rows:
            made.append(writes.create(org, sobject, row, user_id=user["Id"], trusted=True)["Id"])
    except ApiError as error:
        return json_response(
            {"error": error.message, "errorCode": error.code, "fields": error.fields, "ids": made}, 400
        )
    return json_response({"ids": made}, 201)


def _patch(org: SfOrg, sobject: str, body: dict[str, Any]) -> Response:
    wanted = body.get("ids")
    values = body.get("values") or {}
    if not isinstance(wanted, list) or not isinstance(values, dict):
        return _bad("the body is {ids: [...], values: {...}, stamp?, late_seconds?, silent?}")
    silent = bool(body.get("silent"))
    try:
        if body.get("stamp"):
            at = parse_sf_datetime(str(body["stamp"]))
        elif body.get("late_seconds") is not None:
            at = org.now() - timedelta(seconds=float(body["late_seconds"]))
        else:
            at = org.now()
    except (ValueError, TypeError) as exc:
        return _bad(f"bad stamp: {exc}")
    user = org.user(body.get("user_id") or org.admin_user_id)
    with org.sandbox.lock:
        try:
            for record_id in wanted:
                writes.update(org, sobject, record_id, values, user_id=user["Id"], trusted=True, at=at, bump=not silent)
        except ApiError as error:
            return json_response({"error": error.message, "errorCode": error.code, "fields": error.fields}, 400)
    return json_response({"stamp": None if silent else format_sf_datetime(at), "ids": wanted})


def _shown(org: SfOrg, sobject: str, record: dict[str, Any]) -> dict[str, Any]:
    shown = record_json(org, sobject, record)
    shown["IsDeleted"] = bool(record.get("IsDeleted"))
    shown["_last_client"] = record.get("_last_client")
    return shown


def _list(org: SfOrg, sobject: str, request: Request) -> Response:
    """Rows whose fields equal the query's `<Field>=<value>` pairs, oldest first (`order=newest`: newest first),
    at most `limit`; deleted ones only with `include_deleted`."""
    include_deleted = request.args.get("include_deleted", "").lower() in ("1", "true")
    newest_first = request.args.get("order", "oldest") == "newest"
    try:
        limit = int(request.args["limit"]) if request.args.get("limit") else None
    except ValueError:
        return _bad("limit is a number")
    filters = []
    for key, value in request.args.items():
        if key in ("include_deleted", "order", "limit"):
            continue
        meta = org.schema[sobject].field(key)
        if meta is None:
            return _bad(f"no field {key} on {sobject}")
        wanted = ids.normalize(value) if meta["type"] in ("reference", "id") else value
        filters.append((meta["name"], wanted or value))
    store = org.stores[sobject]
    with store.lock:
        candidates = None
        if not include_deleted:
            for name, value in filters:  # a reference (e.g. WhoId) narrows through its lookup index
                if name != "Id" and org.schema[sobject].field(name)["type"] == "reference":
                    candidates = store.lookup(name, value)
                    break
        if candidates is None:
            candidates = list(store.records.values())
        rows = [
            row
            for row in candidates
            if (include_deleted or not row.get("IsDeleted"))
            and all(str(row.get(name)) == str(value) for name, value in filters)
        ]
        rows.sort(key=lambda row: (row.get("CreatedDate") or "", row["Id"]), reverse=newest_first)
        found = [_shown(org, sobject, row) for row in rows[:limit]]
    return json_response(found)


def record(sandbox: SandboxState, request: Request, org_id: str, sobject: str, record_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    name = _sobject(org, sobject)
    if isinstance(name, Response):
        return name
    normalized = ids.normalize(record_id)
    row = org.stores[name].get(normalized) if normalized else None
    if row is None:
        return _bad(f"no {name} {record_id}", 404)
    if request.method == "DELETE":
        if row.get("IsDeleted"):
            return _bad(f"{name} {record_id} is already deleted", 409)
        deleted = writes.delete(org, name, row["Id"])
        return json_response({"id": deleted["Id"], "deletedDate": deleted["SystemModstamp"]})
    return json_response(_shown(org, name, row))


def convert(sandbox: SandboxState, request: Request, org_id: str, lead_id: str) -> Response:
    """Lead Convert as a person does it: an Account and a Contact (and an Opportunity unless told not to) made
    from the lead, which becomes IsConverted with Status "Closed - Converted" and the Converted* ids."""
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    body = _body(request)
    if isinstance(body, Response):
        return body
    try:
        with sandbox.lock:
            lead = writes.live_record(org, "Lead", lead_id)
            if lead.get("IsConverted"):
                return _bad("the lead is converted already", 409)
            owner = lead.get("OwnerId") or org.admin_user_id
            account = writes.create(
                org,
                "Account",
                {"Name": lead.get("Company") or lead["LastName"], "Phone": lead.get("Phone")},
                user_id=owner,
                trusted=True,
            )
            contact = writes.create(
                org,
                "Contact",
                {
                    "FirstName": lead.get("FirstName"),
                    "LastName": lead["LastName"],
                    "Email": lead.get("Email"),
                    "Phone": lead.get("Phone"),
                    "MobilePhone": lead.get("MobilePhone"),
                    "AccountId": account["Id"],
                    "LeadSource": lead.get("LeadSource"),
                    "SMS_Opt_Out__c": bool(lead.get("SMS_Opt_Out__c")),
                    "OwnerId": owner,
                },
                user_id=owner,
                trusted=True,
            )
            opportunity = None
            if body.get("opportunity", True):
                opportunity = writes.create(
                    org,
                    "Opportunity",
                    {
                        "Name": f"{lead.get('Name') or lead['LastName']} membership",
                        "AccountId": account["Id"],
                        "ContactId": contact["Id"],
                        "StageName": "Prospecting",
                        "CloseDate": (org.now() + timedelta(days=30)).date().isoformat(),
                        "OwnerId": owner,
                    },
                    user_id=owner,
                    trusted=True,
                )
            writes.update(
                org,
                "Lead",
                lead["Id"],
                {
                    "IsConverted": True,
                    "Status": "Closed - Converted",
                    "ConvertedDate": org.now().date().isoformat(),
                    "ConvertedAccountId": account["Id"],
                    "ConvertedContactId": contact["Id"],
                    "ConvertedOpportunityId": opportunity["Id"] if opportunity else None,
                },
                user_id=owner,
                trusted=True,
            )
    except ApiError as error:
        return json_response({"error": error.message, "errorCode": error.code}, 400)
    return json_response(
        {
            "account_id": account["Id"],
            "contact_id": contact["Id"],
            "opportunity_id": opportunity["Id"] if opportunity else None,
        }
    )


def revoke(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    body = _body(request)
    if isinstance(body, Response):
        return body
    what = body.get("what")
    with sandbox.lock:
        if what == "sessions":
            return json_response({"ended_sessions": org.end_sessions(reason="revoked"), "revoked_grants": 0})
        if what == "grant":
            token = body.get("refresh_token")
            chosen = [
                grant
                for grant in org.grants.values()
                if grant.alive and (not token or grant.refresh_token == token or token in grant.retired)
            ]
            ended = sum(
                sum(1 for session in org.sessions.values() if session.alive and session.grant_id == grant.id)
                for grant in chosen
            )
            for grant in chosen:
                sandbox.salesforce.revoke_grant(org, grant)
            return json_response({"ended_sessions": ended, "revoked_grants": len(chosen)})
    return _bad('what is "sessions" or "grant"')


def purge(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    body = _body(request)
    if isinstance(body, Response):
        return body
    try:
        before = parse_sf_datetime(str(body["before"])) if body.get("before") else org.now()
    except ValueError as exc:
        return _bad(f"bad before: {exc}")
    with sandbox.lock:
        purged = org.purge_deleted(before)
    return json_response(
        {"purged": purged, "earliest_deleted_available": format_sf_datetime(org.earliest_deleted_available)}
    )


def validation_rules(sandbox: SandboxState, request: Request, org_id: str) -> Response:
    org = _org(sandbox, org_id)
    if isinstance(org, Response):
        return org
    if request.method == "DELETE":
        wanted = request.args.get("sobject")
        store = org.store(wanted) if wanted else None
        if wanted and store is None:
            return _bad(f"unknown sObject {wanted!r}", 404)
        with sandbox.lock:
            chosen = [store.sobject] if store is not None else list(org.validation_rules)
            removed = sum(len(org.validation_rules.pop(sobject, [])) for sobject in chosen)
        return json_response({"removed": removed})
    if request.method == "GET":
        rules = [rule.as_dict() for sobject_rules in org.validation_rules.values() for rule in sobject_rules]
        return json_response(rules)
    body = _body(request)
    if isinstance(body, Response):
        return body
    sobject = _sobject(org, str(body.get("sobject") or ""))
    if isinstance(sobject, Response):
        return sobject
    meta = org.schema[sobject].field(str(body.get("field") or ""))
    if meta is None:
        return _bad(f"no field {body.get('field')!r} on {sobject}")
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        return _bad("a validation rule needs the error message people see")
    with sandbox.lock:
        rules = org.validation_rules.setdefault(sobject, [])
        name = str(body.get("name") or f"Leadline_Test_Rule_{len(rules) + 1}")
        rule = ValidationRule(name=name, sobject=sobject, field=meta["name"], message=message.strip())
        rules.append(rule)
    return json_response(rule.as_dict(), 201)


PREFIX = "/_sandbox/salesforce/orgs"
CONTROL_ROUTES = [
    (PREFIX, ["GET", "POST"], orgs),
    (f"{PREFIX}/<org_id>", ["GET", "PATCH"], org_detail),
    (f"{PREFIX}/<org_id>/grants", ["POST"], grants),
    (f"{PREFIX}/<org_id>/seed", ["POST"], seed),
    (f"{PREFIX}/<org_id>/records/<sobject>", ["GET", "POST", "PATCH"], records),
    (f"{PREFIX}/<org_id>/records/<sobject>/<record_id>", ["GET", "DELETE"], record),
    (f"{PREFIX}/<org_id>/leads/<lead_id>/convert", ["POST"], convert),
    (f"{PREFIX}/<org_id>/revoke", ["POST"], revoke),
    (f"{PREFIX}/<org_id>/deleted-log/purge", ["POST"], purge),
    (f"{PREFIX}/<org_id>/validation-rules", ["GET", "POST", "DELETE"], validation_rules),
]
