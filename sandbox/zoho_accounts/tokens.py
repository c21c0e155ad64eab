"""`POST /oauth/v2/token` (code exchange, refresh, client credentials), revocation and DC discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response
from sandbox.zoho_accounts.state import (
    GRANT_EXCHANGES_PER_CLIENT_PER_WINDOW,
    THROTTLED,
    THROTTLED_STATUS,
    AccessToken,
    OAuthClient,
    base_url,
    scope_problem,
    split_scopes,
)

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def _params(request: Request) -> dict[str, str]:
    params = dict(request.args.items())
    params.update(request.form.items())
    return params


def _error(code: str) -> Response:
    return json_response({"error": code}, 200)


def _token_body(request: Request, access: AccessToken, refresh_token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": access.token}
    if refresh_token:
        body["refresh_token"] = refresh_token
    body.update(
        {
            "scope": " ".join(access.scopes),
            "api_domain": base_url(request),
            "token_type": "Bearer",
            "expires_in": max(int(access.expires_at - access.issued_at), 0),
        }
    )
    return body


def token(sandbox: SandboxState, request: Request) -> Response:
    params = _params(request)
    accounts = sandbox.accounts
    grant_type = params.get("grant_type", "")
    if grant_type not in ("authorization_code", "refresh_token", "client_credentials"):
        return _error("unsupported_grant_type")
    client = accounts.clients.get(params.get("client_id", ""))
    if client is None:
        return _error("invalid_client")
    if params.get("client_secret") != client.client_secret:
        return _error("invalid_client_secret")
    with sandbox.lock:
        if grant_type == "authorization_code":
            return _exchange_code(sandbox, request, client, params)
        if grant_type == "refresh_token":
            return _refresh(sandbox, request, client, params)
        return _client_credentials(sandbox, request, client, params)


def _exchange_code(sandbox: SandboxState, request: Request, client: OAuthClient, params: dict[str, str]) -> Response:
    accounts = sandbox.accounts
    code = accounts.grant_codes.get(params.get("code", ""))
    now = accounts._now()
    if code is None or code.used or code.client_id != client.client_id or now >= code.expires_at:
        return _error("invalid_code")
    if params.get("redirect_uri") != code.redirect_uri:
        return _error("invalid_redirect_uri")
    window = [t for t in accounts.exchanges.get(client.client_id, []) if t > now - sandbox.config.token_window_seconds]
    if len(window) >= GRANT_EXCHANGES_PER_CLIENT_PER_WINDOW:
        accounts.exchanges[client.client_id] = window
        return _error("access_denied")
    accounts.exchanges[client.client_id] = [*window, now]
    code.used = True
    if code.offline:
        existing = None
        if not code.give_refresh_token:
            existing = next(
                (
                    refresh
                    for refresh in accounts.refresh_tokens.values()
                    if refresh.client_id == code.client_id and refresh.user_id == code.user_id and not refresh.revoked
                ),
                None,
            )
        if existing is None:
            refresh = accounts._new_refresh_token(code)
            return json_response(_token_body(request, accounts.issue_access_token(refresh), refresh.token))
    access = accounts.issue_unbound_access_token(code.client_id, code.org_id, code.user_id, code.scopes)
    return json_response(_token_body(request, access))


def _refresh(sandbox: SandboxState, request: Request, client: OAuthClient, params: dict[str, str]) -> Response:
    accounts = sandbox.accounts
    refresh = accounts.refresh_tokens.get(params.get("refresh_token", ""))
    if refresh is None or refresh.revoked or refresh.client_id != client.client_id:
        return _error("invalid_code")
    if accounts.throttled(refresh):
        return json_response(THROTTLED, THROTTLED_STATUS)
    return json_response(_token_body(request, accounts.issue_access_token(refresh)))


def _client_credentials(
    sandbox: SandboxState, request: Request, client: OAuthClient, params: dict[str, str]
) -> Response:
    """Self-client client-credentials flow: `soid=ZohoCRM.<org id>`, no refresh token (docs/vendors/zoho-accounts.md,
    Tokens)."""
    scopes = split_scopes(params.get("scope", ""))
    if scope_problem(scopes):
        return _error("invalid_scope")
    service, _, org_id = params.get("soid", "").partition(".")
    org = sandbox.crm.orgs.get(org_id) if service == "ZohoCRM" else None
    if org is None:
        return _error("invalid_soid")
    access = sandbox.accounts.issue_unbound_access_token(client.client_id, org.org_id, org.admin_user_id, scopes)
    return json_response(_token_body(request, access))


def revoke(sandbox: SandboxState, request: Request) -> Response:
    """Revoke a refresh token (and every access token minted from it). Unknown tokens get the same answer,
    as RFC 7009 asks (Zoho's answer for them is UNCONFIRMED)."""
    with sandbox.lock:
        sandbox.accounts.revoke_refresh_token(_params(request).get("token", ""))
    return json_response({"status": "success"})


def serverinfo(sandbox: SandboxState, request: Request) -> Response:
    """DC discovery. The sandbox is one DC ("us"): every location would be this host anyway."""
    return json_response({"result": "success", "locations": {"us": base_url(request)}})
