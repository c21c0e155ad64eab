"""The one Salesforce REST client: every call the product makes to an org goes through `SalesforceClient.request`.

    client = SalesforceClient(account, priority=Priority.BACKGROUND)
    client.get("sobjects/Lead/describe").json()                    # /services/data/v66.0/sobjects/Lead/describe
    client.patch(f"sobjects/Lead/{lead_id}", json={"Status": "Working"})          # 204
    client.patch("sobjects/Task/Leadline_Message_Id__c/m-1", json={...}, expect=(200, 201, 204))
    for batch in client.query_batches("SELECT Id, SystemModstamp FROM Lead WHERE ... ORDER BY SystemModstamp, Id"):
        ...                                                        # lists of records, up to 2,000 each

How the provider uses it (crm/providers/salesforce/provider.py and friends):
- One client per provider instance: `SalesforceClient(account, priority=priority)`; `priority` is the provider's
  (Priority.BACKGROUND for sync, timeline and automation; INTERACTIVE when a person waits).
- Paths are relative to `/services/data/v<SALESFORCE_API_VERSION>/` unless they start with "/" (then relative to
  the org's instance_url, e.g. "/services/oauth2/userinfo"); an absolute URL is allowed only on the instance or
  the login host (a token never goes anywhere else).
- `request(method, path, *, params, json, data, headers, expect, idempotent, timeout, stream)` returns a
  `SalesforceResponse` (status, headers, content; `.json()`, `.text`, `.header(name)`) for any 2xx answer and for
  the statuses in `expect` (e.g. `expect=(300,)` to read an upsert's candidates yourself); anything else raises
  one of errors.py's family. Wrap provider methods in `errors.translated` (or call `errors.to_crm_error`), so
  callers see crm.errors types only.
- `query_batches(soql, *, include_deleted=False, batch_size=None)` yields the batches of one query, following
  nextRecordsUrl with the session that opened the query. When that locator dies (its session ended: any token
  refresh by any process ends it; or Salesforce evicted it) it raises `SalesforceLocatorLost` after making sure a
  live token is ready: restart the query from the last record you kept (your keyset: `SystemModstamp > :t OR
  (SystemModstamp = :t AND Id > :id)`); never follow the dead locator again. Cap your restarts (a few): a
  locator that dies every time means something else is wrong. If the grant itself is dead you get
  SalesforceAuthError instead. `query_records(soql)` returns a whole (small) result as one list and restarts it
  from the start by itself, since nothing was handed out yet (e.g. `WHERE Id IN (...)` chunks).
- Long URLs: a URL longer than SALESFORCE_URI_MAX_BYTES is refused before sending (SalesforceUriTooLong); split
  field lists and id lists under `uri_budget(...)` bytes.
- Allocation: a BACKGROUND client raises SalesforceLimitExceeded (-> CrmQuotaExhausted with retry_after) before
  calling once the org's usage reaches SALESFORCE_BACKGROUND_SHARE of its allocation, or while the org is blocked
  after a 403 REQUEST_LIMIT_EXCEEDED (SalesforceConnection.limit_blocked_until); an INTERACTIVE one goes on.
- Retries: 5xx, 429, UNABLE_TO_LOCK_ROW, the concurrent long-request limit (403 REQUEST_LIMIT_EXCEEDED
  "ConcurrentPerOrgLongTxn"), timeouts and connection failures are retried with backoff (waits of
  1, 2, 4, 8 s plus jitter, `sleep` injectable) when repeating is safe: GET/PATCH/PUT/DELETE, or `idempotent=True`
  (a POST that only reads, an upsert by external id); a POST create is repeated only when Salesforce certainly
  never got it (connection refused, UNABLE_TO_LOCK_ROW). One 401 INVALID_SESSION_ID: the token is refreshed once
  and the call repeated; a fresh token refused again means the connection needs a person (SalesforceAuthError).
- Every call carries `Authorization: Bearer`, `Sforce-Call-Options: client=<SALESFORCE_CLIENT_NAME>` and a
  timeout (SALESFORCE_TIMEOUT, or `timeout=`).

The API is the one the shared design names; additions beyond it: `idempotent`, `timeout`, `stream` on `request`,
`query_records`, `uri_budget`, `limits`, `token()`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog

from core import outbound
from core.http import request_never_reached
from crm.providers.salesforce import limits, tokens
from crm.providers.salesforce.conf import salesforce_settings
from crm.providers.salesforce.errors import (
    SalesforceAuthError,
    SalesforceError,
    SalesforceLimitExceeded,
    SalesforceLocatorLost,
    SalesforceMultipleMatches,
    SalesforceNotFound,
    SalesforceRejected,
    SalesforceSessionInvalid,
    SalesforceUnavailable,
    SalesforceUriTooLong,
)
from crm.providers.salesforce.limits import Priority
from crm.providers.salesforce.tokens import AccessToken
from crm.providers.salesforce.transport import (
    SalesforceResponse,
    backoff_delays,
    error_info,
    http_session,
    retry_after_of,
)
from studios.models import ProviderAccount

__all__ = ["Priority", "SalesforceClient", "SalesforceResponse"]

logger = structlog.get_logger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Codes meaning "nothing was done, try again": the row was locked by another transaction.
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
# 403 codes that only a person can fix (the user or org lost API access).
ACCESS_OFF_CODES = frozenset({"API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED", "INSUFFICIENT_ACCESS"})
NOT_FOUND_CODES = frozenset({"NOT_FOUND", "ENTITY_IS_DELETED"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
QUERY_BATCH_MIN, QUERY_BATCH_MAX = 200, 2000
MAX_RETRY_AFTER_SECONDS = 60.0


class SalesforceClient:
    """Salesforce REST for one ProviderAccount of kind salesforce; see the module docstring."""

    def __init__(
        self,
        account: ProviderAccount,
        *,
        priority: Priority = Priority.BACKGROUND,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if account.kind != tokens.KIND:
            raise ValueError(f"{account} is not a Salesforce account")
        self.account = account
        self.priority = Priority(priority)
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.session = session or http_session("salesforce")

    # --- where ----------------------------------------------------------------------------------------------
    @property
    def api_version(self) -> str:
        return str(salesforce_settings.API_VERSION)

    @property
    def data_path(self) -> str:
        """`/services/data/v66.0/`: the base of relative paths."""
        return f"/services/data/v{self.api_version}/"

    def token(self) -> AccessToken:
        """The shared live access token (refreshed under the broker's lock when needed)."""
        return tokens.access_token_get(account=self.account)

    @property
    def instance_url(self) -> str:
        """The org's instance origin, as the last token answer said (e.g. https://acme.my.salesforce.com)."""
        return self.token().instance_url

    @property
    def identity_url(self) -> str:
        """The token user's identity URL (https://login.salesforce.com/id/<org id>/<user id>)."""
        return self.token().identity_url

    def uri_budget(self, path: str = "query") -> int:
        """Bytes left for a query string on `path` under SALESFORCE_URI_MAX_BYTES (the provider splits field and id
        lists to fit)."""
        base = len(self._url(self.instance_url, path).encode()) + len("?q=")
        return salesforce_settings.URI_MAX_BYTES - base

    # --- calls ------------------------------------------------------------------------------------------------
    def get(self, path: str, **kwargs: Any) -> SalesforceResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> SalesforceResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> SalesforceResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> SalesforceResponse:
        return self.request("DELETE", path, **kwargs)

    def limits(self) -> dict[str, Any]:
        """The org's limits (`DailyApiRequests: {Max, Remaining}`, ...)."""
        return self.get("limits").json() or {}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream: bool = False,
    ) -> SalesforceResponse:
        """One call (see the module docstring): success is any 2xx or a status in `expect`."""
        response, _ = self._call(
            method,
            path,
            params=params,
            json=json,
            data=data,
            headers=headers,
            expect=expect,
            idempotent=idempotent,
            timeout=timeout,
            stream=stream,
        )
        return response

    # --- queries ----------------------------------------------------------------------------------------------
    def query_batches(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The batches of one SOQL query (`queryAll` with include_deleted), following nextRecordsUrl with the
        session that opened the query; SalesforceLocatorLost when a locator dies (see the module docstring)."""
        size = batch_size or salesforce_settings.QUERY_BATCH_SIZE
        headers = {"Sforce-Query-Options": f"batchSize={max(QUERY_BATCH_MIN, min(QUERY_BATCH_MAX, int(size)))}"}
        resource = "queryAll" if include_deleted else "query"
        response, token = self._call("GET", resource, params={"q": soql}, headers=headers)
        followed: set[str] = set()
        while True:
            body = response.json() or {}
            records = body.get("records") or []
            if records:
                yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            if next_url in followed:  # a locator that does not move would page forever (and spend the allocation)
                raise SalesforceUnavailable(f"the query locator {next_url} came back again", error_code="LOCATOR_LOOP")
            followed.add(next_url)
            response, _ = self._call("GET", next_url, headers=headers, locator_token=token)

    def query_records(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None, restarts: int = 3
    ) -> list[dict[str, Any]]:
        """Every record of a query as one list; a lost locator restarts the query from the start (nothing was
        handed out yet), at most `restarts` times. For small results; page big ones with query_batches."""
        attempt = 0
        while True:
            try:
                return [
                    record
                    for batch in self.query_batches(soql, include_deleted=include_deleted, batch_size=batch_size)
                    for record in batch
                ]
            except SalesforceLocatorLost:
                attempt += 1
                if attempt > restarts:
                    raise
                logger.info("salesforce.query.restarted", attempt=attempt)

    # --- the call -------------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        idempotent: bool | None = None,
        timeout: float | tuple[float, float] | None = None,
        stream: bool = False,
        locator_token: AccessToken | None = None,
    ) -> tuple[SalesforceResponse, AccessToken]:
        """The call with its retries; returns the answer and the token it was made with. With `locator_token`
        (following a query locator) that token is used and a 401 means the locator is lost."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        delays = backoff_delays(
            attempts=salesforce_settings.RETRY_ATTEMPTS,
            base=salesforce_settings.RETRY_BASE_SECONDS,
            jitter=salesforce_settings.RETRY_JITTER,
            rng=self.rng,
        )
        refreshes = 0
        retry = 0
        while True:
            limits.budget_check(account=self.account, priority=self.priority)
            token = locator_token or self.token()
            try:
                response = self._attempt(
                    token, method, path, params, json, data, headers, expect, idempotent, timeout, stream
                )
                return response, token
            except SalesforceSessionInvalid as exc:
                if locator_token is not None:
                    tokens.access_token_invalidate(account=self.account, token=token.token)
                    self.token()  # a live token for the restart; a dead grant raises SalesforceAuthError here
                    raise SalesforceLocatorLost(
                        "the query locator's session ended (a token refresh ends it); restart the query",
                        status=exc.status,
                        body=exc.body,
                    ) from None
                refreshes += 1
                if refreshes == 1:  # one refresh and one repeat (not a backoff retry)
                    tokens.access_token_invalidate(account=self.account, token=token.token)
                    continue
                current = tokens.access_token_peek(account=self.account)
                if refreshes <= 3 and current is not None and current.token != token.token:
                    continue  # another process refreshed meanwhile (ending our session): try its token
                # A token fetched after our own refresh was refused too: a person must look at the connection.
                tokens.access_token_invalidate(account=self.account, token=token.token)
                raise self._needs_reauth(exc) from None
            except _Retry as exc:
                if retry >= len(delays):
                    raise exc.error from None
                delay = max(delays[retry], min(exc.retry_after or 0.0, MAX_RETRY_AFTER_SECONDS))
                logger.info(
                    "salesforce.call.retry",
                    path=path.split("?", 1)[0][:200],
                    attempt=retry + 1,
                    delay=round(delay, 2),
                    reason=exc.error.error_code or exc.error.status,
                )
                self.sleep(delay)
                retry += 1

    def _attempt(
        self,
        token: AccessToken,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        expect: tuple[int, ...],
        idempotent: bool,
        timeout: float | tuple[float, float] | None,
        stream: bool,
    ) -> SalesforceResponse:
        request = requests.Request(
            method,
            self._url(token.instance_url, path),
            params=dict(params) if params else None,
            json=json,
            data=data,
            headers=self._headers(token, headers),
        )
        prepared = self.session.prepare_request(request)
        if len((prepared.url or "").encode()) > salesforce_settings.URI_MAX_BYTES:
            raise SalesforceUriTooLong(
                f"URL of {len(prepared.url or '')} bytes is over SALESFORCE_URI_MAX_BYTES "
                f"({salesforce_settings.URI_MAX_BYTES}); split the field or id list"
            )
        try:
            response = self.session.send(
                prepared, timeout=timeout or salesforce_settings.TIMEOUT, stream=stream, allow_redirects=False
            )
        except outbound.OutboundRefused as exc:
            # The instance may not be called: nothing was sent, and only a person can fix the account.
            message = f"Salesforce instance refused: {exc.message}"
            tokens.connection_needs_reauth(account=self.account, reason=message)
            raise SalesforceAuthError(message, error_code="ENDPOINT_REFUSED") from None
        except requests.RequestException as exc:
            if request_never_reached(exc):
                raise _Retry(
                    SalesforceUnavailable(f"Salesforce unreachable: {type(exc).__name__}", error_code="CONNECT")
                ) from None
            error = SalesforceUnavailable(f"Salesforce did not answer: {type(exc).__name__}", error_code="TIMEOUT")
            if idempotent:
                raise _Retry(error) from None
            raise error from None
        return self._answer(response, expect=expect, idempotent=idempotent, stream=stream)

    def _answer(
        self, response: requests.Response, *, expect: tuple[int, ...], idempotent: bool, stream: bool
    ) -> SalesforceResponse:
        status = response.status_code
        limit_info = response.headers.get("Sforce-Limit-Info", "")
        if limit_info:
            limits.usage_record(account=self.account, header=limit_info)
        if 200 <= status < 300 or status in expect:
            limits.limit_unblock_if_blocked(account=self.account)
            if stream and 200 <= status < 300:
                return SalesforceResponse(status, dict(response.headers), b"", response.url, raw=response)
            return SalesforceResponse(status, dict(response.headers), response.content, response.url)
        info = error_info(response)
        kwargs: dict[str, Any] = {"status": status, "error_code": info.code, "fields": info.fields, "body": info.body}
        message = f"Salesforce answered HTTP {status}{f' {info.code}' if info.code else ''}: {info.message}"
        if status == 401 or (status == 403 and "Bad_OAuth_Token" in (info.code, info.message.strip())):
            # The OpenID and identity endpoints say an ended session with 403 Bad_OAuth_Token.
            raise SalesforceSessionInvalid(message, **kwargs)
        if status == 403 and info.code == "REQUEST_LIMIT_EXCEEDED":
            if "concurrent" in info.message.lower():
                # ConcurrentPerOrgLongTxn: too many long requests running now, not the daily allocation. Nothing
                # was done, so even a create may be repeated after a wait.
                raise _Retry(SalesforceUnavailable(message, **kwargs), retry_after=retry_after_of(response))
            wait = limits.limit_block(account=self.account)
            raise SalesforceLimitExceeded(message, retry_after=wait, **kwargs)
        if status != 403 or info.code not in ACCESS_OFF_CODES:
            limits.limit_unblock_if_blocked(account=self.account)
        if info.code == "INVALID_QUERY_LOCATOR":
            raise SalesforceLocatorLost(message, **kwargs)
        if status in RETRYABLE_STATUSES or info.code in RETRYABLE_CODES:
            error = SalesforceUnavailable(message, **kwargs)
            # A locked row or a 429/503 means Salesforce did nothing: even a create may be repeated.
            if idempotent or info.code in RETRYABLE_CODES or status in (429, 503):
                raise _Retry(error, retry_after=retry_after_of(response))
            raise error
        if status == 403 and info.code in ("API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"):
            tokens.connection_needs_reauth(account=self.account, reason=message)
            raise SalesforceAuthError(message, **kwargs)
        if status == 300:
            body = info.body if isinstance(info.body, list) else []
            raise SalesforceMultipleMatches(message, candidates=[str(item) for item in body], **kwargs)
        if status in (414, 431):
            raise SalesforceUriTooLong(message, **kwargs)
        if status == 404 or info.code in NOT_FOUND_CODES:
            raise SalesforceNotFound(message, **kwargs)
        raise SalesforceRejected(message, **kwargs)

    # --- helpers --------------------------------------------------------------------------------------------
    def _url(self, instance_url: str, path: str) -> str:
        if path.startswith(("https://", "http://")):
            origin = outbound.origin_of(f"{urlsplit(path).scheme}://{urlsplit(path).netloc}")
            allowed = {outbound.origin_of(instance_url), outbound.origin_of(self.account.accounts_url or "")}
            if not origin or origin not in allowed:
                raise SalesforceRejected(f"refused to send the org's token to {origin or path!r}")
            return path
        if path.startswith("/"):
            return f"{instance_url.rstrip('/')}{path}"
        return f"{instance_url.rstrip('/')}{self.data_path}{path}"

    def _headers(self, token: AccessToken, extra: Mapping[str, str] | None) -> dict[str, str]:
        name = salesforce_settings.CLIENT_NAME
        headers = {"Accept": "application/json", **(extra or {})}
        options = headers.get("Sforce-Call-Options", "")
        if "client=" not in options:
            headers["Sforce-Call-Options"] = f"{options}, client={name}" if options else f"client={name}"
        headers["Authorization"] = f"Bearer {token.token}"
        return headers

    def _needs_reauth(self, exc: SalesforceError) -> SalesforceAuthError:
        message = f"Salesforce refused a fresh access token ({exc.error_code}): {exc.message}; reconnect Salesforce"
        tokens.connection_needs_reauth(account=self.account, reason=message)
        return SalesforceAuthError(message, status=exc.status, error_code=exc.error_code, body=exc.body)


class _Retry(Exception):
    def __init__(self, error: SalesforceError, *, retry_after: float | None = None):
        self.error = error
        self.retry_after = retry_after
