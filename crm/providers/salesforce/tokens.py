"""The Salesforce token broker: one access token per account, shared by every process, refreshed by one at a time.

Why one at a time (docs/vendors/salesforce.md, Auth): with refresh-token rotation each refresh returns a new
refresh token and kills the old one, so two processes refreshing with the same stored token means one of them gets
`invalid_grant`; and a refresh ends the previous session, which kills every open query locator of every process.
So the access token lives in Django's cache (Redis in production) until Salesforce refuses it (401
INVALID_SESSION_ID: `access_token_invalidate`, then the next `access_token_get` refreshes), a refresh happens under
a cache lock (an atomic `add` with a TTL, so a crashed holder frees it) that every process honours, and waiters
pick up the holder's token. The refresh token is read from the database inside the lock (another process may have
rotated it a moment ago), and a rotated one is stored encrypted before anything else happens, committed even when
the caller is inside a transaction that later rolls back (`_refresh_token_store`).

The token answer's `instance_url` is where the org's data lives; it is checked on every refresh by the connect
flow's rule (hosts.instance_url_check: a Salesforce instance by core.outbound's registered hosts,
*.my.salesforce.com; an emulator only on an account an operator set custom_endpoints on). A foreign host is
refused (SalesforceAuthError, the connection needs_reauth) and never called.

No database transaction is held across the HTTP refresh: the lock is a cache key, not a row.

Errors are the family's (errors.py): SalesforceAuthError (a person must reconnect: invalid_grant, unknown client,
refused instance_url; the connection says needs_reauth) and SalesforceUnavailable (the login host is down or slow;
`retry_after`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
import structlog

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db import connection as db_connection

from core import outbound
from core.secrets import Secret
from crm import token_lock
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import SalesforceAuthError, SalesforceError, SalesforceUnavailable
from crm.providers.salesforce.transport import http_session
from crm.token_lock import token_single_flight

if TYPE_CHECKING:
    from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

KIND = "salesforce"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 (a path, not a secret)
# A refresh token Salesforce refused stays refused; remembering that spares Salesforce (and the logs) twenty more.
DEAD_TOKEN_MEMORY_SECONDS = 3600
# invalid_grant and the rest that only a person can fix (a wrong client, an inactive user or org).
REAUTH_ERRORS = frozenset(
    {"invalid_grant", "invalid_client_id", "invalid_client", "unauthorized_client", "inactive_user", "inactive_org"}
)
_POLL_SECONDS = (0.02, 0.08)


@dataclass(frozen=True)
class AccessToken:
    """A cached access token, the org's instance URL it works on, and the identity URL of its user."""

    token: str
    instance_url: str
    identity_url: str = ""
    issued_at: float = 0.0  # epoch seconds, as Salesforce said

    @property
    def access_token(self) -> str:
        """The token itself, by the name Salesforce's answer gives it."""
        return self.token


# --- public interface ---------------------------------------------------------------------------------------------
def access_token_get(*, account: ProviderAccount) -> AccessToken:
    """A live access token for a Salesforce account, from the shared cache or refreshed under the cross-process
    lock."""
    _check_account(account)
    keys = _keys(account)
    return token_single_flight(
        lock_key=keys.lock,
        cached=lambda: _cached(keys),
        refresh=lambda: _refresh(account, keys),
        before_try=lambda: _raise_if_cooling_down(keys),
        timed_out=lambda: SalesforceUnavailable(
            "timed out waiting for another process to refresh the Salesforce token", error_code="TOKEN_LOCK"
        ),
        wait_seconds=salesforce_settings.TOKEN_LOCK_WAIT_SECONDS,
        lock_ttl=_lock_ttl(),
        poll_seconds=_POLL_SECONDS,
    )


def access_token_peek(*, account: ProviderAccount) -> AccessToken | None:
    """The cached access token, if any, without refreshing."""
    return _cached(_keys(account))


def access_token_invalidate(*, account: ProviderAccount, token: str) -> None:
    """Forget the cached token after Salesforce refused it (401), but only if it is still `token`, so twenty
    workers that saw the same 401 cause one refresh, not twenty."""
    key = _keys(account).access
    cached = cache.get(key)
    if isinstance(cached, dict) and cached.get("token") == token:
        cache.delete(key)


