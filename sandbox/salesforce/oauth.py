"""The login host: OAuth 2.0 web server flow, refresh, client credentials, revoke, OpenID userinfo and the
identity URLs (`/services/oauth2/...`, `/id/<org id>/<user id>`).

- `GET /services/oauth2/authorize?response_type=code&client_id&redirect_uri&state[&scope][&code_challenge]`: a
  consent page listing the org's users; `&_sandbox_user=<user id>` approves as that user and 302s to
  `redirect_uri?code=...&state=...` (`&_sandbox_deny=1` answers error=access_denied). Codes live 15 minutes and
  work once. Without `scope`, every scope of the app is granted (api refresh_token id openid web).
- `POST /services/oauth2/token` (form): `authorization_code` (code, redirect_uri, client_id, client_secret or
  code_verifier), `refresh_token` (refresh_token, client_id[, client_secret]) and `client_credentials` (when the
  org's app names a run-as user). Success: {access_token, refresh_token?, signature, scope, id_token?,
  instance_url, id, token_type: "Bearer", issued_at (ms text)}. A refresh token comes only from a code exchange
  whose scopes include refresh_token, and again at a refresh only with rotation, which retires the previous one
  (reusing it: invalid_grant "expired access/refresh token"). A refresh ends the grant's earlier sessions when
  rotating, and otherwise when `sf_refresh_ends_session` (UNCONFIRMED without rotation).
  Errors: 400 {"error", "error_description"}: invalid_request "grant type is missing", unsupported_grant_type
  "grant type not supported", invalid_client_id "client identifier invalid", invalid_client "invalid client
  credentials", invalid_grant "authorization code expired" / "expired access/refresh token" / "redirect_uri must
  match configuration" / "invalid code verifier" / "no client credentials user enabled" (fact sheet §1.1).
- `POST|GET /services/oauth2/revoke?token=`: an access token ends its session; a refresh token ends the grant
  and all its sessions. 200 with no body; 400 {"error":"unsupported_token_type"} for an unknown token.
- `GET /services/oauth2/userinfo` (Bearer): OpenID Connect claims; 403 "Bad_OAuth_Token" for a bad token.
- `GET /id/<org id>/<user id>` (Bearer or ?oauth_token=): the identity service's JSON; 403 Bad_OAuth_Token / Bad_Id.

The `id` and `sub` URLs name the login host the call came to; `instance_url` is the org's own when it has one,
else the sandbox's base URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response
from sandbox.salesforce import ids
from sandbox.salesforce.calls import bearer_token
from sandbox.salesforce.state import AuthCode, Session, SfOrg, format_sf_datetime

if TYPE_CHECKING:
    from sandbox.state import SandboxState

APP_SCOPES = ("api", "refresh_token", "id", "openid", "web")
CODE_TTL_SECONDS = 15 * 60
ODD_SCOPES = ("full", "offline_access")  # accepted; offline_access is refresh_token's OpenID name


def base_url(request: Request) -> str:
    return request.host_url.rstrip("/")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _params(request: Request) -> dict[str, str]:
    params = dict(request.args.items())
    params.update(request.form.items())
    return params


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return json_response({"error": error, "error_description": description}, status)


# --- authorize -----------------------------------------------------------------------------------------------
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;color:#222}}
.card{{border:1px solid #ddd;border-radius:8px;padding:1.5rem}} button{{margin:.25rem 0;padding:.5rem 1rem}}
.error{{color:#b00020}} code{{background:#f4f4f4;padding:0 .25rem}}</style></head>
<body><div class="card">{body}</div></body></html>"""


def error_page(code: str, message: str) -> Response:
    body = (
        f'<h1 class="error" data-error="{html.escape(code)}">{html.escape(message)}</h1>'
        f"<p>Salesforce login (sandbox) could not continue: <code>{html.escape(code)}</code></p>"
    )
    return Response(_PAGE.format(title="Salesforce: error", body=body), status=400, mimetype="text/html")


def consent_page(org: SfOrg, request: Request, scopes: tuple[str, ...]) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in request.args.items(multi=True)
        if not key.startswith("_sandbox")
    )
    choices = "".join(
        f'<form method="get" action="/services/oauth2/authorize">{hidden}'
        f'<button name="_sandbox_user" value="{html.escape(user["Id"])}">Allow as {html.escape(user["Name"])} '
        f"&lt;{html.escape(user['Email'])}&gt;</button></form>"
        for user in org.users.values()
        if user.get("IsActive")
    )
    scope_items = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in scopes)
    deny = (
        f'<form method="get" action="/services/oauth2/authorize">{hidden}'
        '<button name="_sandbox_deny" value="1">Deny</button></form>'
    )
    body = (
        f"<h1>Allow Access?</h1><p>{html.escape(org.app.name)} is asking to access {html.escape(org.name)} "
        f"(Salesforce sandbox org <code>{org.org_id}</code>):</p><ul>{scope_items}</ul>{choices}{deny}"
    )
    return Response(_PAGE.format(title="Salesforce: Allow Access?", body=body), mimetype="text/html")


