"""OAuth clients, grant codes, refresh and access tokens, and the limits on minting them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# Token-endpoint throttling answer: Zoho says the status stays 200 (docs/vendors/zoho-accounts.md, Tokens); the body is
# the one client code in the wild checks for. Some third-party code saw it with HTTP 400: see the closing note.
THROTTLED = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "status": "failure",
}
THROTTLED_STATUS = 200
GRANT_EXCHANGES_PER_CLIENT_PER_WINDOW = 10  # "10 grant tokens / 10 min per client ID" (docs/vendors/zoho-accounts.md)
# the 21st deletes the oldest and its access tokens (docs/vendors/zoho-accounts.md)
REFRESH_TOKENS_PER_USER_AND_CLIENT = 20
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
