"""Entra ID's pages for people and what they lead to: the sign-in page (`GET /<tenant>/oauth2/v2.0/authorize`:
pick a person of the tenant, or of every tenant for `organizations`/`common`; redirect with `code` and `state`),
the admin consent page (`GET /<tenant>/v2.0/adminconsent?client_id&scope&redirect_uri&state`: an admin grants
for their tenant -> `redirect_uri?admin_consent=True&tenant=<tid>&state&scope`; Cancel ->
`?error=access_denied&error_description=...&state`), and the token endpoint's authorization_code and
refresh_token grants (entra.py routes them here). Plain HTML forms a browser test may click.

Shortcuts for tests without a browser: `&_sandbox_user=<object id or user name>` signs in at once,
`&_sandbox_admin=<object id or user name>` consents at once, `&_sandbox_deny=1` declines either."""

from __future__ import annotations

import hashlib
import html
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.dynamics.entra import (
    GENERIC_TENANTS,
    GRAPH_APP_ID,
    client_info,
    entra_error,
    find_tenant,
    issue,
    issuer,
    pkce_ok,
    sign,
    unknown_app,
)

if TYPE_CHECKING:
    from sandbox.dynamics.state import EntraApp, Tenant, TenantUser
    from sandbox.state import SandboxState

_LOOK = (
    "body{font-family:'Segoe UI',system-ui,sans-serif;max-width:30rem;margin:3rem auto;color:#1b1b1b}"
    ".card{border:1px solid #ddd;padding:1.5rem 2rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}"
    "button{display:block;width:100%;text-align:left;padding:.6rem .8rem;margin:.4rem 0;background:#fff;"
    "border:1px solid #ccc;cursor:pointer}button.primary{background:#0067b8;color:#fff;text-align:center}"
    ".muted{color:#666;font-size:.9rem}.error{color:#a80000}"
)


def page(title: str, body: str, status: int = 200) -> Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{_LOOK}</style></head><body><div class="card"><p class="muted">Microsoft (Leadline sandbox)</p>'
        f"{body}</div></body></html>"
    )
    return Response(text, status=status, mimetype="text/html")


def error_page(code: int, message: str) -> Response:
    return page(
        "Sign in to your account",
        f'<h1>Sorry, but we\'re having trouble signing you in.</h1><p class="error">'
        f"AADSTS{code}: {html.escape(message)}</p>",
        400,
    )


def redirect(url: str, params: dict[str, str]) -> Response:
    joiner = "&" if urlsplit(url).query else "?"
    return Response(status=302, headers={"Location": f"{url}{joiner}{urlencode(params)}"})


def hidden(params: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in params.items()
        if not name.startswith("_sandbox_")
    )


def tenants_for(sandbox: SandboxState, tenant: str) -> list[Tenant] | None:
    if tenant in GENERIC_TENANTS:
        return list(sandbox.dynamics.tenants.values())
    found = find_tenant(sandbox.dynamics, tenant)
    return [found] if found else None


def find_person(tenants: list[Tenant], wanted: str) -> tuple[Tenant, TenantUser] | None:
    for tenant in tenants:
        for user in tenant.users.values():
            if wanted.lower() in (user.object_id.lower(), user.username.lower()):
                return tenant, user
    return None


def redirect_allowed(app: EntraApp, redirect_uri: str) -> bool:
    return bool(redirect_uri) and (not app.redirect_uris or redirect_uri in app.redirect_uris)


def requested_app(sandbox: SandboxState, params: dict[str, str]) -> EntraApp | Response:
    """The app a sign-in or consent request names, if its redirect_uri is one of the app's; else Entra's error
    page (a page, never a redirect: the redirect URI is not trusted yet)."""
    app = sandbox.dynamics.app(params.get("client_id"))
    if app is None:
        return error_page(700016, f"Application with identifier '{params.get('client_id', '')}' was not found.")
    if not redirect_allowed(app, params.get("redirect_uri", "")):
        return error_page(
            50011,
            "The redirect URI specified in the request does not match the redirect URIs "
            f"configured for the application '{app.client_id}'.",
        )
    return app


def declined(redirect_uri: str, state: str) -> Response:
    """Back to the app when the person (or admin) cancels."""
    return redirect(
        redirect_uri,
        {
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
            "state": state,
        },
    )


