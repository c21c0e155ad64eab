"""The Zoho token broker: one access token per refresh token, shared by every process, refreshed by one at a time.

Zoho mints at most 10 access tokens per refresh token per 10 minutes and answers over-limit requests with
HTTP 200 and an error body (docs/vendors/zoho-accounts.md, Tokens), so twenty workers refreshing on their own
would lock an org out.
Here the token lives in Django's cache (Redis in production, the database cache in the embedded default) until
shortly before it expires; a refresh happens under a cache lock (an atomic `add` with a TTL, so a crashed
holder frees it) that every process honours, and waiters pick up the holder's token. We count our own refreshes
and never ask Zoho for more than ZOHO_TOKEN_REFRESHES_PER_WINDOW per window, and after a throttle or a dead
refresh token we stop asking for a while instead of letting every worker find out again.

No database transaction is held across the HTTP refresh: the lock is a cache key, not a row.

Used by the CRM client (client.py) and the Zoho Voice SMS provider (messaging), for ProviderAccounts of
kind zoho_crm and zoho_voice alike: both send `Authorization: Zoho-oauthtoken <token>`.

Its errors are the Zoho family's (errors.py): `ZohoReauthRequired` (the family's `ZohoAuthError`: a person must
reconnect) and `ZohoTokenUnavailable` (a `ZohoUnavailable`: retry after `retry_after`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import structlog

from django.core.cache import cache

from core import outbound
from core.http import make_session
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.errors import (  # ZohoTokenError: an old name, still imported from here
    ZohoError,
    ZohoReauthRequired,
    ZohoTokenError,  # noqa: F401
    ZohoTokenUnavailable,
)
from crm.token_lock import token_single_flight

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

ZOHO_KINDS = ("zoho_crm", "zoho_voice")
# A refresh token Zoho refused stays refused; remembering that spares Zoho (and the logs) twenty more refusals.
DEAD_TOKEN_MEMORY_SECONDS = 3600
_POLL_SECONDS = (0.05, 0.15)


@dataclass(frozen=True)
class AccessToken:
    """A cached access token and the API domain Zoho issued it for."""

    token: str
    api_domain: str
    expires_at: float  # epoch seconds, as Zoho said (the safety margin is applied when reading)


# --- public interface -----------------------------------------------------------------------------------------
def access_token_get(*, account: ProviderAccount) -> str:
    """A live access token for a Zoho account, from the shared cache or refreshed under the cross-process lock."""
    return access_token_info_get(account=account).token


def access_token_invalidate(*, account: ProviderAccount, token: str) -> None:
    """Forget the cached token after Zoho refused it (401), but only if it is still `token`, so twenty workers
    that saw the same 401 cause one refresh, not twenty."""
    key = _keys(account).token
    cached = cache.get(key)
    if isinstance(cached, dict) and cached.get("token") == token:
        cache.delete(key)


def access_token_info_get(*, account: ProviderAccount) -> AccessToken:
    """The cached token with its API domain (the CRM client calls the domain Zoho issued the token for)."""
    refresh_token = _refresh_token_of(account)
    keys = _keys(account)
    return token_single_flight(
        lock_key=keys.lock,
        cached=lambda: _cached(keys),
        refresh=lambda: _refresh(account, keys, refresh_token),
        before_try=lambda: _raise_if_blocked(keys),
        timed_out=lambda: ZohoTokenUnavailable("timed out waiting for another process to refresh the Zoho token"),
        wait_seconds=zoho_settings.TOKEN_LOCK_WAIT_SECONDS,
        lock_ttl=_lock_ttl(),
        poll_seconds=_POLL_SECONDS,
    )


def token_cache_clear(*, account: ProviderAccount) -> None:
    """Drop everything cached for an account's refresh token (after disconnect or reconnect)."""
    keys = _keys(account)
    cache.delete_many([keys.token, keys.dead, keys.cooldown])


# --- internals ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Keys:
    token: str
    lock: str
    mints: str
    cooldown: str
    dead: str


