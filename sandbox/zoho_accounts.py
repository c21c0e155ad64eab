"""Zoho Accounts (OAuth 2.0): the authorize page, the token endpoint, revocation, server info (api-facts A1, A2).

CONTRACT used by every Zoho emulator (CRM, Bulk, Notifications, Voice): `AccountsState.resolve(token)`
returns the AccessToken (org, user, scopes) or a reason string ("expired", "invalid").

What it reproduces:
- `GET /oauth/v2/auth`: validates client_id and redirect_uri (an error page, never a redirect, when either is
  wrong), response_type=code and scope (redirected back as `error=...`); a page where a person picks the Zoho
  user who consents (or rejects: `error=access_denied`); `_sandbox_user=<user id>` approves at once (tests).
  The redirect carries `code`, `state`, `location=us` and `accounts-server=<this sandbox>`.
- `POST /oauth/v2/token` (params in the form body or the query string): `authorization_code`, `refresh_token`
  and `client_credentials`. Errors answer HTTP 200 with `{"error": ...}`. Grant codes are single use and live
  `grant_code_ttl_seconds` (3 min); at most 10 code exchanges per client per window (`access_denied`).
  A refresh token is handed out only for `access_type=offline`, and only on the first consent of a user to
  a client or with `prompt=consent` (Zoho's behaviour as seen by clients; UNCONFIRMED in its docs).
  At most `access_tokens_per_refresh_per_window` access tokens per refresh token per `token_window_seconds`
  (then `{"error": "Access Denied", ...}`), at most `active_access_tokens_per_refresh` live ones (the next
  evicts the oldest, which then fails with INVALID_TOKEN); at most 20 refresh tokens per user and client
  (the 21st deletes the oldest and its access tokens).
- `POST /oauth/v2/token/revoke?token=...`, `GET /oauth/serverinfo`.
`api_domain` and `accounts-server` are this sandbox's own base URL, taken from the request, so any port works.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# Token-endpoint throttling answer: Zoho says the status stays 200 (api-facts A1, O4); the body is the one
# client code in the wild checks for. Some third-party code saw it with HTTP 400: see the closing note.
THROTTLED = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "status": "failure",
}
THROTTLED_STATUS = 200
GRANT_EXCHANGES_PER_CLIENT_PER_WINDOW = 10  # "10 grant tokens / 10 min per client ID" (A1, O2)
REFRESH_TOKENS_PER_USER_AND_CLIENT = 20  # the 21st deletes the oldest and its access tokens (A1, O3/O4)
KNOWN_SERVICES = ("ZohoCRM", "ZohoVoice", "AaaServer", "ZohoSearch", "ZohoFiles", "ZohoBulk")
SCOPE_PATTERN = re.compile(r"^[A-Za-z]+(\.[A-Za-z0-9_]+)+$")
OPERATIONS = ("ALL", "READ", "CREATE", "UPDATE", "DELETE", "WRITE", "EXECUTE")


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()
    name: str = "Leadline"


@dataclass
class RefreshToken:
    token: str
    client_id: str
    org_id: str  # the Zoho CRM org the consenting user belongs to
    user_id: str  # the CRM user who consented (CurrentUser)
    scopes: tuple[str, ...]
    minted: list[float] = field(default_factory=list)  # sandbox-clock times access tokens were issued
    revoked: bool = False
    created_at: float = 0.0


@dataclass
class AccessToken:
    token: str
    refresh_token: str  # "" for tokens without one (access_type=online, client_credentials)
    client_id: str
    org_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float  # sandbox-clock timestamp
    revoked: bool = False
    issued_at: float = 0.0


@dataclass
class GrantCode:
    code: str
    client_id: str
    redirect_uri: str
    org_id: str
    user_id: str
    scopes: tuple[str, ...]
    offline: bool
    give_refresh_token: bool
    expires_at: float
    used: bool = False


def split_scopes(text: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[,\s]+", text or "") if part)


def scope_problem(scopes: tuple[str, ...]) -> str | None:
    """Why a requested scope list is not acceptable, or None."""
    if not scopes:
        return "scope is required"
    for scope in scopes:
        if not SCOPE_PATTERN.match(scope):
            return f"invalid scope {scope}"
        service, *_, operation = scope.split(".")
        if service.lower() not in {known.lower() for known in KNOWN_SERVICES} or operation.upper() not in OPERATIONS:
            return f"invalid scope {scope}"
    return None


class AccountsState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.clients: dict[str, OAuthClient] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.grant_codes: dict[str, GrantCode] = {}
        self.consents: set[tuple[str, str]] = set()  # (client_id, user_id) that consented at least once
        self.exchanges: dict[str, list[float]] = {}  # client_id -> times of code exchanges

    def seed_world(self, name: str) -> None:
        from sandbox import worlds

        self.clients[worlds.DEMO_CLIENT_ID] = OAuthClient(
            worlds.DEMO_CLIENT_ID, worlds.DEMO_CLIENT_SECRET, worlds.DEMO_REDIRECT_URIS
        )
        admin = worlds.DEMO_USERS[0]["id"]
        self.add_refresh_token(
            worlds.DEMO_CRM_REFRESH_TOKEN, worlds.DEMO_CLIENT_ID, worlds.DEMO_ZOHO_ORG_ID, admin, CRM_ADMIN_SCOPES
        )
        self.add_refresh_token(
            worlds.DEMO_VOICE_REFRESH_TOKEN,
            worlds.DEMO_CLIENT_ID,
            worlds.DEMO_ZOHO_ORG_ID,
            admin,
            ("ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ"),
        )

    # --- tokens ---------------------------------------------------------------------------------------------
    def add_refresh_token(
        self, token: str, client_id: str, org_id: str, user_id: str, scopes: tuple[str, ...]
    ) -> RefreshToken:
        refresh = RefreshToken(token, client_id, org_id, user_id, tuple(scopes), created_at=self._now())
        self.refresh_tokens[token] = refresh
        self.consents.add((client_id, user_id))
        return refresh

    def _now(self) -> float:
        return self.sandbox.clock.timestamp()

    def issue_access_token(self, refresh: RefreshToken) -> AccessToken:
        """Mint an access token (limits are checked by the token endpoint before calling this)."""
        now = self._now()
        token = AccessToken(
            token=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            refresh_token=refresh.token,
            client_id=refresh.client_id,
            org_id=refresh.org_id,
            user_id=refresh.user_id,
            scopes=refresh.scopes,
            expires_at=now + self.sandbox.config.access_token_ttl_seconds,
            issued_at=now,
        )
        refresh.minted.append(now)
        self.access_tokens[token.token] = token
        self._evict_beyond_active_limit(refresh.token)
        return token

    def issue_unbound_access_token(
        self, client_id: str, org_id: str, user_id: str, scopes: tuple[str, ...]
    ) -> AccessToken:
        """An access token with no refresh token behind it (access_type=online, client_credentials)."""
        now = self._now()
        token = AccessToken(
            f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            "",
            client_id,
            org_id,
            user_id,
            tuple(scopes),
            now + self.sandbox.config.access_token_ttl_seconds,
            issued_at=now,
        )
        self.access_tokens[token.token] = token
        return token

    def _evict_beyond_active_limit(self, refresh_token: str) -> None:
        now = self._now()
        live = [
            token
            for token in self.access_tokens.values()
            if token.refresh_token == refresh_token and not token.revoked and token.expires_at > now
        ]
        live.sort(key=lambda token: token.issued_at)
        excess = len(live) - self.sandbox.config.active_access_tokens_per_refresh
        for token in live[: max(excess, 0)]:
            token.revoked = True

    def throttled(self, refresh: RefreshToken) -> bool:
        """Whether this refresh token already minted its allowance within the current window."""
        horizon = self._now() - self.sandbox.config.token_window_seconds
        refresh.minted[:] = [moment for moment in refresh.minted if moment > horizon]
        return len(refresh.minted) >= self.sandbox.config.access_tokens_per_refresh_per_window

    def resolve(self, token: str) -> AccessToken | str:
        """The live access token, or why not: "invalid" (unknown or revoked) or "expired"."""
        found = self.access_tokens.get(token)
        if found is None or found.revoked:
            return "invalid"
        if found.refresh_token:
            refresh = self.refresh_tokens.get(found.refresh_token)
            if refresh is None or refresh.revoked:
                return "invalid"
        if self._now() >= found.expires_at:
            return "expired"
        return found

    def revoke_all(self, *, org_id: str | None = None) -> int:
        """Fault injection: every access token (of an org) stops working mid-run."""
        count = 0
        for token in self.access_tokens.values():
            if (org_id is None or token.org_id == org_id) and not token.revoked:
                token.revoked = True
                count += 1
        return count

    def revoke_refresh_token(self, token: str) -> bool:
        refresh = self.refresh_tokens.get(token)
        if refresh is None:
            access = self.access_tokens.get(token)
            if access is None:
                return False
            access.revoked = True
            return True
        refresh.revoked = True
        for access in self.access_tokens.values():
            if access.refresh_token == token:
                access.revoked = True
        return True

    def _new_refresh_token(self, code: GrantCode) -> RefreshToken:
        mine = sorted(
            (
                refresh
                for refresh in self.refresh_tokens.values()
                if refresh.client_id == code.client_id and refresh.user_id == code.user_id and not refresh.revoked
            ),
            key=lambda refresh: refresh.created_at,
        )
        for oldest in mine[: max(len(mine) - REFRESH_TOKENS_PER_USER_AND_CLIENT + 1, 0)]:
            self.revoke_refresh_token(oldest.token)
        token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        return self.add_refresh_token(token, code.client_id, code.org_id, code.user_id, code.scopes)


# Everything the product asks of the demo org's CRM; the demo refresh token carries it.
CRM_ADMIN_SCOPES = (
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.coql.READ",
    "ZohoCRM.bulk.ALL",
    "ZohoCRM.notifications.ALL",
    "ZohoCRM.org.READ",
)


def base_url(request: Request) -> str:
    return request.host_url.rstrip("/")


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _redirect(url: str) -> Response:
    return Response(status=302, headers={"Location": url})


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
    """Self-client client-credentials flow: `soid=ZohoCRM.<org id>`, no refresh token (A1, O13)."""
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


ROUTES = [
    ("/oauth/v2/auth", ["GET"], authorize),
    ("/oauth/v2/token", ["POST"], token),
    ("/oauth/v2/token/revoke", ["POST"], revoke),
    ("/oauth/serverinfo", ["GET"], serverinfo),
]
