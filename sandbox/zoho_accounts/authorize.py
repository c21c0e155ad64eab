"""`GET /oauth/v2/auth`: the consent page of the "Connect Zoho" and "Sign in with Zoho" flows."""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from sandbox.zoho_accounts.state import (
    GrantCode,
    OAuthClient,
    _redirect,
    _with_query,
    base_url,
    scope_problem,
    split_scopes,
)

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# --- the authorize page ------------------------------------------------------------------------------------
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;color:#222}}
.card{{border:1px solid #ddd;border-radius:8px;padding:1.5rem}} button{{margin:.25rem 0;padding:.5rem 1rem}}
.error{{color:#b00020}} code{{background:#f4f4f4;padding:0 .25rem}}</style></head>
<body><div class="card">{body}</div></body></html>"""


def error_page(code: str, message: str) -> Response:
    body = (
        f'<h1 class="error" data-error="{html.escape(code)}">{html.escape(message)}</h1>'
        f"<p>Zoho Accounts (sandbox) could not continue: <code>{html.escape(code)}</code></p>"
    )
    return Response(_PAGE.format(title="Zoho Accounts: error", body=body), status=400, mimetype="text/html")


def consent_page(sandbox: SandboxState, request: Request, client: OAuthClient, scopes: tuple[str, ...]) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(key)}" value="{html.escape(value)}">'
        for key, value in request.args.items(multi=True)
        if not key.startswith("_sandbox")
    )
    choices = []
    for org in sandbox.crm.orgs.values():
        for user in org.users.values():
            if user.get("status") != "active":
                continue
            label = f"{user['full_name']} &lt;{html.escape(user['email'])}&gt; ({html.escape(org.name)})"
            choices.append(
                f'<form method="get" action="/oauth/v2/auth">{hidden}'
                f'<button name="_sandbox_user" value="{html.escape(user["id"])}">Accept as {label}</button></form>'
            )
    scope_items = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in scopes)
    body = (
        f"<h1>{html.escape(client.name)} would like to access your Zoho account</h1>"
        f"<p>Requested permissions:</p><ul>{scope_items}</ul>"
        "<p>Sign in as one of the sandbox's Zoho users:</p>"
        + "".join(choices)
        + f'<form method="get" action="/oauth/v2/auth">{hidden}'
        '<button name="_sandbox_deny" value="1">Reject</button></form>'
    )
    return Response(_PAGE.format(title="Zoho Accounts: consent", body=body), mimetype="text/html")


def authorize(sandbox: SandboxState, request: Request) -> Response:
    accounts = sandbox.accounts
    args = request.args
    client = accounts.clients.get(args.get("client_id", ""))
    if client is None:
        return error_page("invalid_client", "Invalid Client")
    redirect_uri = args.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return error_page("invalid_redirect_uri", "Invalid Redirect Uri")
    state = args.get("state")
    back: dict[str, str] = {"state": state} if state is not None else {}
    if args.get("response_type") != "code":
        return _redirect(_with_query(redirect_uri, {**back, "error": "unsupported_response_type"}))
    scopes = split_scopes(args.get("scope", ""))
    if scope_problem(scopes):
        return _redirect(_with_query(redirect_uri, {**back, "error": "invalid_scope"}))
    access_type = args.get("access_type", "online").lower()
    if access_type not in ("online", "offline"):
        return _redirect(_with_query(redirect_uri, {**back, "error": "invalid_request"}))
    if args.get("_sandbox_deny"):
        return _redirect(_with_query(redirect_uri, {**back, "error": "access_denied"}))
    user_id = args.get("_sandbox_user")
    if not user_id:
        return consent_page(sandbox, request, client, scopes)
    org = sandbox.crm.org_of_user(user_id)
    if org is None:
        return error_page("invalid_user", "No such Zoho user")
    with sandbox.lock:
        first_consent = (client.client_id, user_id) not in accounts.consents
        accounts.consents.add((client.client_id, user_id))
        code = GrantCode(
            code=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            org_id=org.org_id,
            user_id=user_id,
            scopes=scopes,
            offline=access_type == "offline",
            give_refresh_token=first_consent or args.get("prompt", "").lower() == "consent",
            expires_at=accounts._now() + sandbox.config.grant_code_ttl_seconds,
        )
        accounts.grant_codes[code.code] = code
    params = {**back, "code": code.code, "location": "us", "accounts-server": base_url(request)}
    return _redirect(_with_query(redirect_uri, params))


# --- the token endpoint ------------------------------------------------------------------------------------