def _keys(account: ProviderAccount) -> _Keys:
    # Keyed by the refresh token itself (hashed), because Zoho's limits are per refresh token: a reconnect gets
    # a fresh slate and two accounts sharing one refresh token share one budget.
    refresh = reveal(account.refresh_token)
    digest = hashlib.sha256(f"{account.client_id}\0{refresh}".encode()).hexdigest()[:32]
    prefix = f"zoho:token:{digest}"
    return _Keys(f"{prefix}:access", f"{prefix}:lock", f"{prefix}:mints", f"{prefix}:cooldown", f"{prefix}:dead")


def reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


def _refresh_token_of(account: ProviderAccount) -> str:
    if account.kind not in ZOHO_KINDS:
        raise ValueError(f"{account} is not a Zoho account")
    if not account.refresh_token or not account.client_secret:
        raise ZohoReauthRequired(f"{account.name} is not connected to Zoho (no refresh token)")
    return reveal(account.refresh_token)


def _lock_ttl() -> int:
    # Longer than one refresh can take (connect + read timeouts), short enough that a crashed holder is forgotten.
    return int(zoho_settings.ACCOUNTS_TIMEOUT_SECONDS * 2 + 10)


def _cached(keys: _Keys) -> AccessToken | None:
    value = cache.get(keys.token)
    if not isinstance(value, dict):
        return None
    if value["expires_at"] - zoho_settings.TOKEN_EXPIRY_MARGIN_SECONDS <= time.time():
        return None
    return AccessToken(value["token"], value["api_domain"], value["expires_at"])


def _raise_if_blocked(keys: _Keys) -> None:
    dead = cache.get(keys.dead)
    if dead:
        raise ZohoReauthRequired(dead)
    cooldown = cache.get(keys.cooldown)
    if isinstance(cooldown, dict):
        retry_after = max(cooldown["until"] - time.time(), 0.0)
        raise ZohoTokenUnavailable(cooldown["reason"], retry_after=retry_after)


def _cool_down(keys: _Keys, reason: str, seconds: float) -> ZohoTokenUnavailable:
    seconds = max(seconds, 1.0)
    cache.set(keys.cooldown, {"reason": reason, "until": time.time() + seconds}, timeout=int(seconds) + 1)
    return ZohoTokenUnavailable(reason, retry_after=seconds)


def _spend_mint(keys: _Keys) -> None:
    """Count a refresh against our own budget (under the lock, so the read-modify-write is safe)."""
    now = time.time()
    window = zoho_settings.TOKEN_REFRESH_WINDOW_SECONDS
    mints = [moment for moment in cache.get(keys.mints) or [] if moment > now - window]
    if len(mints) >= zoho_settings.TOKEN_REFRESHES_PER_WINDOW:
        raise _cool_down(
            keys,
            f"Zoho token refresh budget used up ({len(mints)} in {window} s); not asking Zoho again yet",
            mints[0] + window - now,
        )
    mints.append(now)
    cache.set(keys.mints, mints, timeout=window + 60)


_session = None


def _http():
    global _session
    if _session is None:
        timeout = (zoho_settings.HTTP_CONNECT_TIMEOUT_SECONDS, zoho_settings.ACCOUNTS_TIMEOUT_SECONDS)
        # No retries: a refresh that reached Zoho may have minted a token, and each one counts against the 10.
        _session = make_session("zoho-accounts", timeout=timeout, retries=0)
    return _session


