"""How every Zoho CRM call is made: budget, concurrency slot, token, timeout, retries, typed errors.

One call, in order:
1. its cost is counted against the organization's credit budget (refused early for background work);
2. one of the organization's concurrency slots is held for the call;
3. a token comes from the broker, and the call goes to the API domain Zoho issued that token for;
4. 401 INVALID_TOKEN: the token is invalidated and the call repeated once with a fresh one; a second 401 marks
   the connection as needing re-authorisation (an alert) and raises ZohoAuthError;
5. 429 (not the credit pool), 5xx, timeouts and connection failures are retried with exponential backoff and
   jitter: waits of 1, 2, 4, 8, 16 s (ZOHO_RETRY_BASE_SECONDS * 2**n, plus up to ZOHO_RETRY_JITTER of it), five
   retries, then ZohoRateLimited / ZohoUnavailable. Writes that are not idempotent (inserts) are retried only
   when Zoho certainly did not process them (429, connection refused), never after a 5xx or read timeout,
   because a second insert would be a duplicate task or note. Reads that Zoho takes as POST (COQL: the query is
   the body) change nothing, so they are retried like GETs (READ_POST_PATHS); a single 5xx or timeout on one
   page of a sync no longer fails the whole run.
`sleep` and `rng` are injectable so tests check the schedule without waiting 31 s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import requests
import structlog

from core.http import make_session, request_never_reached
from core.outbound import OutboundRefused
from crm.providers.zoho import limits, tokens
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoCreditsExhausted,
    ZohoError,
    ZohoRateLimited,
    ZohoRecordError,
    ZohoRequestError,
    ZohoScopeError,
    ZohoUnavailable,
)
from crm.providers.zoho.limits import Priority
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# POST endpoints that only read: repeating one is harmless, so it follows the GET rule. Writes keep theirs.
READ_POST_PATHS = frozenset({"/crm/v8/coql"})
NOT_CHARGED_STATUSES = frozenset({401, 429}) | {status for status in range(500, 600)}


@dataclass
class ZohoResponse:
    """A successful answer: `body` is None for 204 (Zoho's "nothing matched")."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


def backoff_delays(*, attempts: int, base: float, jitter: float, rng: random.Random) -> list[float]:
    """The waits before each retry: base * 2**n plus a random share (up to `jitter`) of it."""
    return [base * 2**n * (1 + rng.uniform(0, jitter)) for n in range(attempts)]


_session: requests.Session | None = None


def _default_session() -> requests.Session:
    global _session
    if _session is None:
        timeout = (zoho_settings.HTTP_CONNECT_TIMEOUT_SECONDS, zoho_settings.HTTP_READ_TIMEOUT_SECONDS)
        _session = make_session("zoho-crm", timeout=timeout, retries=0)  # retries are ours, below
    return _session


class ZohoTransport:
    """The call mechanism of ZohoClient; one instance per account and priority (cheap to create)."""

    def __init__(
        self,
        *,
        account: ProviderAccount,
        priority: Priority = Priority.BACKGROUND,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if account.kind != "zoho_crm":
            raise ValueError(f"{account} is not a Zoho CRM account")
        self.account = account
        self.priority = Priority(priority)
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.session = session or _default_session()
        self._credit_limit: int | None = None

    # --- limits ---------------------------------------------------------------------------------------------
    @property
    def organization_id(self) -> int:
        return self.account.organization_id

    def credit_limit(self) -> int:
        if self._credit_limit is None:
            from crm.providers.zoho.models import ZohoConnection

            override = (
                ZohoConnection.objects.for_organization(self.account.organization)
                .filter(account=self.account)
                .values_list("credit_limit", flat=True)
                .first()
            )
            self._credit_limit = limits.credit_limit_for(organization_id=self.organization_id, override=override)
        return self._credit_limit

    # --- the call -------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        cost: int = 1,
        idempotent: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        raw: bool = False,
        into: IO[bytes] | None = None,
    ) -> ZohoResponse:
        """Call `path` (e.g. "/crm/v8/users") on the account's API domain; see the module docstring. `into`: a
        successful answer's body is streamed into that file (rewritten on a retry), not held in memory."""
        if idempotent is None:
            idempotent = method.upper() in ("GET", "PUT", "DELETE", "PATCH") or (
                method.upper() == "POST" and path in READ_POST_PATHS
            )
        delays = backoff_delays(
            attempts=zoho_settings.RETRY_ATTEMPTS,
            base=zoho_settings.RETRY_BASE_SECONDS,
            jitter=zoho_settings.RETRY_JITTER,
            rng=self.rng,
        )
        refreshed = False
        retry = 0
        while True:
            try:
                return self._attempt(method, path, params, json, headers, cost, timeout, raw, idempotent, into)
            except _AuthRetry as exc:
                if refreshed:
                    raise self._needs_reauth(exc.error) from None
                refreshed = True  # one refresh and one retry, not counted as a backoff retry
                tokens.access_token_invalidate(account=self.account, token=exc.token)
            except _Retry as exc:
                if retry >= len(delays):
                    raise exc.error from None
                delay = max(delays[retry], min(exc.retry_after or 0.0, 60.0))
                logger.info(
                    "zoho.call.retry",
                    path=path,
                    attempt=retry + 1,
                    delay=round(delay, 2),
                    reason=exc.error.code,
                )
                self.sleep(delay)
                retry += 1

    def _attempt(self, method, path, params, json, headers, cost, timeout, raw, idempotent, into) -> ZohoResponse:
        organization_id = self.organization_id
        limits.credits_spend(
            organization_id=organization_id, cost=cost, priority=self.priority, limit=self.credit_limit()
        )
        charged = False
        try:
            token = self._token()
            call_timeout = timeout or (
                zoho_settings.HTTP_CONNECT_TIMEOUT_SECONDS,
                zoho_settings.HTTP_READ_TIMEOUT_SECONDS,
            )
            hold = sum(call_timeout) if isinstance(call_timeout, tuple) else call_timeout
            with limits.concurrency_slot(organization_id=organization_id, hold_seconds=hold):
                try:
                    response = self.session.request(
                        method,
                        f"{token.api_domain}{path}",
                        params=params,
                        json=json,
                        headers={"Authorization": f"Zoho-oauthtoken {token.token}", **(headers or {})},
                        timeout=call_timeout,
                        **({"stream": True} if into is not None else {}),
                    )
                    if into is not None and 200 <= response.status_code < 300:
                        _body_copy(response, into)
                except OutboundRefused as exc:
                    # The account's API domain is not one we may call: nothing was sent, and only a person can
                    # fix the account, so it is an authorization problem, not an outage to retry.
                    raise ZohoAuthError(f"Zoho endpoint refused: {exc}", code="ENDPOINT_REFUSED") from None
                except requests.RequestException as exc:
                    if request_never_reached(exc):
                        raise _Retry(
                            ZohoUnavailable(f"Zoho unreachable: {type(exc).__name__}", code="CONNECT")
                        ) from None
                    charged = True  # Zoho may have done (and charged) the work before the answer was lost
                    error = ZohoUnavailable(f"Zoho did not answer: {type(exc).__name__}", code="TIMEOUT")
                    if idempotent:
                        raise _Retry(error) from None
                    raise error from None
            charged = response.status_code not in NOT_CHARGED_STATUSES
            return self._answer(response, token.token, idempotent, raw, streamed=into is not None)
        finally:
            if not charged:
                limits.credits_refund(organization_id=organization_id, cost=cost)

    def _token(self) -> tokens.AccessToken:
        try:
            return tokens.access_token_info_get(account=self.account)
        except tokens.ZohoReauthRequired as exc:
            raise ZohoAuthError(str(exc), code="REAUTH_REQUIRED") from exc
        except tokens.ZohoTokenUnavailable as exc:
            raise ZohoUnavailable(str(exc), code="TOKEN_UNAVAILABLE", retry_after=exc.retry_after) from exc

    def _answer(
        self, response: requests.Response, token: str, idempotent: bool, raw: bool, *, streamed: bool = False
    ) -> ZohoResponse:
        status = response.status_code
        if status == 204 or (streamed and 200 <= status < 300):  # a streamed body is in the caller's file
            return ZohoResponse(status, None, dict(response.headers))
        if 200 <= status < 300:
            if raw:
                return ZohoResponse(status, None, dict(response.headers), response.content)
            return ZohoResponse(status, _json(response), dict(response.headers))
        body = _json(response)
        code, message, details = _error_fields(body)
        if status == 401:
            if code == "OAUTH_SCOPE_MISMATCH":
                raise self._needs_reauth(ZohoScopeError(f"Zoho: {message}", status=status, code=code, details=details))
            raise _AuthRetry(ZohoAuthError(f"Zoho refused the token: {message}", status=status, code=code), token)
        if status == 207:  # mixed per-record results of a write: the caller reads them
            return ZohoResponse(status, body, dict(response.headers))
        if status == 400 and isinstance(body, dict) and isinstance(body.get("data"), list):
            # Per-record errors of a write that failed entirely (and Deleted Records' wrapped 400s).
            raise ZohoRecordError(f"Zoho refused the request: {code} {message}", results=body["data"], status=status)
        if status == 429:
            if _credits_exhausted(message, details):
                raise ZohoCreditsExhausted(f"Zoho: {message}", status=status, code=code, details=details)
            raise _Retry(
                ZohoRateLimited(f"Zoho throttled the call: {message}", status=status, code=code, details=details),
                retry_after=_retry_after(response),
            )
        if status in RETRYABLE_STATUSES:
            error = ZohoUnavailable(f"Zoho answered HTTP {status}: {message}", status=status, code=code)
            if idempotent:
                raise _Retry(error)
            raise error
        raise ZohoRequestError(f"Zoho refused the request: {code} {message}", status=status, code=code, details=details)

    def _needs_reauth(self, error: ZohoError) -> ZohoError:
        from crm.providers.zoho import services

        reason = f"Zoho refused a fresh token ({error.code}): {error.message}"
        services.connection_needs_reauth(account=self.account, reason=reason)
        return error


class _Retry(Exception):
    def __init__(self, error: ZohoError, *, retry_after: float | None = None):
        self.error = error
        self.retry_after = retry_after


class _AuthRetry(Exception):
    def __init__(self, error: ZohoError, token: str):
        self.error = error
        self.token = token


def _body_copy(response: requests.Response, into: IO[bytes]) -> None:
    into.seek(0)
    into.truncate()
    for chunk in response.iter_content(chunk_size=1 << 20):
        into.write(chunk)
    into.flush()


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_fields(body: Any) -> tuple[str, str, dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        # Deleted Records wraps its 400s in data[] (docs/vendors/zoho-crm.md, Deleted records) ...
        body = body["data"][0]
    elif isinstance(body, dict) and isinstance(body.get("watch"), list) and body["watch"]:
        # ... and so do the Notifications (watch) calls, per item (docs/vendors/zoho-crm.md, Notifications)
        body = body["watch"][0]
    if not isinstance(body, dict):
        return "", "no error body", {}
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    return str(body.get("code") or ""), str(body.get("message") or ""), details


def _credits_exhausted(message: str, details: dict[str, Any]) -> bool:
    return "credits_limit" in details or "credit" in message.lower()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