def _scopes(text: str | None) -> tuple[str, ...]:
    if not text:
        return APP_SCOPES
    found = []
    for scope in text.replace(",", " ").split():
        scope = "refresh_token" if scope == "offline_access" else scope
        if scope not in found:
            found.append(scope)
    return tuple(found)


def authorize(sandbox: SandboxState, request: Request) -> Response:
    params = _params(request)
    org = sandbox.salesforce.org_of_client(params.get("client_id"))
    if org is None:
        return error_page("invalid_client_id", "client identifier invalid")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in org.app.redirect_uris:
        return error_page("redirect_uri_mismatch", "redirect_uri must match configuration")
    state = {"state": params["state"]} if "state" in params else {}
    if params.get("response_type") != "code":
        return _redirect(
            _with_query(
                redirect_uri,
                {"error": "unsupported_response_type", "error_description": "response type not supported", **state},
            )
        )
    scopes = _scopes(params.get("scope"))
    unknown = [scope for scope in scopes if scope not in APP_SCOPES and scope not in ODD_SCOPES]
    if unknown:
        return _redirect(
            _with_query(
                redirect_uri,
                {"error": "invalid_scope", "error_description": "the requested scope is not allowed", **state},
            )
        )
    if params.get("_sandbox_deny"):
        return _redirect(
            _with_query(
                redirect_uri, {"error": "access_denied", "error_description": "end-user denied authorization", **state}
            )
        )
    user_id = params.get("_sandbox_user")
    if not user_id:
        return consent_page(org, request, scopes)
    user = org.user(user_id)
    if user is None or not user.get("IsActive"):
        return error_page("invalid_user", f"no active user {user_id} in {org.name}")
    code = AuthCode(
        code=f"aPrx{secrets.token_urlsafe(60)[:80]}",
        org_id=org.org_id,
        user_id=user["Id"],
        client_id=org.app.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        expires=sandbox.clock.timestamp() + CODE_TTL_SECONDS,
        code_challenge=params.get("code_challenge") or None,
        code_challenge_method=params.get("code_challenge_method") or ("S256" if params.get("code_challenge") else None),
        nonce=params.get("nonce") or None,
    )
    sandbox.salesforce.codes[code.code] = code
    return _redirect(_with_query(redirect_uri, {"code": code.code, **state}))


def _redirect(url: str) -> Response:
    return Response(status=302, headers={"Location": url})


# --- token ---------------------------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_url(request: Request, org: SfOrg, user_id: str) -> str:
    return f"{base_url(request)}/id/{org.org_id}/{user_id}"


def instance_url_of(org: SfOrg, request: Request) -> str:
    return org.instance_url or base_url(request)


def id_token(request: Request, org: SfOrg, session: Session, *, nonce: str | None, issued: int) -> str:
    """An OpenID Connect id_token (signed with the client secret, HS256: the emulator has no key pair)."""
    user = org.users[session.user_id]
    header = {"alg": "HS256", "typ": "JWT", "kid": "sandbox"}
    claims: dict[str, Any] = {
        "iss": base_url(request),
        "sub": id_url(request, org, session.user_id),
        "aud": org.app.client_id,
        "iat": issued,
        "exp": issued + 300,
        "at_hash": _b64url(hashlib.sha256(session.token.encode()).digest()[:16]),
        "email": user["Email"],
        "name": user["Name"],
        "organization_id": org.org_id,
        "user_id": session.user_id,
    }
    if nonce:
        claims["nonce"] = nonce
    signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(org.app.client_secret.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64url(signature)}"


