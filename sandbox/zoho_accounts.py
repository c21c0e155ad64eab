"""Zoho Accounts (OAuth 2.0): the authorize page, the token endpoint, revocation.

CONTRACT used by every Zoho emulator (CRM, Bulk, Notifications, Voice): `AccountsState.resolve(token)`
returns the AccessToken (org, user, scopes) or a reason string ("expired", "invalid"). The OAuth endpoints
themselves are built by the Zoho helper.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] = ()


@dataclass
class RefreshToken:
    token: str
    client_id: str
    org_id: str  # the Zoho CRM org the consenting user belongs to
    user_id: str  # the CRM user who consented (CurrentUser)
    scopes: tuple[str, ...]
    minted: list[float] = field(default_factory=list)  # sandbox-clock times access tokens were issued
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    refresh_token: str
    client_id: str
    org_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float  # sandbox-clock timestamp
    revoked: bool = False


class AccountsState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.clients: dict[str, OAuthClient] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.grant_codes: dict[str, dict] = {}

    def seed_world(self, name: str) -> None:
        from sandbox import worlds

        self.clients[worlds.DEMO_CLIENT_ID] = OAuthClient(
            worlds.DEMO_CLIENT_ID, worlds.DEMO_CLIENT_SECRET, worlds.DEMO_REDIRECT_URIS
        )
        admin = worlds.DEMO_USERS[0]["id"]
        for token, scopes in (
            (
                worlds.DEMO_CRM_REFRESH_TOKEN,
                (
                    "ZohoCRM.modules.ALL",
                    "ZohoCRM.settings.ALL",
                    "ZohoCRM.users.READ",
                    "ZohoCRM.coql.READ",
                    "ZohoCRM.bulk.ALL",
                    "ZohoCRM.notifications.ALL",
                    "ZohoCRM.org.READ",
                ),
            ),
            (worlds.DEMO_VOICE_REFRESH_TOKEN, ("ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ")),
        ):
            self.refresh_tokens[token] = RefreshToken(
                token, worlds.DEMO_CLIENT_ID, worlds.DEMO_ZOHO_ORG_ID, admin, scopes
            )

    def issue_access_token(self, refresh: RefreshToken) -> AccessToken:
        """Mint an access token (limits are checked by the token endpoint before calling this)."""
        now = self.sandbox.clock.timestamp()
        token = AccessToken(
            token=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            refresh_token=refresh.token,
            client_id=refresh.client_id,
            org_id=refresh.org_id,
            user_id=refresh.user_id,
            scopes=refresh.scopes,
            expires_at=now + self.sandbox.config.access_token_ttl_seconds,
        )
        refresh.minted.append(now)
        self.access_tokens[token.token] = token
        return token

    def resolve(self, token: str) -> AccessToken | str:
        """The live access token, or why not: "invalid" (unknown or revoked) or "expired"."""
        found = self.access_tokens.get(token)
        if found is None or found.revoked:
            return "invalid"
        refresh = self.refresh_tokens.get(found.refresh_token)
        if refresh is None or refresh.revoked:
            return "invalid"
        if self.sandbox.clock.timestamp() >= found.expires_at:
            return "expired"
        return found

    def revoke_all(self, *, org_id: str | None = None) -> int:
        """Fault injection: every access token (of an org) stops working mid-run."""
        count = 0
        for token in self.access_tokens.values():
            if org_id is None or token.org_id == org_id:
                token.revoked = True
                count += 1
        return count


ROUTES: list = []
