"""Entra ID tokens for a customer's Dataverse environment: client credentials through msal.

One `msal.ConfidentialClientApplication` per (authority, client id) per process: the authority names the customer's
tenant (`{login host}/{tenant id}`), so each tenant has its own msal app and with it its own in-memory token cache;
msal answers from that cache until a token has less than 5 minutes left (DYNAMICS_TOKEN_REFRESH_MARGIN_SECONDS may ask
for more). The apps are built with instance_discovery=False (the authority is named, never looked up: a sovereign
cloud or the sandbox works as is), Leadline's guarded HTTP session (core.http: timeouts, no private addresses
unless allowed) trusting DYNAMICS_CA_BUNDLE.

What goes wrong, typed (errors.py):
- the tenant never consented to the app, or revoked it (AADSTS7000229, 700016, 65001, unauthorized_client):
  DataverseAuthError with code "consent_required"; a wrong or expired secret (AADSTS7000215, 7000222):
  code "invalid_client"; an unknown tenant: "tenant_not_found". A person must act; nothing is retried.
- the endpoint down, slow or answering 5xx: DataverseUnavailable, and a short cool-down shared by every process
  (crm.token_lock) so twenty workers make one failing call, not twenty.
The client drops a token the environment refused (401) with `access_token_invalidate` and asks once more.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import msal
import msal.exceptions
import requests
import structlog

from core import outbound
from core.http import make_session
from crm import connection_state, token_lock
from crm.providers.dynamics import hosts
from crm.providers.dynamics.conf import dynamics_settings
from crm.providers.dynamics.errors import (
    CONSENT_REQUIRED,
    DataverseAuthError,
    DataverseUnavailable,
    aadsts_codes,
    consent_missing,
)
from crm.providers.dynamics.transport import verify_setting

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

KIND = "dynamics"
BAD_SECRET_AADSTS = frozenset({"7000215", "7000222", "7000216"})
WRONG_RESOURCE_AADSTS = frozenset({"500011", "500014"})
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@dataclass(frozen=True)
class AccessToken:
    """A live access token for one environment, when it expires (epoch seconds)."""

    token: str
    expires_at: float
    tenant_id: str
    environment: str

    @property
    def access_token(self) -> str:
        return self.token


class _App:
    """An msal app and the lock that keeps one token request per app at a time in this process (concurrent threads
    that all miss the cache would otherwise each ask Entra)."""

    def __init__(self, app: msal.ConfidentialClientApplication) -> None:
        self.app = app
        self.lock = threading.Lock()


_apps: dict[tuple[str, str, str, str], _App] = {}
_apps_lock = threading.Lock()


# --- public interface ---------------------------------------------------------------------------------------------
def access_token_get(
    account: ProviderAccount | None = None,
    *,
    tenant_id: str = "",
    environment: str = "",
    connection: Any = None,
) -> AccessToken:
    """A live token for the account's environment (scope `{environment}/.default`) in its tenant: `tenant_id` and
    `environment` name them explicitly (the connect flow, before the connection row exists), else the account's
    DynamicsConnection does."""
    tenant = hosts.tenant_of(account, explicit=tenant_id, connection=connection)
    target = hosts.environment_url(account, explicit=environment, connection=connection)
    authority = hosts.authority(account, tenant)
    client_id, secret = hosts.app_credentials(account)
    if not client_id or not secret:
        raise DataverseAuthError(
            "no Entra app is configured (DYNAMICS_CLIENT_ID / DYNAMICS_CLIENT_SECRET)", code="NO_APP"
        )
    cooldown_key = _cooldown_key(authority, client_id)
    running = token_lock.cooldown_left(cooldown_key)
    if running is not None:
        raise DataverseUnavailable(running[0], code="TOKEN_UNAVAILABLE", retry_after=running[1])
    scopes = [hosts.token_scope(target)]
    holder = _app_for(authority, client_id, secret, cooldown_key)
    with holder.lock:
        result = _acquire(holder.app, scopes, cooldown_key)
        margin = int(dynamics_settings.TOKEN_REFRESH_MARGIN_SECONDS)
        from_cache = result.get("token_source") == "cache"
        if from_cache and "access_token" in result and int(result.get("expires_in") or 0) < margin:
            _forget(holder.app, scopes, str(result["access_token"]))  # too close to expiry for our margin
            result = _acquire(holder.app, scopes, cooldown_key)
    if "access_token" not in result:
        raise _refused(result, tenant=tenant, environment=target, cooldown_key=cooldown_key)
    expires_in = int(result.get("expires_in") or 0)
    if result.get("token_source") != "cache":
        logger.info("dynamics.token.issued", tenant_id=tenant, environment=target, expires_in=expires_in)
    return AccessToken(str(result["access_token"]), time.time() + expires_in, tenant, target)


def token_for(connection_or_account: Any, *, tenant_id: str = "", environment: str = "") -> str:
    """The bearer token string for a DynamicsConnection or its ProviderAccount (see access_token_get)."""
    account, connection = _account_and_connection(connection_or_account)
    token = access_token_get(account, tenant_id=tenant_id, environment=environment, connection=connection)
    return token.token


def access_token_invalidate(token: AccessToken) -> None:
    """Forget a token the environment refused (401), if msal still holds it: the next ask gets a new one."""
    with _apps_lock:
        holders = [holder for key, holder in _apps.items() if key[0].rstrip("/").endswith(f"/{token.tenant_id}")]
    for holder in holders:
        with holder.lock:
            _forget(holder.app, [hosts.token_scope(token.environment)], token.token)


def token_cache_clear() -> None:
    """Drop every msal app and its cached tokens (tests; after a disconnect nothing is cached that matters)."""
    with _apps_lock:
        _apps.clear()


def confidential_client(*, authority: str, client_id: str, client_secret: str) -> msal.ConfidentialClientApplication:
    """The process's msal app for an authority and client (e.g. "organizations" for sign-in: its auth-code flow);
    built once with Leadline's session, the CA bundle and instance_discovery=False. DataverseUnavailable or
    DataverseAuthError when the authority cannot be read."""
    return _app_for(authority, client_id, client_secret, _cooldown_key(authority, client_id)).app


def reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


# --- internals ------------------------------------------------------------------------------------------------
def _account_and_connection(value: Any) -> tuple[Any, Any]:
    from studios.models import ProviderAccount

    if isinstance(value, ProviderAccount):
        return value, None
    account = getattr(value, "account", None)
    if account is None:
        raise TypeError(f"not a Dynamics connection or account: {value!r}")
    return account, value


def _cooldown_key(authority: str, client_id: str) -> str:
    digest = hashlib.sha256(f"{authority.lower()}\0{client_id}".encode()).hexdigest()[:32]
    return f"dynamics:token:cooldown:{digest}"


def _app_for(authority: str, client_id: str, secret: str, cooldown_key: str) -> _App:
    verify = verify_setting()
    key = (authority.lower(), client_id, hashlib.sha256(secret.encode()).hexdigest(), str(verify))
    with _apps_lock:
        holder = _apps.get(key)
    if holder is not None:
        return holder
    session = make_session("dynamics-login", timeout=dynamics_settings.TIMEOUT, retries=0)
    if verify is not True:
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's own `verify`.
        session.request = functools.partial(session.request, verify=verify)  # type: ignore[method-assign]
    try:
        app = msal.ConfidentialClientApplication(
            client_id,
            client_credential=secret,
            authority=authority,
            instance_discovery=False,
            http_client=session,
            token_cache=msal.TokenCache(),
        )
    except outbound.OutboundRefused as exc:
        raise DataverseAuthError(f"{exc.message} Fix the account's login host.", code="ENDPOINT_REFUSED") from exc
    except ValueError as exc:  # msal: the authority's OIDC discovery answered 4xx (an unknown tenant)
        raise DataverseAuthError(
            f"Entra ID does not know the tenant of {authority}: {str(exc)[:300]}", code="tenant_not_found"
        ) from exc
    except (requests.RequestException, RuntimeError) as exc:
        raise _cool_down(cooldown_key, f"Entra ID unreachable at {authority}: {type(exc).__name__}") from exc
    with _apps_lock:
        holder = _apps.setdefault(key, _App(app))
    return holder


def _acquire(app: msal.ConfidentialClientApplication, scopes: list[str], cooldown_key: str) -> dict[str, Any]:
    try:
        return app.acquire_token_for_client(scopes=scopes) or {}
    except outbound.OutboundRefused as exc:
        raise DataverseAuthError(f"{exc.message} Fix the account's login host.", code="ENDPOINT_REFUSED") from exc
    except requests.RequestException as exc:
        raise _cool_down(cooldown_key, f"Entra ID token endpoint unreachable: {type(exc).__name__}") from exc
    except msal.exceptions.MsalServiceError as exc:  # msal: a 5xx answer without Entra's error body
        raise _cool_down(cooldown_key, f"Entra ID could not issue a token: {exc}") from exc


def _forget(app: msal.ConfidentialClientApplication, scopes: list[str], token: str) -> None:
    cache = app.token_cache
    for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=scopes)):
        if entry.get("secret") == token:
            cache.remove_at(entry)


def _cool_down(key: str, reason: str) -> DataverseUnavailable:
    seconds = token_lock.cooldown_start(key, reason, dynamics_settings.TOKEN_FAILURE_COOLDOWN_SECONDS)
    return DataverseUnavailable(reason, code="TOKEN_UNAVAILABLE", retry_after=seconds)


def _refused(result: dict[str, Any], *, tenant: str, environment: str, cooldown_key: str) -> Exception:
    error = str(result.get("error") or "")
    description = str(result.get("error_description") or "").strip()
    first_line = description.splitlines()[0] if description else error or "no token in Entra's answer"
    codes = set(aadsts_codes(result))
    if error in TRANSIENT_ERRORS or not error:
        return _cool_down(cooldown_key, f"Entra ID could not issue a token ({error or 'no error'}): {first_line}")
    logger.warning("dynamics.token.refused", tenant_id=tenant, error=error, codes=sorted(codes))
    if consent_missing(result) and not codes & BAD_SECRET_AADSTS:
        return DataverseAuthError(
            f"The Microsoft Entra tenant {tenant} has not granted Leadline's app access (admin consent): {first_line}",
            code=CONSENT_REQUIRED,
            body=result,
        )
    if codes & BAD_SECRET_AADSTS or error == "invalid_client":
        return DataverseAuthError(
            f"Entra ID refused the app's credentials: {first_line}", code="invalid_client", body=result
        )
    if codes & WRONG_RESOURCE_AADSTS or error == "invalid_scope":
        return DataverseAuthError(
            f"Entra ID knows no Dynamics environment {environment} in tenant {tenant}: {first_line}",
            code="invalid_resource",
            body=result,
        )
    return DataverseAuthError(f"Entra ID refused a token ({error}): {first_line}", code=error, body=result)


def _services() -> ModuleType:
    from crm.providers.dynamics import services  # at use: the module may be absent while the package is being built

    return services


def connection_write(name: str, account: ProviderAccount, **values: Any) -> None:
    """One of services.py's connection writes, best effort: the caller's error matters more than the record, and
    the services module may be absent while the package is being built."""
    connection_state.connection_write_best_effort(_services, name, account, logger=logger, prefix="dynamics", **values)


__all__ = [
    "AccessToken",
    "access_token_get",
    "access_token_invalidate",
    "confidential_client",
    "connection_write",
    "reveal",
    "token_cache_clear",
    "token_for",
]