def token_cache_clear(*, account: ProviderAccount) -> None:
    """Drop everything cached for an account (after disconnect or reconnect)."""
    keys = _keys(account)
    cache.delete_many([keys.access, keys.cooldown, _dead_key(account, reveal(account.refresh_token))])


def _answer_apply(account: ProviderAccount, body: dict[str, Any]) -> AccessToken:
    """Take a successful refresh answer: store a new refresh token (encrypted, durably) first, check
    `instance_url` (SalesforceAuthError if it is not a host we may call), cache the access token for every process,
    and tell the connection (healthy; api_domain follows the instance)."""
    new_refresh = str(body.get("refresh_token") or "")
    if new_refresh and new_refresh != reveal(account.refresh_token):
        _refresh_token_store(account, new_refresh)
    instance_url = instance_url_accepted(account=account, url=str(body.get("instance_url") or ""))
    token = AccessToken(
        token=str(body["access_token"]),
        instance_url=instance_url,
        identity_url=str(body.get("id") or ""),
        issued_at=_issued_at(body),
    )
    cache.set(
        _keys(account).access,
        {
            "token": token.token,
            "instance_url": token.instance_url,
            "identity_url": token.identity_url,
            "issued_at": token.issued_at,
        },
        timeout=salesforce_settings.ACCESS_TOKEN_CACHE_SECONDS,
    )
    _connection_refreshed(account, instance_url)
    return token


def instance_url_accepted(*, account: ProviderAccount, url: str) -> str:
    """The origin of a token answer's instance_url if data calls may go there (the connect flow's rule,
    hosts.instance_url_check: a Salesforce instance by core.outbound's registered hosts, *.my.salesforce.com; for an
    account an operator pointed at an emulator, that emulator), else SalesforceAuthError, and the connection says
    needs_reauth: a person must look at it. Nothing is ever sent to a refused host."""
    from crm.errors import CrmAuthError
    from crm.providers.salesforce.hosts import instance_url_check

    login = outbound.origin_of(account.accounts_url or "")
    try:
        return instance_url_check(account=account, login=login, instance_url=url)
    except CrmAuthError:
        pass
    message = (
        f"Salesforce's token answer named the instance {url or '(none)'!r}, which is not a Salesforce host; "
        "nothing was sent there. Reconnect Salesforce, or ask an operator to check the account."
    )
    logger.error("salesforce.token.instance_url_refused", account_id=account.pk, instance_url=url)
    connection_needs_reauth(account=account, reason=message)
    raise SalesforceAuthError(message, error_code="INSTANCE_URL_REFUSED")


def reveal(value: Any) -> str:
    """A stored secret's plaintext: a `Secret` once loaded from the database, a str on an unsaved instance."""
    if not value:
        return ""
    return value.reveal() if hasattr(value, "reveal") else str(value)


# --- internals ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Keys:
    access: str
    lock: str
    cooldown: str


def _keys(account: ProviderAccount) -> _Keys:
    # Per account, not per refresh token: rotation changes the refresh token at every refresh, and the lock must
    # hold across that change.
    prefix = f"salesforce:token:{account.pk}"
    return _Keys(f"{prefix}:access", f"{prefix}:lock", f"{prefix}:cooldown")


def _dead_key(account: ProviderAccount, refresh_token: str) -> str:
    digest = hashlib.sha256(f"{account.client_id}\0{refresh_token}".encode()).hexdigest()[:32]
    return f"salesforce:token:dead:{digest}"


def _check_account(account: ProviderAccount) -> None:
    if account.kind != KIND:
        raise ValueError(f"{account} is not a Salesforce account")
    if not account.refresh_token or not account.client_id:
        raise SalesforceAuthError(f"{account.name} is not connected to Salesforce (no refresh token)")


def _lock_ttl() -> int:
    # Longer than one refresh can take (connect + read timeouts), short enough that a crashed holder is forgotten.
    return int(sum(salesforce_settings.TOKEN_TIMEOUT) + 10)


