"""HubSpot OAuth: the consent page, the token endpoints (both shapes), token info and revocation.

- `GET /hubspot/oauth/authorize?client_id&redirect_uri&scope&optional_scope&state`: a page choosing the portal
  and the user who installs the app (`_sandbox_account=<portal id>:<user id>`);
  `&_sandbox_portal=<id>&_sandbox_user=<user id>` approves at once too (302 to
  `redirect_uri?code=...&state=...`; `&_sandbox_deny=1` sends `error=access_denied`). The scopes granted are
  `scope` plus `optional_scope`; an app registered with required scopes refuses a `scope` that lacks one, and a
  redirect URI not registered on the app is refused (an error page, no redirect). Codes work once, 10 minutes.
- `POST /hubspot/oauth/v1/token` (form): `grant_type=authorization_code` (client_id, client_secret,
  redirect_uri, code) or `refresh_token` (client_id, client_secret, refresh_token) -> {token_type: "bearer",
  refresh_token, access_token, expires_in} (snake_case; the refresh token never changes);
  `POST /hubspot/oauth/<YYYY-MM>/token` answers camelCase: {tokenType, refreshToken, accessToken, expiresIn, hubId,
  userId, scopes}. With `hs_legacy_sunsets`, the v1 endpoint answers 404 from 2027-02-16 on.
  Errors: 400 {status: BAD_AUTH_CODE | BAD_REFRESH_TOKEN | BAD_CLIENT_ID | BAD_CLIENT_SECRET |
  BAD_REDIRECT_URI | BAD_GRANT_TYPE, message, correlationId} plus the OAuth words {error: invalid_grant |
  invalid_client | unsupported_grant_type | invalid_request, error_description} (UNCONFIRMED which of the two a
  given HubSpot answer carries; clients read either).
- `GET /hubspot/oauth/v1/access-tokens/{token}` -> {token, user, hub_domain, scopes, hub_id, app_id, expires_in,
  user_id, token_type: "access"}; 404 for an unknown or revoked token, 401 EXPIRED_AUTHENTICATION once expired.
- `GET /hubspot/oauth/v1/refresh-tokens/{token}` -> {token, user, hub_domain, scopes, hub_id, client_id,
  user_id, token_type: "refresh"}; `DELETE` revokes it (204; its access tokens stop working too).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.hubspot.calls import (
    OAUTH_V1_SUNSET,
    PREFIX,
    correlation_id,
    date_versions,
    expired_authentication,
    hs_error,
    legacy_gone,
)
from sandbox.hubspot.pages import page
from sandbox.kit.http import json_response, no_content, request_json

if TYPE_CHECKING:
    from sandbox.hubspot.state import App, Portal, RefreshGrant
    from sandbox.state import SandboxState


def _redirect_to(url: str, params: dict[str, str]) -> Response:
    """302 to the app's redirect URL with the answer's parameters added to its own."""
    joiner = "&" if urlsplit(url).query else "?"
    return Response(status=302, headers={"Location": f"{url}{joiner}{urlencode(params)}"})


def _scopes(text: str | None) -> list[str]:
    return [part for part in (text or "").replace(",", " ").replace("+", " ").split() if part]


def error_page(code: str, message: str) -> Response:
    return page(
        "HubSpot: error",
        f'<h1 class="error" data-error="{html.escape(code)}">{html.escape(message)}</h1>'
        f"<p class=muted>The app could not be installed ({html.escape(code)}).</p>",
        400,
    )


def _accounts(sandbox: SandboxState) -> list[tuple[str, str]]:
    """(value "portal:user", label) for every user of every portal who can install the app."""
    found = []
    for portal in sandbox.hubspot.portals.values():
        for owner in portal.owners:
            if owner.get("userId") is not None and not owner.get("archived"):
                who = f"{owner.get('firstName', '')} {owner.get('lastName', '')} <{owner.get('email')}>".strip()
                found.append((f"{portal.portal_id}:{owner['userId']}", f"{portal.name} ({portal.portal_id}): {who}"))
    return found


def consent_page(sandbox: SandboxState, request: Request, app: App, scopes: list[str]) -> Response:
    """One form: the account (portal and user) to install into, Connect or Cancel; it comes back here."""
    kept = "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in request.args.items(multi=True)
        if not key.startswith("_sandbox")
    )
    options = "".join(
        f'<option value="{html.escape(value)}">{html.escape(label)}</option>' for value, label in _accounts(sandbox)
    )
    asked = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in scopes)
    body = (
        f"<h1>Connect {html.escape(app.name)} to HubSpot</h1><p>It asks for:</p><ul>{asked}</ul>"
        f'<form method="get" action="{PREFIX}/oauth/authorize">{kept}'
        f'<select name="_sandbox_account">{options}</select><br>'
        '<button name="_sandbox_go" value="1">Connect app</button> '
        '<button name="_sandbox_deny" value="1">Cancel</button></form>'
    )
    return page("HubSpot: choose an account", body)


def authorize(sandbox: SandboxState, request: Request) -> Response:
    args = request.args
    app = sandbox.hubspot.app_of_client(args.get("client_id"))
    if app is None:
        return error_page("BAD_CLIENT_ID", "The client_id is not one of a HubSpot app.")
    redirect_uri = args.get("redirect_uri") or ""
    if not redirect_uri or (app.redirect_uris and redirect_uri not in app.redirect_uris):
        return error_page("BAD_REDIRECT_URI", "The redirect_uri does not match the app's redirect URLs.")
    asked = _scopes(args.get("scope") or args.get("scopes"))
    missing = [scope for scope in app.scopes if scope not in asked]
    if missing:
        return error_page("SCOPE_MISMATCH", f"The app's required scopes were not all asked for: {', '.join(missing)}")
    scopes = list(dict.fromkeys(asked + _scopes(args.get("optional_scope") or args.get("optional_scopes"))))
    state_param = {"state": args["state"]} if "state" in args else {}
    if args.get("_sandbox_deny"):
        return _redirect_to(redirect_uri, {"error": "access_denied", **state_param})
    portal_id, _, user_id = (args.get("_sandbox_account") or "").partition(":")
    portal_id, user_id = portal_id or args.get("_sandbox_portal", ""), user_id or args.get("_sandbox_user", "")
    if not user_id:
        return consent_page(sandbox, request, app, scopes)
    portal = sandbox.hubspot.portal(portal_id) or next(iter(sandbox.hubspot.portals.values()), None)
    if portal is None:
        return error_page("NO_PORTAL", "There is no HubSpot account to install into.")
    owner = portal.owner(user_id, by_user=True)
    if owner is None:
        return error_page("BAD_USER", "That user is not in the chosen account.")
    code = sandbox.hubspot.new_code(app, portal, int(owner["userId"]), redirect_uri, tuple(scopes))
    return _redirect_to(redirect_uri, {"code": code.code, **state_param})


# --- tokens ----------------------------------------------------------------------------------------------------
def token_error(status_word: str, message: str, error: str, status: int = 400) -> Response:
    return json_response(
        {
            "status": status_word,
            "message": message,
            "correlationId": correlation_id(),
            "error": error,
            "error_description": message,
        },
        status,
    )


def _params(request: Request) -> dict[str, str]:
    params = dict(request.form.items())
    if not params:
        body = request_json(request)
        if isinstance(body, dict):
            params = {key: str(value) for key, value in body.items() if value is not None}
    return params


def _grant_for(sandbox: SandboxState, params: dict[str, str]) -> tuple[App, RefreshGrant] | Response:
    app = sandbox.hubspot.app_of_client(params.get("client_id"))
    if app is None:
        return token_error("BAD_CLIENT_ID", "missing or invalid client_id", "invalid_client")
    if params.get("client_secret") != app.client_secret:
        return token_error("BAD_CLIENT_SECRET", "missing or invalid client_secret", "invalid_client")
    kind = params.get("grant_type")
    if kind == "authorization_code":
        code = sandbox.hubspot.take_code(params.get("code", ""))
        if code is None or code.app_id != app.app_id:
            return token_error("BAD_AUTH_CODE", "missing or unknown auth code", "invalid_grant")
        if params.get("redirect_uri") != code.redirect_uri:
            return token_error("BAD_REDIRECT_URI", "redirect_uri does not match initial auth code URL", "invalid_grant")
        portal = sandbox.hubspot.portal(code.portal_id)
        if portal is None:  # the portal went away (a reset) between consent and exchange
            return token_error("BAD_AUTH_CODE", "missing or unknown auth code", "invalid_grant")
        return app, sandbox.hubspot.install(app, portal, code.user_id, code.scopes)
    if kind == "refresh_token":
        grant = sandbox.hubspot.grant(params.get("refresh_token"))
        if grant is None or grant.app_id != app.app_id:
            return token_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token", "invalid_grant")
        return app, grant
    if not kind:
        return token_error("BAD_GRANT_TYPE", "missing grant_type", "invalid_request")
    return token_error("BAD_GRANT_TYPE", f"unsupported grant_type {kind}", "unsupported_grant_type")


def _token(sandbox: SandboxState, request: Request, *, camel: bool) -> Response:
    found = _grant_for(sandbox, _params(request))
    if isinstance(found, Response):
        return found
    _, grant = found
    access = sandbox.hubspot.issue_access(grant)
    ttl = int(sandbox.config.hs_access_token_ttl_seconds)
    sandbox.counters[f"hubspot.tokens_issued:{grant.portal_id}"] += 1
    if camel:
        return json_response(
            {
                "tokenType": "bearer",
                "refreshToken": grant.token,
                "accessToken": access.token,
                "expiresIn": ttl,
                "hubId": grant.portal_id,
                "userId": grant.user_id,
                "scopes": list(grant.scopes),
            }
        )
    return json_response(
        {"token_type": "bearer", "refresh_token": grant.token, "access_token": access.token, "expires_in": ttl}
    )


def token_v1(sandbox: SandboxState, request: Request) -> Response:
    gone = legacy_gone(sandbox, OAUTH_V1_SUNSET)
    return gone if gone is not None else _token(sandbox, request, camel=False)


def token_dated(sandbox: SandboxState, request: Request, version: str) -> Response:
    if version not in date_versions(sandbox.config):
        return hs_error(404, "OBJECT_NOT_FOUND", f"API version {version} does not exist")
    return _token(sandbox, request, camel=True)


def _user_email(portal: Portal | None, user_id: int | None) -> str | None:
    owner = portal.owner(user_id, by_user=True) if portal is not None and user_id is not None else None
    return owner.get("email") if owner else None


def access_token_info(sandbox: SandboxState, request: Request, token: str) -> Response:
    found, status = sandbox.hubspot.token(token)
    if found is None:
        return hs_error(404, "OBJECT_NOT_FOUND", "The access token was not found or is no longer valid")
    if status == "expired":
        return expired_authentication(sandbox.clock.timestamp() - found.expires)
    portal = sandbox.hubspot.portal(found.portal_id)
    expires_in = found.expires - sandbox.clock.timestamp()
    return json_response(
        {
            "token": found.token,
            "user": _user_email(portal, found.user_id),
            "hub_domain": portal.domain if portal else None,
            "scopes": list(found.scopes),
            "hub_id": found.portal_id,
            "app_id": int(found.app_id) if found.app_id and found.app_id.isdigit() else found.app_id,
            "expires_in": int(expires_in) if expires_in != float("inf") else None,
            "user_id": found.user_id,
            "token_type": "access",
        }
    )


def refresh_token_info(sandbox: SandboxState, request: Request, token: str) -> Response:
    grant = sandbox.hubspot.grant(token)
    if grant is None:
        return hs_error(404, "OBJECT_NOT_FOUND", "The refresh token was not found or has been revoked")
    if request.method == "DELETE":
        sandbox.hubspot.revoke_refresh(token)
        return no_content()
    portal = sandbox.hubspot.portal(grant.portal_id)
    app = sandbox.hubspot.apps.get(grant.app_id)
    info: dict[str, Any] = {
        "token": grant.token,
        "user": _user_email(portal, grant.user_id),
        "hub_domain": portal.domain if portal else None,
        "scopes": list(grant.scopes),
        "hub_id": grant.portal_id,
        "client_id": app.client_id if app else None,
        "user_id": grant.user_id,
        "token_type": "refresh",
    }
    return json_response(info)


ROUTES = [
    (f"{PREFIX}/oauth/authorize", ["GET"], authorize),
    (f"{PREFIX}/oauth/v1/token", ["POST"], token_v1),
    (f"{PREFIX}/oauth/<version>/token", ["POST"], token_dated),
    (f"{PREFIX}/oauth/v1/access-tokens/<token>", ["GET"], access_token_info),
    (f"{PREFIX}/oauth/v1/refresh-tokens/<token>", ["GET", "DELETE"], refresh_token_info),
]
