"""Microsoft Entra ID in memory: tenants with their people, app registrations, service principals left by an
admin's consent, sign-in codes and the access tokens the token endpoint issues (entra.py serves them)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass
class TenantUser:
    """A person in a tenant's directory: object id (oid), display name, user principal name, admin or not."""

    object_id: str
    name: str
    username: str  # user principal name, e.g. dana@harborfit.onmicrosoft.com
    admin: bool = False
    email: str = ""


@dataclass
class Tenant:
    tenant_id: str
    name: str
    domain: str  # <something>.onmicrosoft.com
    users: dict[str, TenantUser] = field(default_factory=dict)  # object id -> person
    service_principals: dict[str, str] = field(default_factory=dict)  # consented client id -> principal object id

    def user_by_name(self, username: str) -> TenantUser | None:
        for user in self.users.values():
            if user.username.casefold() == (username or "").casefold():
                return user
        return None

    def admins(self) -> list[TenantUser]:
        return [user for user in self.users.values() if user.admin]


@dataclass
class EntraApp:
    """An app registration (multi-tenant: any tenant may consent). Its secret is checked at the token endpoint."""

    client_id: str
    client_secret: str
    name: str
    home_tenant_id: str = ""
    redirect_uris: list[str] = field(default_factory=list)  # empty: any redirect accepted (sandbox leniency)
    multi_tenant: bool = True


@dataclass
class AccessToken:
    """What an access token stands for. kind "app" (client credentials: object_id = the service principal,
    systemuserid = the environment's application user) or "user" (sign-in: object_id = the person's oid,
    systemuserid = their system user in the audience's environment, if any)."""

    token: str
    tenant_id: str
    client_id: str
    audience: str  # the environment URL (no trailing slash), or the client id for sign-in's id-token audience
    object_id: str
    systemuserid: str | None
    expires_at: float  # epoch seconds on the sandbox clock
    kind: str = "app"
    scopes: tuple[str, ...] = ()


@dataclass
class AuthCode:
    """A sign-in's authorization code: once, for the app and redirect URI it was issued to."""

    code: str
    tenant_id: str
    client_id: str
    object_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str
    expires_at: float
    code_challenge: str = ""
    code_challenge_method: str = ""


def new_token() -> str:
    return "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(48)


def new_code() -> str:
    return "1.A" + secrets.token_urlsafe(64)