def _refresh(account: ProviderAccount, keys: _Keys, refresh_token: str) -> AccessToken:
    _spend_mint(keys)
    accounts_url = account.accounts_url.rstrip("/")
    try:
        response = _http().post(
            f"{accounts_url}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": account.client_id,
                "client_secret": reveal(account.client_secret),
                "refresh_token": refresh_token,
            },
        )
    except outbound.OutboundRefused as exc:
        # The account's accounts server may not be called (it resolves to a private address): a person must fix
        # the account, so the connection says so, and nothing retries it as an outage.
        message = f"{exc.message} Fix the account's Zoho accounts server."
        _report(account, ok=False, message=message)
        raise ZohoReauthRequired(message) from exc
    except requests.RequestException as exc:
        raise ZohoTokenUnavailable(f"Zoho accounts server {accounts_url} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise ZohoTokenUnavailable(f"Zoho accounts server answered HTTP {response.status_code}")
    try:
        body: Any = response.json()
    except ValueError:
        raise ZohoTokenUnavailable(f"Zoho accounts server answered HTTP {response.status_code} without JSON") from None
    if not isinstance(body, dict):
        raise ZohoTokenUnavailable("Zoho accounts server answered an unexpected body")
    # Zoho answers most token errors with HTTP 200 and an `error` key, so the body decides, never the status.
    if body.get("error") or not body.get("access_token"):
        raise _token_error(account, keys, body, response.status_code)
    expires_in = _expires_in(body)
    api_domain = _api_domain_of(account, body)
    token = AccessToken(body["access_token"], api_domain, time.time() + expires_in)
    ttl = int(expires_in - zoho_settings.TOKEN_EXPIRY_MARGIN_SECONDS)
    if ttl > 0:
        cache.set(keys.token, {"token": token.token, "api_domain": api_domain, "expires_at": token.expires_at}, ttl)
    _report(account, ok=True, api_domain=api_domain)
    return token


def _api_domain_of(account: ProviderAccount, body: dict[str, Any]) -> str:
    """The API domain to call with this token: Zoho's answer if it is a Zoho API domain (or the account's own, or
    the operator's emulator), else the account's stored one. Never a host the answer alone made up."""
    stored = (account.api_domain or "").rstrip("/")
    answered = outbound.origin_of(str(body.get("api_domain") or ""))
    if not answered or answered == outbound.origin_of(stored):
        return stored or answered
    trusted = {outbound.origin_of(account.accounts_url or "")} if account.custom_endpoints else set()
    if outbound.vendor_url_allowed(kind="zoho_crm", field="api_domain", url=answered) or answered in trusted:
        return answered
    logger.warning("zoho.token.api_domain_refused", account_id=account.pk, api_domain=answered)
    return stored


def _expires_in(body: dict[str, Any]) -> float:
    # Older Zoho answers carried milliseconds in `expires_in` and seconds in `expires_in_sec`.
    if body.get("expires_in_sec"):
        return float(body["expires_in_sec"])
    value = float(body.get("expires_in") or 3600)
    return value / 1000 if value > 86_400 else value


def _token_error(account: ProviderAccount, keys: _Keys, body: dict[str, Any], status: int) -> ZohoError:
    code = str(body.get("error") or "no access_token").strip()
    lowered = code.lower().replace(" ", "_")
    description = str(body.get("error_description") or "")
    if lowered == "access_denied" or "too many" in description.lower():
        reason = f"Zoho is throttling token requests for {account.name} ({code}); retrying later"
        logger.warning("zoho.token.throttled", account_id=account.pk)
        return _cool_down(keys, reason, zoho_settings.TOKEN_THROTTLE_COOLDOWN_SECONDS)
    if lowered in ("invalid_code", "invalid_token", "invalid_refresh_token"):
        message = f"Zoho refused the refresh token of {account.name} ({code}): it was revoked; reconnect Zoho"
    elif lowered == "invalid_client":
        message = (
            f"Zoho Accounts at {account.accounts_url} does not know client {account.client_id} ({code}): "
            "wrong data centre, or the client was deleted; reconnect Zoho"
        )
    elif lowered == "invalid_client_secret":
        message = f"Zoho refused the client secret of {account.name} ({code}); update it and reconnect"
    else:
        logger.error("zoho.token.unexpected_error", account_id=account.pk, code=code, status=status)
        return ZohoTokenUnavailable(f"Zoho token endpoint answered {code!r} (HTTP {status})")
    cache.set(keys.dead, message, timeout=DEAD_TOKEN_MEMORY_SECONDS)
    _report(account, ok=False, message=message)
    return ZohoReauthRequired(message)


def _report(account: ProviderAccount, *, ok: bool, message: str = "", api_domain: str = "") -> None:
    """Tell the account's connection what happened. Best effort: a token in hand matters more than the record."""
    from crm.providers.zoho import services

    try:
        if ok:
            services.connection_token_refreshed(account=account, api_domain=api_domain)
        else:
            services.connection_needs_reauth(account=account, reason=message)
    except Exception:  # the broker must answer even if the connection row cannot be written right now
        logger.exception("zoho.token.connection_update_failed", account_id=account.pk)
