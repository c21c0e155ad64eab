"""What OAuth leaves behind: apps (a public app on HubSpot's developer platform: app id, client id and secret,
redirect URLs, scopes), authorization codes, refresh tokens (one per install: app x portal x user) and access
tokens (30 minutes by default; `hs_access_token_ttl_seconds`). A private app's static token is an access token
of kind "private" that never expires (its calls get the daily rate headers; OAuth calls do not by default).

Token texts look like HubSpot's (region-tagged, under the 300 characters HubSpot says to allow)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


@dataclass
class App:
    app_id: str
    client_id: str
    client_secret: str
    name: str = "Leadline"
    redirect_uris: list[str] = field(default_factory=list)  # empty: any redirect_uri is accepted
    scopes: tuple[str, ...] = ()  # what the app's install URL must ask for at least (empty: anything)
    extra: dict[str, Any] = field(default_factory=dict)  # webhook settings and the like (webhooks.py)

    def summary(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "name": self.name,
            "redirect_uris": self.redirect_uris,
            "scopes": list(self.scopes),
        }


@dataclass
class AuthCode:
    code: str
    app_id: str
    portal_id: int
    user_id: int
    redirect_uri: str
    scopes: tuple[str, ...]
    expires: float


@dataclass
class RefreshGrant:
    token: str
    app_id: str
    portal_id: int
    user_id: int
    scopes: tuple[str, ...]
    created: float
    alive: bool = True


@dataclass
class AccessToken:
    token: str
    app_id: str | None  # None for a private app's token (its "app" is the portal's private app)
    portal_id: int
    user_id: int | None
    scopes: tuple[str, ...]
    expires: float  # epoch seconds on the sandbox clock; inf for a private app's token
    kind: str = "oauth"  # oauth | private
    refresh_token: str | None = None
    alive: bool = True

    @property
    def limit_key(self) -> str:
        """Which 10-second window the token's calls count in (per app per portal)."""
        return f"app:{self.app_id}" if self.app_id else f"private:{self.token[-12:]}"


def new_access_token() -> str:
    return "CN" + secrets.token_urlsafe(96)[:128]


def new_refresh_token() -> str:
    parts = [
        secrets.token_hex(4),
        secrets.token_hex(2),
        secrets.token_hex(2),
        secrets.token_hex(2),
        secrets.token_hex(6),
    ]
    return "na1-" + "-".join(parts)


def new_private_token() -> str:
    return "pat-na1-" + "-".join(
        [secrets.token_hex(4), secrets.token_hex(2), secrets.token_hex(2), secrets.token_hex(2), secrets.token_hex(6)]
    )


def new_code() -> str:
    return "na1-" + secrets.token_hex(18)
