"""What OAuth leaves in an org: the connected app, grants (a refresh token's approval), sessions (an access
token) and authorization codes. `SalesforceState` issues, rotates and looks them up."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ConnectedApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Leadline"
    rotation: bool | None = None  # None: the sandbox's sf_refresh_token_rotation
    client_credentials_user: str | None = None  # the run-as user of the client credentials flow (off when None)


@dataclass
class Grant:
    """A refresh token's grant: the user's approval of the app. With rotation its token changes at every refresh
    (the previous ones are retired: using one answers invalid_grant)."""

    id: str
    user_id: str
    client_id: str
    refresh_token: str
    scopes: tuple[str, ...]
    created: float
    alive: bool = True
    retired: set[str] = field(default_factory=set)


@dataclass
class Session:
    id: str
    token: str
    org_id: str
    user_id: str
    client_id: str
    grant_id: str | None
    scopes: tuple[str, ...]
    created: float
    expires: float
    alive: bool = True
    ended_reason: str = ""


@dataclass
class AuthCode:
    code: str
    org_id: str
    user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires: float
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    nonce: str | None = None