# --- sign-in ---------------------------------------------------------------------------------------------------
def authorize(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    params = {**request.args.to_dict(), **request.form.to_dict()}
    app = requested_app(sandbox, params)
    if isinstance(app, Response):
        return app
    redirect_uri = params["redirect_uri"]
    if params.get("response_type", "code") != "code":
        return error_page(700054, "response_type 'id_token' is not enabled for the application.")
    tenants = tenants_for(sandbox, tenant)
    if tenants is None:
        return error_page(90002, f"Tenant '{tenant}' not found.")
    state = params.get("state", "")
    if params.get("_sandbox_deny") or params.get("decision") == "cancel":
        return declined(redirect_uri, state)
    chosen = params.get("_sandbox_user") or params.get("person") or ""
    found = find_person(tenants, chosen) if chosen else None
    if found is None:
        return sign_in_page(app, params, tenants)
    person_tenant, person = found
    code = sandbox.dynamics.new_code(
        tenant_id=person_tenant.tenant_id,
        client_id=app.client_id,
        object_id=person.object_id,
        redirect_uri=redirect_uri,
        scopes=tuple(params.get("scope", "openid profile").split()),
        nonce=params.get("nonce", ""),
        code_challenge=params.get("code_challenge", ""),
        code_challenge_method=params.get("code_challenge_method", ""),
    )
    answer = {"code": code.code, "state": state, "session_state": secrets.token_hex(16)}
    if params.get("response_mode") == "form_post":
        fields = hidden(answer)
        return page(
            "Working...",
            f'<form method="post" action="{html.escape(redirect_uri)}">{fields}'
            '<button class="primary" type="submit">Continue</button></form>'
            "<script>document.forms[0].submit()</script>",
        )
    return redirect(redirect_uri, answer)


def sign_in_page(app: EntraApp, params: dict[str, str], tenants: list[Tenant]) -> Response:
    buttons = "".join(
        f'<button type="submit" name="person" value="{html.escape(user.object_id)}" data-username="'
        f'{html.escape(user.username)}">{html.escape(user.name)}<br><span class="muted">{html.escape(user.username)}'
        "</span></button>"
        for tenant in tenants
        for user in tenant.users.values()
    )
    body = (
        f"<h1>Pick an account</h1><p>to continue to {html.escape(app.name)}</p>"
        f'<form method="post">{hidden(params)}{buttons or "<p>No accounts in this directory.</p>"}'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return page("Sign in to your account", body)


# --- admin consent ---------------------------------------------------------------------------------------------
def admin_consent(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    params = {**request.args.to_dict(), **request.form.to_dict()}
    app = requested_app(sandbox, params)
    if isinstance(app, Response):
        return app
    redirect_uri = params["redirect_uri"]
    tenants = tenants_for(sandbox, tenant)
    if tenants is None:
        return error_page(90002, f"Tenant '{tenant}' not found.")
    state = params.get("state", "")
    if params.get("_sandbox_deny") or params.get("decision") == "cancel":
        return declined(redirect_uri, state)
    chosen = params.get("_sandbox_admin") or params.get("person") or ""
    found = find_person(tenants, chosen) if chosen else None
    if found is None:
        return consent_page(app, params, tenants)
    admin_tenant, admin = found
    if not admin.admin:
        return error_page(
            90094,
            f"{admin.username} needs permission to access resources in your organization "
            "that only an admin can grant. Please ask an admin to grant permission to this app.",
        )
    sandbox.dynamics.consent(admin_tenant.tenant_id, app.client_id)
    return redirect(
        redirect_uri,
        {"admin_consent": "True", "tenant": admin_tenant.tenant_id, "state": state, "scope": params.get("scope", "")},
    )


def consent_page(app: EntraApp, params: dict[str, str], tenants: list[Tenant]) -> Response:
    admins = "".join(
        f'<button type="submit" name="person" value="{html.escape(user.object_id)}" data-username="'
        f'{html.escape(user.username)}">Accept as {html.escape(user.name)} '
        f'<span class="muted">({html.escape(tenant.name)})</span></button>'
        for tenant in tenants
        for user in tenant.admins()
    )
    scope = html.escape(params.get("scope", ""))
    body = (
        f"<h1>Permissions requested</h1><p><b>{html.escape(app.name)}</b> (unverified sandbox app) wants to access "
        f"for your whole organization:</p><ul><li>{scope or 'the permissions it is configured with'}</li></ul>"
        f'<p class="muted">Accepting grants this for every user of your organization.</p>'
        f'<form method="post">{hidden(params)}{admins or "<p>No administrators in this directory.</p>"}'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return page("Permissions requested", body)


# --- the token endpoint's sign-in grants ---------------------------------------------------------------------------
def _refresh_tokens(sandbox: SandboxState) -> dict[str, dict[str, Any]]:
    return sandbox.dynamics.extra.setdefault("refresh_tokens", {})


def redeem_code(sandbox: SandboxState, request: Request, app: EntraApp) -> Response:
    code = sandbox.dynamics.take_code(request.form.get("code", ""))
    if code is None or code.client_id != app.client_id:
        return entra_error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has "
            "expired due to inactivity. Send a new interactive authorization request for this user "
            "and resource.",
        )
    if request.form.get("redirect_uri", "") != code.redirect_uri:
        return entra_error(
            400,
            "invalid_grant",
            70000,
            "The provided value for the 'redirect_uri' is not valid. "
            "The value must exactly match the redirect URI used to obtain the authorization code.",
        )
    if not pkce_ok(request.form.get("code_verifier", ""), code.code_challenge, code.code_challenge_method):
        return entra_error(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    return _user_tokens(sandbox, request, app, code.tenant_id, code.object_id, code.scopes, code.nonce)


def redeem_refresh(sandbox: SandboxState, request: Request, app: EntraApp) -> Response:
    grant = _refresh_tokens(sandbox).get(request.form.get("refresh_token", ""))
    if grant is None or grant["client_id"] != app.client_id:
        return entra_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    scopes = tuple(request.form.get("scope", "").split()) or grant["scopes"]
    return _user_tokens(sandbox, request, app, grant["tenant_id"], grant["object_id"], scopes, "")


def _user_tokens(
    sandbox: SandboxState,
    request: Request,
    app: EntraApp,
    tenant_id: str,
    object_id: str,
    scopes: tuple[str, ...],
    nonce: str,
) -> Response:
    dynamics = sandbox.dynamics
    tenant = dynamics.tenant(tenant_id)
    if tenant is None or object_id not in tenant.users:
        return unknown_app(app.client_id, tenant)
    person = tenant.users[object_id]
    resource_scopes = [scope for scope in scopes if "/" in scope]
    audience, systemuserid = GRAPH_APP_ID, None
    if resource_scopes:
        audience = resource_scopes[0].rsplit("/", 1)[0]
        environment = dynamics.environment_of_url(audience)
        user = environment.user_by_object_id(object_id) if environment else None
        systemuserid = user["systemuserid"] if user else None
    now = int(time.time())
    claims = {
        "aud": app.client_id,
        "iss": issuer(request, tenant.tenant_id),
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "name": person.name,
        "oid": person.object_id,
        "preferred_username": person.username,
        "email": person.email or person.username,
        "sub": hashlib.sha256(f"{person.object_id}:{app.client_id}".encode()).hexdigest()[:43],
        "tid": tenant.tenant_id,
        "ver": "2.0",
    }
    if nonce:
        claims["nonce"] = nonce
    refresh = "0.A" + secrets.token_urlsafe(48)
    _refresh_tokens(sandbox)[refresh] = {
        "client_id": app.client_id,
        "tenant_id": tenant.tenant_id,
        "object_id": object_id,
        "scopes": scopes,
    }
    extra = {"refresh_token": refresh, "client_info": client_info(person.object_id, tenant.tenant_id)}
    if "openid" in scopes:
        extra["id_token"] = sign(claims)
    return issue(
        sandbox,
        request,
        tenant=tenant,
        app=app,
        audience=audience,
        object_id=object_id,
        kind="user",
        systemuserid=systemuserid,
        scopes=scopes,
        extra=extra,
    )


def logout(sandbox: SandboxState, request: Request, tenant: str) -> Response:
    """Signing out: back to `post_logout_redirect_uri` when given, else a page saying so."""
    target = request.args.get("post_logout_redirect_uri", "")
    if target:
        return Response(status=302, headers={"Location": target})
    return page(
        "Signed out", "<h1>You signed out of your account</h1><p>It's a good idea to close all browser windows.</p>"
    )


ROUTES = [
    ("/entra/<tenant>/oauth2/v2.0/authorize", ["GET", "POST"], authorize),
    ("/entra/<tenant>/oauth2/v2.0/logout", ["GET"], logout),
    ("/entra/<tenant>/v2.0/adminconsent", ["GET", "POST"], admin_consent),
    ("/entra/<tenant>/adminconsent", ["GET", "POST"], admin_consent),
]