def token_body(
    request: Request,
    org: SfOrg,
    session: Session,
    *,
    refresh_token: str | None,
    nonce: str | None = None,
) -> dict[str, Any]:
    issued_ms = int(org.sandbox.clock.timestamp() * 1000)
    identity = id_url(request, org, session.user_id)
    signature = hmac.new(org.app.client_secret.encode(), f"{identity}{issued_ms}".encode(), hashlib.sha256).digest()
    body: dict[str, Any] = {"access_token": session.token}
    if refresh_token:
        body["refresh_token"] = refresh_token
    body["signature"] = base64.b64encode(signature).decode()
    body["scope"] = " ".join(session.scopes)
    if "openid" in session.scopes:
        body["id_token"] = id_token(request, org, session, nonce=nonce, issued=issued_ms // 1000)
    body.update(
        {
            "instance_url": instance_url_of(org, request),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": str(issued_ms),
        }
    )
    return body


def _check_secret(org: SfOrg, params: dict[str, str], *, required: bool) -> Response | None:
    secret = params.get("client_secret")
    if secret is None and not required:
        return None
    if not hmac.compare_digest(str(secret or ""), org.app.client_secret):
        return oauth_error("invalid_client", "invalid client credentials")
    return None


def token(sandbox: SandboxState, request: Request) -> Response:
    params = _params(request)
    grant_type = params.get("grant_type")
    if not grant_type:
        return oauth_error("invalid_request", "grant type is missing")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        return oauth_error("unsupported_grant_type", "grant type not supported")
    sf = sandbox.salesforce
    org = sf.org_of_client(params.get("client_id"))
    if org is None:
        return oauth_error("invalid_client_id", "client identifier invalid")
    with sandbox.lock:
        if grant_type == "authorization_code":
            return _exchange_code(sandbox, request, org, params)
        if grant_type == "refresh_token":
            return _refresh(sandbox, request, org, params)
        return _client_credentials(sandbox, request, org, params)


def _exchange_code(sandbox: SandboxState, request: Request, org: SfOrg, params: dict[str, str]) -> Response:
    sf = sandbox.salesforce
    code = sf.codes.get(params.get("code", ""))
    verifier = params.get("code_verifier")
    refused = _check_secret(org, params, required=not (code and code.code_challenge and verifier))
    if refused:
        return refused
    if code is None or code.client_id != org.app.client_id:
        return oauth_error("invalid_grant", "invalid authorization code")
    if sandbox.clock.timestamp() >= code.expires:
        sf.codes.pop(code.code, None)
        return oauth_error("invalid_grant", "authorization code expired")
    if params.get("redirect_uri") != code.redirect_uri:
        return oauth_error("invalid_grant", "redirect_uri must match configuration")
    if code.code_challenge:
        if code.code_challenge_method == "plain":
            expected = verifier or ""
        else:
            expected = _b64url(hashlib.sha256((verifier or "").encode()).digest())
        if not verifier or not hmac.compare_digest(expected, code.code_challenge):
            return oauth_error("invalid_grant", "invalid code verifier")
    sf.codes.pop(code.code, None)  # a code works once
    grant = sf.new_grant(org, code.user_id, code.scopes) if "refresh_token" in code.scopes else None
    session = sf.new_session(org, code.user_id, grant=grant, scopes=code.scopes)
    sandbox.counters[f"salesforce.token:authorization_code:{org.org_id}"] += 1
    return json_response(
        token_body(request, org, session, refresh_token=grant.refresh_token if grant else None, nonce=code.nonce)
    )


def _refresh(sandbox: SandboxState, request: Request, org: SfOrg, params: dict[str, str]) -> Response:
    sf = sandbox.salesforce
    refused = _check_secret(org, params, required=False)
    if refused:
        return refused
    found = sf.org_of_refresh_token(params.get("refresh_token"))
    if found is None or found[0] is not org:
        sandbox.counters[f"salesforce.token:invalid_grant:{org.org_id}"] += 1
        return oauth_error("invalid_grant", "expired access/refresh token")
    grant = found[1]
    rotate = org.rotation
    if rotate or sandbox.config.sf_refresh_ends_session:
        org.end_sessions(grant_id=grant.id, reason="refreshed")
    new_refresh = sf.rotate(org, grant) if rotate else None
    session = sf.new_session(org, grant.user_id, grant=grant, scopes=grant.scopes)
    sandbox.counters[f"salesforce.token:refresh_token:{org.org_id}"] += 1
    return json_response(token_body(request, org, session, refresh_token=new_refresh))


def _client_credentials(sandbox: SandboxState, request: Request, org: SfOrg, params: dict[str, str]) -> Response:
    refused = _check_secret(org, params, required=True)
    if refused:
        return refused
    user = org.user(org.app.client_credentials_user)
    if user is None:
        return oauth_error("invalid_grant", "no client credentials user enabled")
    scopes = tuple(scope for scope in APP_SCOPES if scope not in ("refresh_token", "openid"))
    session = sandbox.salesforce.new_session(org, user["Id"], grant=None, scopes=scopes)
    sandbox.counters[f"salesforce.token:client_credentials:{org.org_id}"] += 1
    return json_response(token_body(request, org, session, refresh_token=None))


# --- revoke --------------------------------------------------------------------------------------------------
def revoke(sandbox: SandboxState, request: Request) -> Response:
    token_value = _params(request).get("token", "")
    sf = sandbox.salesforce
    with sandbox.lock:
        grant_found = sf.org_of_refresh_token(token_value)
        if grant_found is not None:
            org, grant = grant_found
            sf.revoke_grant(org, grant)
            return Response(status=200)
        session_found = sf.org_of_token(token_value, touch=False)
        if session_found is not None:
            session_found[1].alive = False
            session_found[1].ended_reason = "revoked"
            return Response(status=200)
    return oauth_error("unsupported_token_type", "this token type is not supported")


# --- identity ------------------------------------------------------------------------------------------------
def _forbidden(text: str) -> Response:
    return Response(text, status=403, mimetype="text/plain")


def userinfo(sandbox: SandboxState, request: Request) -> Response:
    found = sandbox.salesforce.org_of_token(bearer_token(request))
    if found is None:
        return _forbidden("Bad_OAuth_Token")
    org, session = found
    user = org.users[session.user_id]
    identity = identity_json(request, org, user)
    claims = {
        "sub": identity["id"],
        "user_id": user["Id"],
        "organization_id": org.org_id,
        "preferred_username": user["Username"],
        "nickname": identity["nick_name"],
        "name": user["Name"],
        "email": user["Email"],
        "email_verified": True,
        "given_name": user.get("FirstName"),
        "family_name": user["LastName"],
        "zoneinfo": user["TimeZoneSidKey"],
        "photos": identity["photos"],
        "profile": f"{instance_url_of(org, request)}/{user['Id']}",
        "picture": identity["photos"]["picture"],
        "address": {"country": "US"},
        "is_salesforce_integration_user": False,
        "urls": identity["urls"],
        "active": bool(user.get("IsActive")),
        "user_type": "STANDARD",
        "language": user["LanguageLocaleKey"],
        "locale": user["LocaleSidKey"],
        "utcOffset": -28_800_000,
        "updated_at": identity["last_modified_date"],
        "is_app_installed": True,
    }
    return json_response(claims)


def identity_json(request: Request, org: SfOrg, user: dict[str, Any]) -> dict[str, Any]:
    instance = instance_url_of(org, request)
    data = f"{instance}/services/data/v{{version}}"
    return {
        "id": id_url(request, org, user["Id"]),
        "asserted_user": True,
        "user_id": user["Id"],
        "organization_id": org.org_id,
        "username": user["Username"],
        "nick_name": user["Username"].split("@")[0],
        "display_name": user["Name"],
        "email": user["Email"],
        "email_verified": True,
        "first_name": user.get("FirstName"),
        "last_name": user["LastName"],
        "timezone": user["TimeZoneSidKey"],
        "photos": {
            "picture": f"{instance}/profilephoto/005/F",
            "thumbnail": f"{instance}/profilephoto/005/T",
        },
        "addr_street": None,
        "addr_city": None,
        "addr_state": None,
        "addr_country": "US",
        "addr_zip": None,
        "mobile_phone": None,
        "mobile_phone_verified": False,
        "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None},
        "urls": {
            "enterprise": f"{instance}/services/Soap/c/{{version}}/{org.org_id[:15]}",
            "metadata": f"{instance}/services/Soap/m/{{version}}/{org.org_id[:15]}",
            "partner": f"{instance}/services/Soap/u/{{version}}/{org.org_id[:15]}",
            "rest": f"{data}/",
            "sobjects": f"{data}/sobjects/",
            "search": f"{data}/search/",
            "query": f"{data}/query/",
            "recent": f"{data}/recent/",
            "tooling_soap": f"{instance}/services/Soap/T/{{version}}/{org.org_id[:15]}",
            "tooling_rest": f"{data}/tooling/",
            "profile": f"{instance}/{user['Id']}",
            "feeds": f"{data}/chatter/feeds",
            "groups": f"{data}/chatter/groups",
            "users": f"{data}/chatter/users",
            "feed_items": f"{data}/chatter/feed-items",
            "feed_elements": f"{data}/chatter/feed-elements",
            "custom_domain": instance,
        },
        "active": bool(user.get("IsActive")),
        "user_type": "STANDARD",
        "language": user["LanguageLocaleKey"],
        "locale": user["LocaleSidKey"],
        "utcOffset": -28_800_000,
        "last_modified_date": user.get("LastModifiedDate") or format_sf_datetime(org.now()),
        "is_app_installed": True,
    }


def identity(sandbox: SandboxState, request: Request, org_id: str, user_id: str) -> Response:
    token_value = bearer_token(request) or request.args.get("oauth_token")
    found = sandbox.salesforce.org_of_token(token_value)
    if found is None:
        return _forbidden("Bad_OAuth_Token")
    org, _session = found
    if ids.normalize(org_id) != org.org_id:
        return _forbidden("Bad_Id")
    user = org.user(user_id)
    if user is None:
        return Response("Bad_Id", status=404, mimetype="text/plain")
    return json_response(identity_json(request, org, user))


ROUTES = [
    ("/services/oauth2/authorize", ["GET", "POST"], authorize),
    ("/services/oauth2/token", ["POST"], token),
    ("/services/oauth2/revoke", ["GET", "POST"], revoke),
    ("/services/oauth2/userinfo", ["GET", "POST"], userinfo),
    ("/id/<org_id>/<user_id>", ["GET", "POST"], identity),
]
