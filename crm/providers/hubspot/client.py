"""The one HubSpot client: every call the product makes to a portal goes through `HubSpotClient.request`.

    client = client_for(account, priority=Priority.BACKGROUND)
    page = client.objects_page("contacts", properties=("email", "phone"), after=page.after)   # Page
    found = client.search("contacts", {"filterGroups": [...], "sorts": [...], "limit": 200})  # Page (total)
    batch = client.batch_read("contacts", ids, properties=names)          # BatchResult: results + per-item errors
    client.object_update("contacts", "101", {"phone": ""})                # "" clears a value
    client.calls                                                          # HTTP requests made (benchmarks)

What every call gets (see limits.py for the budget):
- The bearer token (tokens.py: cached for every process, refreshed ahead of expires_in). A 401 makes one refresh
  and one repeat; a fresh token refused again is HubSpotAuthError and the connection says needs_reauth.
- The rate headers (X-HubSpot-RateLimit-*) kept per portal; BACKGROUND calls wait while the window is low so
  INTERACTIVE ones go first; searches take a per-portal slot (HUBSPOT_SEARCH_PER_SECOND).
- Retries, at most HUBSPOT_RETRY_ATTEMPTS, then a typed error: 429s as limits.rate_limited says, 423 2 s, 5xx and
  timeouts a short growing wait (only when repeating is safe: reads, updates, upserts; a create only when HubSpot
  never got it); a search waits for its backoff and its next slot in one wait.
  429 DAILY is never retried: HubSpotDailyLimit (-> CrmQuotaExhausted) with the wait to the portal's midnight.
- Paths of the HUBSPOT_API_VERSION family (hosts.Paths): /crm/objects/2026-03/contacts or /crm/v3/objects/contacts.

Batch calls return results AND per-item errors (HubSpot's 207); reads are split into batches of BATCH_MAX ids
inside, writes take at most BATCH_MAX inputs per call (ValueError beyond: a half-done split write would be lost).
Property lists go in POST bodies where a URL could pass HubSpot's limit (414). Callers see crm.errors only
through errors.translated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests
import structlog

from core import outbound
from core.http import request_never_reached
from crm.providers.hubspot import limits, tokens
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.errors import (
    HubSpotAuthError,
    HubSpotConflict,
    HubSpotError,
    HubSpotMissingScopes,
    HubSpotNotFound,
    HubSpotRejected,
    HubSpotSearchCapReached,
    HubSpotUnavailable,
    HubSpotUriTooLong,
)
from crm.providers.hubspot.hosts import Paths, api_base, same_origin
from crm.providers.hubspot.limits import Priority
from crm.providers.hubspot.transport import (
    BatchResult,
    HubSpotResponse,
    Page,
    batch_merge,
    chunks,
    error_info,
    flag,
    growing_delay,
    headers_of,
    http_session,
    next_after,
    past_search_cap,
    rate_headers,
    segment,
)
from studios.models import ProviderAccount

__all__ = ["BATCH_MAX", "BatchResult", "HubSpotClient", "Page", "Priority", "client_for"]

logger = structlog.get_logger(__name__)

BATCH_MAX = 100  # inputs per batch call (HubSpot's documented 100; the emulator's hs_batch_max_inputs)
LIST_LIMIT_MAX = 100
# A GET whose URL would pass this reads its properties through batch/read's POST body instead (HubSpot: 414).
URI_SAFE_BYTES = 8_000
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
LOCKED_WAIT = 2.0


def client_for(
    account: ProviderAccount, *, priority: Priority = Priority.BACKGROUND, sleep: Callable[[float], None] | None = None
) -> HubSpotClient:
    """The client for a HubSpot account; `priority` is who waits for its calls (see limits.py)."""
    return HubSpotClient(account, priority=priority, sleep=sleep)


class HubSpotClient:
    """HubSpot's API for one ProviderAccount of kind hubspot; see the module docstring."""

    def __init__(
        self,
        account: ProviderAccount,
        *,
        priority: Priority = Priority.BACKGROUND,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        api_version: str | None = None,
    ) -> None:
        if account.kind != tokens.KIND:
            raise ValueError(f"{account} is not a HubSpot account")
        self.account = account
        self.priority = Priority(priority)
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.session = session or http_session("hubspot")
        self.paths = Paths(api_version)
        self.calls = 0
        # The client's waits, and its clock as they count it (so an injected sleep moves it; see limits.Pacer).
        self.pacer = limits.Pacer(lambda seconds: self.sleep(seconds))

    @property
    def base_url(self) -> str:
        return api_base(self.account)

    def token(self) -> tokens.AccessToken:
        return tokens.access_token_get(account=self.account)

    # --- records ------------------------------------------------------------------------------------------------
    def objects_page(
        self,
        object_type: str,
        *,
        after: str | None = None,
        limit: int = 100,
        properties: Sequence[str] = (),
        archived: bool = False,
        associations: Sequence[str] = (),
    ) -> Page:
        """One page of the list (oldest id first); `archived=True` lists the archived records (archivedAt)."""
        params: dict[str, Any] = {"limit": max(1, min(int(limit), LIST_LIMIT_MAX)), "archived": flag(archived)}
        if after:
            params["after"] = after
        if associations:
            params["associations"] = ",".join(associations)
        long_list = len(",".join(properties)) > URI_SAFE_BYTES
        if properties and not long_list:
            params["properties"] = ",".join(properties)
        body = self.get(self.paths.objects(object_type), params=params).json() or {}
        page = Page(list(body.get("results") or ()), next_after(body), None, body)
        if long_list and page.results:
            # Too many names for a URL: read the page's records again with the names in a POST body.
            ids = [str(record["id"]) for record in page.results]
            found = {
                str(r["id"]): r
                for r in self.batch_read(object_type, ids, properties=properties, archived=archived).results
            }
            page.results = [found.get(str(record["id"]), record) for record in page.results]
        return page

    def object_get(
        self,
        object_type: str,
        object_id: str | int,
        *,
        properties: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        """One record by id (or by a unique property's value with `id_property`); HubSpotNotFound if none."""
        if len(",".join(properties)) > URI_SAFE_BYTES:
            batch = self.batch_read(
                object_type, [object_id], properties=properties, id_property=id_property, archived=archived
            )
            if not batch.results:
                raise HubSpotNotFound(f"no {object_type} record {object_id}", status=404, errors=batch.errors)
            return batch.results[0]
        params: dict[str, Any] = {"archived": flag(archived)}
        if properties:
            params["properties"] = ",".join(properties)
        if id_property:
            params["idProperty"] = id_property
        return self.get(self.paths.objects(object_type, segment(object_id)), params=params).json() or {}

    def search(self, object_type: str, body: Mapping[str, Any]) -> Page:
        """One search page: {filterGroups, sorts, properties, limit (<= 200), after}. Past the 10,000th result
        HubSpot answers 400: HubSpotSearchCapReached (start a new query instead)."""
        answer = self.post(self.paths.objects(object_type, "search"), json=dict(body), idempotent=True, search=True)
        data = answer.json() or {}
        total = data.get("total")
        return Page(list(data.get("results") or ()), next_after(data), int(total) if total is not None else None, data)

    def batch_read(
        self,
        object_type: str,
        ids: Iterable[str | int],
        *,
        properties: Sequence[str] = (),
        id_property: str | None = None,
        archived: bool = False,
    ) -> BatchResult:
        """Records by id (or unique value), BATCH_MAX per call; ids not found come back as per-item errors."""
        merged = BatchResult()
        for chunk in chunks([str(value) for value in ids], BATCH_MAX):
            payload: dict[str, Any] = {"inputs": [{"id": value} for value in chunk], "properties": list(properties)}
            if id_property:
                payload["idProperty"] = id_property
            path = self.paths.objects(object_type, "batch", "read")
            answer = self.post(path, params={"archived": flag(archived)}, json=payload, idempotent=True)
            batch_merge(merged, answer)
        return merged

    def batch_create(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Create up to BATCH_MAX records ({properties, associations}); never repeated unless HubSpot never got it."""
        return self._batch_write(object_type, "create", inputs, idempotent=False)

    def batch_update(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Update up to BATCH_MAX records ({id, properties[, idProperty]}); "" clears a value."""
        return self._batch_write(object_type, "update", inputs, idempotent=True)

    def batch_upsert(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Create or update up to BATCH_MAX records by a unique property ({id, idProperty, properties}); `new`."""
        return self._batch_write(object_type, "upsert", inputs, idempotent=True)

    def object_create(
        self, object_type: str, properties: Mapping[str, Any], associations: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """Create one record; `associations` are [{to: {id}, types: [{associationCategory, associationTypeId}]}]."""
        payload = {"properties": dict(properties), "associations": list(associations)}
        return self.post(self.paths.objects(object_type), json=payload, expect=(201,)).json() or {}

    def object_update(
        self, object_type: str, object_id: str | int, properties: Mapping[str, Any], *, id_property: str | None = None
    ) -> dict[str, Any]:
        """Update one record's properties ("" clears one); HubSpotNotFound if it does not exist."""
        params = {"idProperty": id_property} if id_property else None
        path = self.paths.objects(object_type, segment(object_id))
        return self.patch(path, params=params, json={"properties": dict(properties)}).json() or {}

    def object_archive(self, object_type: str, object_id: str | int) -> bool:
        """Archive (HubSpot's delete) one record; False if there was no such record (already archived)."""
        try:
            self.delete(self.paths.objects(object_type, segment(object_id)), expect=(204,))
        except HubSpotNotFound:
            return False
        return True

    # --- schema, associations, owners -----------------------------------------------------------------------------
    def properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every property definition of an object type (name, label, type, fieldType, options, hasUniqueValue ...)."""
        return list((self.get(self.paths.properties(object_type)).json() or {}).get("results") or ())

    def association_labels(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        """The association types between two object types: [{category, typeId, label}]."""
        path = self.paths.associations(from_type, to_type, "labels")
        return list((self.get(path).json() or {}).get("results") or ())

    def associations_read(self, from_type: str, to_type: str, ids: Iterable[str | int]) -> dict[str, list[str]]:
        """Each id's associated record ids of `to_type` (every id asked is a key; HubSpot's per-id paging followed)."""
        found: dict[str, list[str]] = {str(value): [] for value in ids}
        pending: list[dict[str, str]] = [{"id": value} for value in found]
        seen: set[tuple[str, str]] = set()
        path = self.paths.associations(from_type, to_type, "batch", "read")
        while pending:
            chunk, pending = pending[:BATCH_MAX], pending[BATCH_MAX:]
            body = self.post(path, json={"inputs": chunk}, idempotent=True, expect=(207,)).json() or {}
            for result in body.get("results") or ():
                source = str((result.get("from") or {}).get("id") or "")
                targets = found.setdefault(source, [])
                for item in result.get("to") or ():
                    target = str(item.get("toObjectId") or item.get("id") or "")
                    if target and target not in targets:
                        targets.append(target)
                after = next_after(result)
                if source and after and (source, after) not in seen:
                    seen.add((source, after))
                    pending.append({"id": source, "after": after})
        return found

    def owners(self, *, archived: bool = False) -> list[dict[str, Any]]:
        """Every owner of the portal (id, userId, email, firstName, lastName, teams ...)."""
        owners: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "archived": flag(archived)}
            if after:
                params["after"] = after
            body = self.get(self.paths.owners(), params=params).json() or {}
            owners.extend(body.get("results") or ())
            following = next_after(body)
            if not following or following == after:
                return owners
            after = following

    def owner_by_user_id(self, user_id: str | int) -> dict[str, Any] | None:
        """The owner a HubSpot user is (records' hubspot_owner_id), or None when the user owns nothing."""
        try:
            return self.get(self.paths.owners(segment(user_id)), params={"idProperty": "userId"}).json() or None
        except HubSpotNotFound:
            return None

    def token_info(self) -> dict[str, Any]:
        """What HubSpot says of the access token (hub_id, user, user_id, scopes...). The token is in the path, not a
        bearer: one the endpoint no longer knows (404 revoked, 401 expired) is dropped and a fresh one asked about."""
        token = self.token().token
        try:
            return self.request("GET", Paths.token_info(token), authorize=False).json() or {}
        except (HubSpotNotFound, HubSpotAuthError):
            tokens.access_token_invalidate(account=self.account, token=token)
        return self.request("GET", Paths.token_info(self.token().token), authorize=False).json() or {}

    # --- calls ----------------------------------------------------------------------------------------------------
    def get(self, path: str, **kwargs: Any) -> HubSpotResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HubSpotResponse:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HubSpotResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HubSpotResponse:
        return self.request("DELETE", path, **kwargs)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        expect: tuple[int, ...] = (),
        idempotent: bool | None = None,
        search: bool = False,
        authorize: bool = True,
    ) -> HubSpotResponse:
        """One call with its retries (see the module docstring): any 2xx, or a status in `expect`, is success;
        anything else raises one of errors.py's family. `path` is relative to the API base ("/crm/...")."""
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        refreshed = False
        attempt = 0
        backoff = 0.0  # a retry's wait; a search waits for it and its slot in one wait
        pacer = self.pacer
        while True:
            if search:
                limits.search_slot(account=self.account, pacer=pacer, at_least=backoff)
            elif backoff:
                pacer.sleep(backoff)
            backoff = 0.0
            limits.daily_check(account=self.account, priority=self.priority)
            limits.background_wait(account=self.account, priority=self.priority, pacer=pacer)
            token = self.token() if authorize else None
            try:
                return self._attempt(token, method, path, params, json, expect, safe, search, attempt)
            except _Unauthorized as exc:
                if token is None:  # a call without our bearer (token info): its 401 says nothing of the grant
                    raise exc.error from None
                if refreshed:
                    raise self._needs_reauth(exc.error) from None
                refreshed = True  # one refresh and one repeat (not a retry of the budget)
                tokens.access_token_invalidate(account=self.account, token=token.token)
            except _Retry as exc:
                if attempt >= int(hubspot_settings.RETRY_ATTEMPTS):
                    exc.error.retry_after = exc.delay
                    raise exc.error from None
                logger.info(
                    "hubspot.call.retry",
                    path=path.split("?", 1)[0][:200],
                    attempt=attempt + 1,
                    delay=round(exc.delay, 2),
                    reason=exc.error.category or exc.error.status,
                )
                backoff = exc.delay
                attempt += 1

    # --- one attempt ----------------------------------------------------------------------------------------------
    def _attempt(
        self,
        token: tokens.AccessToken | None,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        expect: tuple[int, ...],
        safe: bool,
        search: bool,
        attempt: int,
    ) -> HubSpotResponse:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.token}"
        url = self._url(path)
        self.calls += 1
        try:
            response = self.session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=json,
                headers=headers,
                timeout=hubspot_settings.TIMEOUT,
                allow_redirects=False,
            )
        except outbound.OutboundRefused as exc:
            message = f"HubSpot API host refused: {exc.message}"
            tokens.connection_write("connection_needs_reauth", self.account, reason=message)
            raise HubSpotAuthError(message, category="ENDPOINT_REFUSED") from None
        except requests.RequestException as exc:
            if request_never_reached(exc):
                error = HubSpotUnavailable(f"HubSpot unreachable: {type(exc).__name__}", category="CONNECT")
                raise _Retry(error, growing_delay(attempt, rng=self.rng)) from None
            error = HubSpotUnavailable(f"HubSpot did not answer: {type(exc).__name__}", category="TIMEOUT")
            if safe:
                raise _Retry(error, growing_delay(attempt, rng=self.rng)) from None
            raise error from None
        return self._answer(response, expect=expect, safe=safe, search=search, attempt=attempt, sent=json)

    def _answer(
        self,
        response: requests.Response,
        *,
        expect: tuple[int, ...],
        safe: bool,
        search: bool,
        attempt: int,
        sent: Any,
    ) -> HubSpotResponse:
        status = response.status_code
        headers = headers_of(response)
        rate = rate_headers(headers)
        if status != 429:
            limits.window_record(account=self.account, rate=rate)
        limits.daily_record(account=self.account, rate=rate)
        if 200 <= status < 300 or status in expect:
            limits.daily_unblock_if_blocked(account=self.account)
            return HubSpotResponse(status, headers, response.content, response.url)
        info = error_info(response)
        message = f"HubSpot answered HTTP {status}{f' {info.category}' if info.category else ''}: {info.message}"
        kwargs = info.kwargs(status)
        if status == 429:
            error, wait = limits.rate_limited(
                account=self.account, info=info, message=message, rate=rate, attempt=attempt
            )
            raise error if wait is None else _Retry(error, wait)
        limits.daily_unblock_if_blocked(account=self.account)
        if status == 401:
            raise _Unauthorized(HubSpotAuthError(message, **kwargs))
        if status == 403 and info.category == "MISSING_SCOPES":
            error = HubSpotMissingScopes(message, **kwargs)
            reason = f"HubSpot refused a call for missing scopes ({', '.join(error.scopes) or 'unnamed'}); reconnect"
            tokens.connection_write("connection_error_record", self.account, message=reason)
            raise error
        if status == 423:
            raise _Retry(HubSpotUnavailable(message, **kwargs), LOCKED_WAIT)
        if status >= 500:
            error = HubSpotUnavailable(message, **kwargs)
            if safe or status == 503:
                raise _Retry(error, growing_delay(attempt, rng=self.rng))
            raise error
        if status == 404:
            raise HubSpotNotFound(message, **kwargs)
        if status == 409:
            raise HubSpotConflict(message, **kwargs)
        if status == 414:
            raise HubSpotUriTooLong(message, **kwargs)
        if search and status == 400 and past_search_cap(info.message, sent):
            raise HubSpotSearchCapReached(message, **kwargs)
        raise HubSpotRejected(message, **kwargs)

    # --- internals --------------------------------------------------------------------------------------------
    def _batch_write(
        self, object_type: str, action: str, inputs: Sequence[Mapping[str, Any]], *, idempotent: bool
    ) -> BatchResult:
        if len(inputs) > BATCH_MAX:
            raise ValueError(f"at most {BATCH_MAX} inputs per batch {action} call, not {len(inputs)}")
        result = BatchResult()
        if inputs:
            path = self.paths.objects(object_type, "batch", action)
            answer = self.post(path, json={"inputs": [dict(item) for item in inputs]}, idempotent=idempotent)
            batch_merge(result, answer)
        return result

    def _url(self, path: str) -> str:
        base = self.base_url
        if path.startswith(("https://", "http://")):
            if not same_origin(path, base):
                raise HubSpotRejected(f"refused to send the portal's token to {path.split('?', 1)[0]!r}")
            return path
        return f"{base}{path if path.startswith('/') else '/' + path}"

    def _needs_reauth(self, exc: HubSpotError) -> HubSpotAuthError:
        message = f"HubSpot refused a fresh access token ({exc.category or exc.status}): {exc.message}; reconnect"
        tokens.connection_write("connection_needs_reauth", self.account, reason=message)
        return HubSpotAuthError(message, status=exc.status, category=exc.category, body=exc.body)


class _Retry(Exception):
    def __init__(self, error: HubSpotError, delay: float) -> None:
        self.error = error
        self.delay = delay


class _Unauthorized(Exception):
    def __init__(self, error: HubSpotError) -> None:
        self.error = error