def _cached(keys: _Keys) -> AccessToken | None:
    value = cache.get(keys.access)
    if not isinstance(value, dict) or not value.get("token"):
        return None
    return AccessToken(value["token"], value["instance_url"], value.get("identity_url", ""), value.get("issued_at", 0))


def _raise_if_cooling_down(keys: _Keys) -> None:
    running = token_lock.cooldown_left(keys.cooldown)
    if running is not None:
        raise SalesforceUnavailable(running[0], error_code="TOKEN_UNAVAILABLE", retry_after=running[1])


def _cool_down(keys: _Keys, reason: str, *, status: int | None = None) -> SalesforceUnavailable:
    seconds = token_lock.cooldown_start(keys.cooldown, reason, salesforce_settings.TOKEN_FAILURE_COOLDOWN_SECONDS)
    return SalesforceUnavailable(reason, status=status, error_code="TOKEN_UNAVAILABLE", retry_after=seconds)


def _stored_credentials(account: ProviderAccount) -> tuple[str, str]:
    """The refresh token and client secret as the database holds them now (another process may have rotated the
    refresh token since `account` was loaded); the in-memory account is brought up to date."""
    from studios.models import ProviderAccount

    row = ProviderAccount.unscoped_objects.filter(pk=account.pk).values_list("refresh_token", "client_secret").first()
    if row is None:  # an unsaved account (nothing to be out of date with)
        return reveal(account.refresh_token), reveal(account.client_secret)
    refresh_token, client_secret = (reveal(value) for value in row)
    if refresh_token and refresh_token != reveal(account.refresh_token):
        account.refresh_token = Secret(refresh_token)
    return refresh_token, client_secret


