"""The HubSpot token broker: one access token per account, shared by every process, refreshed by one at a time.

HubSpot's access tokens live 30 minutes (`expires_in`; follow it, never a constant), and HubSpot says a 401 is no
signal to refresh: so the token is cached (Django's cache: Redis in production) until `expires_in` minus
HUBSPOT_TOKEN_REFRESH_MARGIN_SECONDS and refreshed ahead of that under crm.token_lock's single flight. A 401
EXPIRED_AUTHENTICATION still makes the client drop the token (`access_token_invalidate`) and refresh once.

The token endpoint is HUBSPOT_TOKEN_PATH on the API host: "/oauth/v1/token" answers snake_case (access_token,
refresh_token, expires_in), the date-versioned "/oauth/2026-03/token" camelCase (accessToken, refreshToken,
expiresIn, hubId, userId); both shapes are read whichever was called. HubSpot's refresh tokens do not rotate, but a
new one in an answer is stored (encrypted) all the same.

A refused refresh token (invalid_grant / BAD_REFRESH_TOKEN: the app was uninstalled or the token revoked) raises
HubSpotAuthError and the connection says needs_reauth; the endpoint down or slow raises HubSpotUnavailable after a
short shared cool-down, so twenty workers make one failing call, not twenty.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import requests
import structlog

from django.core.cache import cache

from core import outbound
from core.secrets import Secret
from crm import connection_state, token_lock
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import HubSpotAuthError, HubSpotUnavailable
from crm.providers.hubspot.transport import error_info, http_session
from crm.token_lock import token_single_flight

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

KIND = "hubspot"
# A refused refresh token stays refused; remembering it spares HubSpot (and the logs) twenty more tries.
DEAD_TOKEN_MEMORY_SECONDS = 3600
# What only a person can fix: the OAuth error codes, and the v1 endpoint's `status` values.
REAUTH_CODES = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "BAD_REFRESH_TOKEN",
        "BAD_CLIENT_ID",
        "BAD_CLIENT_SECRET",
        "BAD_AUTH_CODE",
        "INVALID_GRANT",
    }
)
_POLL_SECONDS = (0.02, 0.08)
_MIN_LIFETIME_SECONDS = 30  # a token is never cached for less, whatever margin is set


@dataclass(frozen=True)
class AccessToken:
    """A live access token, when it expires (epoch seconds) and what the answer said of the portal."""

    token: str
    expires_at: float
    hub_id: str = ""
    user_id: str = ""

    @property
    def access_token(self) -> str:
        return self.token


@dataclass(frozen=True)
class TokenAnswer:
    """A token endpoint answer in either shape (v1 snake_case, date-versioned camelCase)."""

    access_token: str
    refresh_token: str
    expires_in: int
    hub_id: str
    user_id: str
    scopes: tuple[str, ...]
    token_type: str
    id_token: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> TokenAnswer:
        def pick(*names: str) -> Any:
            for name in names:
                if body.get(name) not in (None, ""):
                    return body[name]
            return ""

        scopes = pick("scopes", "scope")
        scope_list = scopes.split() if isinstance(scopes, str) else [str(scope) for scope in scopes or ()]
        try:
            expires_in = int(pick("expires_in", "expiresIn") or 1800)
        except (TypeError, ValueError):
            expires_in = 1800
        return cls(
            access_token=str(pick("access_token", "accessToken")),
            refresh_token=str(pick("refresh_token", "refreshToken")),
            expires_in=expires_in,
            hub_id=str(pick("hub_id", "hubId")),
            user_id=str(pick("user_id", "userId")),
            scopes=tuple(scope_list),
            token_type=str(pick("token_type", "tokenType") or "bearer"),
            id_token=str(pick("id_token", "idToken")),
        )


# --- public interface ---------------------------------------------------------------------------------------------
def access_token_get(*, account: ProviderAccount) -> AccessToken:
    """A live access token for a HubSpot account: from the shared cache, or refreshed under the cross-process lock
    once fewer than HUBSPOT_TOKEN_REFRESH_MARGIN_SECONDS of it are left."""
    _check_account(account)
    keys = _Keys(account)
    return token_single_flight(
        lock_key=keys.lock,
        cached=lambda: _cached(keys),
        refresh=lambda: _refresh(account, keys),
        before_try=lambda: _raise_if_cooling_down(keys),
        timed_out=lambda: HubSpotUnavailable(
            "timed out waiting for another process to refresh the HubSpot token", category="TOKEN_LOCK"
        ),
        wait_seconds=float(hubspot_settings.TOKEN_LOCK_WAIT_SECONDS),
        lock_ttl=int(sum(hubspot_settings.TOKEN_TIMEOUT) + 10),
        poll_seconds=_POLL_SECONDS,
    )


def access_token_peek(*, account: ProviderAccount) -> AccessToken | None:
    """The cached access token, if any, without refreshing."""
    return _cached(_Keys(account))


def access_token_invalidate(*, account: ProviderAccount, token: str) -> None:
    """Forget the cached token after HubSpot refused it (401), only if it is still `token`: twenty workers that saw
    the same 401 cause one refresh, not twenty."""
    key = _Keys(account).access
    cached = cache.get(key)
    if isinstance(cached, dict) and cached.get("token") == token:
        cache.delete(key)


def token_cache_clear(*, account: ProviderAccount) -> None:
    """Drop everything cached for an account (after disconnect or reconnect)."""
    keys = _Keys(account)
    cache.delete_many([keys.access, keys.cooldown, _dead_key(account, reveal(account.refresh_token))])


def token_answer_apply(*, account: ProviderAccount, body: dict[str, Any]) -> AccessToken:
    """Take a successful token answer (a refresh, or the connect flow's code exchange): store a new refresh token
    (encrypted) first, then cache the access token for every process until expires_in minus the margin."""
    answer = TokenAnswer.parse(body)
    if not answer.access_token:
        raise HubSpotUnavailable("HubSpot's token answer has no access token", category="TOKEN_ANSWER", body=body)
    if answer.refresh_token and answer.refresh_token != reveal(account.refresh_token):
        _refresh_token_store(account, answer.refresh_token)
    # Cached until the margin before expiry; a token shorter-lived than margin + 30 s is still kept briefly.
    margin = int(hubspot_settings.TOKEN_REFRESH_MARGIN_SECONDS)
    lifetime = max(answer.expires_in - margin, min(_MIN_LIFETIME_SECONDS, answer.expires_in), 1)
    token = AccessToken(answer.access_token, time.time() + answer.expires_in, answer.hub_id, answer.user_id)
    cache.set(
        _Keys(account).access,
        {"token": token.token, "expires_at": token.expires_at, "hub_id": token.hub_id, "user_id": token.user_id},
        timeout=lifetime,
    )
    return token


def token_endpoint(account: ProviderAccount | None = None) -> str:
    """The token endpoint's URL (HUBSPOT_TOKEN_PATH on the account's API host)."""
    from crm.providers.hubspot.hosts import api_base

    path = str(hubspot_settings.TOKEN_PATH)
    return f"{api_base(account)}{path if path.startswith('/') else '/' + path}"


def reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


# --- internals ------------------------------------------------------------------------------------------------
class _Keys:
    """Per account, not per refresh token: the lock must hold across a token change."""

    def __init__(self, account: ProviderAccount) -> None:
        prefix = f"hubspot:token:{account.pk}"
        self.access = f"{prefix}:access"
        self.lock = f"{prefix}:lock"
        self.cooldown = f"{prefix}:cooldown"


def _dead_key(account: ProviderAccount, refresh_token: str) -> str:
    digest = hashlib.sha256(f"{account.pk}\0{refresh_token}".encode()).hexdigest()[:32]
    return f"hubspot:token:dead:{digest}"


def _check_account(account: ProviderAccount) -> None:
    if account.kind != KIND:
        raise ValueError(f"{account} is not a HubSpot account")
    if not account.refresh_token:
        raise HubSpotAuthError(f"{account.name} is not connected to HubSpot (no refresh token)")


def _cached(keys: _Keys) -> AccessToken | None:
    value = cache.get(keys.access)
    if not isinstance(value, dict) or not value.get("token"):
        return None
    return AccessToken(
        value["token"], float(value.get("expires_at") or 0), value.get("hub_id", ""), value.get("user_id", "")
    )


def _raise_if_cooling_down(keys: _Keys) -> None:
    running = token_lock.cooldown_left(keys.cooldown)
    if running is not None:
        raise HubSpotUnavailable(running[0], category="TOKEN_UNAVAILABLE", retry_after=running[1])


def _cool_down(keys: _Keys, reason: str, *, status: int | None = None) -> HubSpotUnavailable:
    seconds = token_lock.cooldown_start(keys.cooldown, reason, hubspot_settings.TOKEN_FAILURE_COOLDOWN_SECONDS)
    return HubSpotUnavailable(reason, status=status, category="TOKEN_UNAVAILABLE", retry_after=seconds)


def _stored_refresh_token(account: ProviderAccount) -> str:
    """The refresh token as the database holds it now (a reconnect may have replaced it since `account` was
    loaded); the in-memory account is brought up to date."""
    from studios.models import ProviderAccount

    row = ProviderAccount.unscoped_objects.filter(pk=account.pk).values_list("refresh_token", flat=True).first()
    stored = reveal(row) if row is not None else reveal(account.refresh_token)
    if stored and stored != reveal(account.refresh_token):
        account.refresh_token = Secret(stored)
    return stored


def _refresh(account: ProviderAccount, keys: _Keys) -> AccessToken:
    from crm.providers.hubspot.hosts import app_credentials

    refresh_token = _stored_refresh_token(account)
    if not refresh_token:
        raise HubSpotAuthError(f"{account.name} is not connected to HubSpot (no refresh token)")
    dead = cache.get(_dead_key(account, refresh_token))
    if dead:
        raise HubSpotAuthError(str(dead), category="invalid_grant")
    client_id, client_secret = app_credentials(account)
    url = token_endpoint(account)
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    try:
        response = http_session("hubspot-oauth").post(
            url, data=form, headers={"Accept": "application/json"}, timeout=hubspot_settings.TOKEN_TIMEOUT
        )
    except outbound.OutboundRefused as exc:
        message = f"{exc.message} Fix the account's HubSpot API host."
        connection_write("connection_needs_reauth", account, reason=message)
        raise HubSpotAuthError(message, category="ENDPOINT_REFUSED") from exc
    except requests.RequestException as exc:
        raise _cool_down(keys, f"HubSpot token endpoint unreachable: {type(exc).__name__}") from exc
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and (body.get("access_token") or body.get("accessToken")):
            token = token_answer_apply(account=account, body=body)
            connection_write("connection_token_refreshed", account)
            logger.info("hubspot.token.refreshed", account_id=account.pk, hub_id=token.hub_id)
            return token
        raise _cool_down(keys, "HubSpot token endpoint answered 200 without a token", status=status)
    info = error_info(response)
    if status in (400, 401, 403) and (info.category in REAUTH_CODES or status != 400 or not info.category):
        message = (
            f"HubSpot refused the refresh token of {account.name} ({info.category or status}: {info.message}): "
            "the app was uninstalled or the token revoked; reconnect HubSpot"
        )
        cache.set(_dead_key(account, refresh_token), message, timeout=DEAD_TOKEN_MEMORY_SECONDS)
        connection_write("connection_needs_reauth", account, reason=message)
        raise HubSpotAuthError(message, **info.kwargs(status))
    logger.error("hubspot.token.unexpected_error", account_id=account.pk, category=info.category, status=status)
    raise _cool_down(
        keys, f"HubSpot token endpoint answered HTTP {status} {info.category}: {info.message}", status=status
    )


def _refresh_token_store(account: ProviderAccount, value: str) -> None:
    """Store a new refresh token (encrypted). HubSpot does not rotate them, so this is rare (a reconnect)."""
    from studios.models import ProviderAccount

    account.refresh_token = Secret(value)
    if account.pk:
        ProviderAccount.unscoped_objects.filter(pk=account.pk).update(refresh_token=Secret(value))


def _services() -> ModuleType:
    from crm.providers.hubspot import services  # at use: the module may be absent while the package is being built

    return services


def connection_write(name: str, account: ProviderAccount, **values: Any) -> None:
    """One of services.py's connection writes, best effort (each is its own savepoint): the caller's error or
    answer matters more than the record, and the row's module may be absent while the package is being built."""
    connection_state.connection_write_best_effort(_services, name, account, logger=logger, prefix="hubspot", **values)


__all__ = [
    "AccessToken",
    "TokenAnswer",
    "access_token_get",
    "access_token_invalidate",
    "access_token_peek",
    "connection_write",
    "reveal",
    "token_answer_apply",
    "token_cache_clear",
    "token_endpoint",
]