def _refresh(account: ProviderAccount, keys: _Keys, *, second_try: bool = False) -> AccessToken:
    refresh_token, client_secret = _stored_credentials(account)
    if not refresh_token:
        raise SalesforceAuthError(f"{account.name} is not connected to Salesforce (no refresh token)")
    dead = cache.get(_dead_key(account, refresh_token))
    if dead:
        raise SalesforceAuthError(str(dead), error_code="invalid_grant")
    login_url = (account.accounts_url or "https://login.salesforce.com").rstrip("/")
    form = {"grant_type": "refresh_token", "client_id": account.client_id, "refresh_token": refresh_token}
    if client_secret:
        form["client_secret"] = client_secret
    try:
        response = http_session("salesforce-login").post(
            f"{login_url}{TOKEN_PATH}",
            data=form,
            headers={"Accept": "application/json"},
            timeout=salesforce_settings.TOKEN_TIMEOUT,
        )
    except outbound.OutboundRefused as exc:
        # The login host may not be called (it resolves to a private address): a person must fix the account.
        message = f"{exc.message} Fix the account's Salesforce login host."
        connection_needs_reauth(account=account, reason=message)
        raise SalesforceAuthError(message, error_code="ENDPOINT_REFUSED") from exc
    except requests.RequestException as exc:
        raise _cool_down(keys, f"Salesforce login host {login_url} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        status = response.status_code
        raise _cool_down(keys, f"Salesforce login host answered HTTP {status}", status=status)
    try:
        body: Any = response.json()
    except ValueError:
        raise _cool_down(keys, f"Salesforce login host answered HTTP {response.status_code} without JSON") from None
    if not isinstance(body, dict):
        raise _cool_down(keys, "Salesforce login host answered an unexpected body")
    if response.status_code == 200 and body.get("access_token"):
        try:
            token = _answer_apply(account, body)
        except SalesforceAuthError as exc:  # a refused instance_url: no asking again with every call
            cache.set(_dead_key(account, reveal(account.refresh_token)), exc.message, DEAD_TOKEN_MEMORY_SECONDS)
            raise
        logger.info("salesforce.token.refreshed", account_id=account.pk, rotated=bool(body.get("refresh_token")))
        return token
    code = str(body.get("error") or f"HTTP {response.status_code}")
    description = str(body.get("error_description") or "")
    if code in REAUTH_ERRORS:
        if code == "invalid_grant" and not second_try and _stored_credentials(account)[0] != refresh_token:
            # Rotated by another process whose lock had expired: the newer token is the live one.
            return _refresh(account, keys, second_try=True)
        message = _reauth_message(account, code, description)
        cache.set(_dead_key(account, refresh_token), message, timeout=DEAD_TOKEN_MEMORY_SECONDS)
        connection_needs_reauth(account=account, reason=message)
        raise SalesforceAuthError(message, status=response.status_code, error_code=code, body=body)
    logger.error("salesforce.token.unexpected_error", account_id=account.pk, code=code, status=response.status_code)
    raise _cool_down(keys, f"Salesforce token endpoint answered {code!r}: {description}", status=response.status_code)


def _reauth_message(account: ProviderAccount, code: str, description: str) -> str:
    if code == "invalid_grant":
        return (
            f"Salesforce refused the refresh token of {account.name} ({code}: {description or 'expired or revoked'}): "
            "it was revoked, expired, or replaced by a newer one; reconnect Salesforce"
        )
    if code in ("invalid_client_id", "invalid_client", "unauthorized_client"):
        return (
            f"Salesforce at {account.accounts_url} refused client {account.client_id} ({code}: {description}): "
            "wrong login host, or the app's consumer key or secret changed; update it and reconnect"
        )
    return f"Salesforce refused {account.name} ({code}: {description}); reconnect Salesforce"


def _issued_at(body: dict[str, Any]) -> float:
    try:
        return int(body.get("issued_at") or 0) / 1000  # milliseconds, as a string
    except (TypeError, ValueError):
        return 0.0


def _refresh_token_store(account: ProviderAccount, value: str) -> None:
    """Store a rotated refresh token (encrypted): the old one is dead, so losing this one loses the connection.

    Inside a caller's transaction (a view under ATOMIC_REQUESTS) the write goes through a second database connection
    in autocommit, so a rollback of the caller's work cannot take it back; the caller's own transaction is updated
    too, so it reads what it wrote."""
    from studios.models import ProviderAccount

    account.refresh_token = Secret(value)
    if db_connection.in_atomic_block:
        _store_outside_transaction(account.pk, value)
    ProviderAccount.unscoped_objects.filter(pk=account.pk).update(refresh_token=Secret(value))


def _store_outside_transaction(account_pk: int, value: str) -> bool:
    from studios.models import ProviderAccount

    field = ProviderAccount._meta.get_field("refresh_token")
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        quote = other.ops.quote_name
        with other.cursor() as cursor:
            if other.vendor == "postgresql":
                cursor.execute("SET lock_timeout = '2s'")  # the caller's transaction may hold the row
            cursor.execute(
                f"UPDATE {quote(ProviderAccount._meta.db_table)} SET {quote(field.column)} = %s "  # noqa: S608
                f"WHERE {quote('id')} = %s",
                [field.get_prep_value(value), account_pk],
            )
            return cursor.rowcount == 1  # 0: the row is the caller's own, not committed yet
    except DatabaseError:
        logger.warning("salesforce.token.rotated_store_outside_transaction_failed", account_id=account_pk)
        return False
    finally:
        other.close()


# --- the connection row (state shown in the admin; services.py writes it) ----------------------------------------
def connection_needs_reauth(*, account: ProviderAccount, reason: str) -> None:
    """Salesforce refused the refresh token (or the account): a person must reconnect. Best effort: the caller's
    error matters more than the record (services.py's write is a savepoint, so a failure never breaks the caller's
    transaction)."""
    from crm.providers.salesforce import services

    try:
        services.connection_needs_reauth(account=account, reason=reason)
    except DatabaseError:
        logger.exception("salesforce.connection.update_failed", account_id=account.pk)


def _connection_refreshed(account: ProviderAccount, instance_url: str) -> None:
    from crm.providers.salesforce import services

    try:
        services.connection_token_refreshed(account=account, instance_url=instance_url)
    except DatabaseError:
        logger.exception("salesforce.connection.update_failed", account_id=account.pk)


__all__ = [
    "AccessToken",
    "SalesforceAuthError",
    "SalesforceError",
    "SalesforceUnavailable",
    "access_token_get",
    "access_token_invalidate",
    "access_token_peek",
    "connection_needs_reauth",
    "instance_url_accepted",
    "reveal",
    "token_cache_clear",
]
