"""The one Dataverse Web API client: every call the product makes to a customer's environment goes through
`DataverseClient.request`.

    client = client_for(account, priority=Priority.BACKGROUND)
    body = client.get("leads", {"$select": "fullname,telephone1"}, prefer=prefer_header(max_page_size=5000))
    body = client.get_url(body["@odata.nextLink"], prefer=...)        # a next or delta link, as Dataverse gave it
    lead_id = client.create("leads", {"lastname": "Reyes"})            # 204 + OData-EntityId
    client.update("leads", lead_id, {"telephone1": "+1 415 555 0142"}) # If-Match: * (never creates)
    row_id, created = client.upsert("lh_smses", {"lh_leadlinemessageid": "m-1"}, {...}, mode="create")
    results = client.batch([BatchOperation("PATCH", f"tasks({id})", {...}, {"If-None-Match": "*"}), ...])

What every call gets:
- OData-MaxVersion/OData-Version 4.0, Accept JSON, the bearer token (tokens.py: msal, per tenant). A 401 drops the
  token and asks once more; refused again it is DataverseAuthError and the connection says needs_reauth.
- Service protection (limits.py): no request while a 429's Retry-After runs for the environment and our user (any
  worker's 429), each 429 waited exactly as long as it says and retried; a request slot of the environment held for
  the request (DYNAMICS_CONCURRENCY across every worker, never above 52).
- Retries, at most DYNAMICS_RETRY_ATTEMPTS: 429s; 5xx and timeouts with a short growing wait only where repeating is
  safe (reads, PATCH, DELETE; a POST only when Dataverse never got it).
- Errors typed (errors.py): 404 DataverseNotFound, 412 DataversePreconditionFailed, duplicate detection
  DataverseDuplicate, an expired delta token (or paging cookie) DataverseHistoryExpired, other 4xx
  DataverseRejected. Callers outside the package see crm.errors only, through errors.translated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
import structlog

from core import outbound
from core.http import request_never_reached
from crm.providers.dynamics import hosts, limits, tokens
from crm.providers.dynamics.conf import dynamics_settings
from crm.providers.dynamics.errors import (
    CODE_NOT_A_MEMBER,
    DataverseAuthError,
    DataverseError,
    DataverseNotFound,
    DataverseRejected,
    DataverseUnavailable,
    error_for,
)
from crm.providers.dynamics.limits import Priority
from crm.providers.dynamics.transport import (
    FORMATTED_VALUE,
    ODATA_HEADERS,
    BatchItemResult,
    BatchOperation,
    ChangeSet,
    DataverseResponse,
    batch_decode,
    batch_encode,
    batch_results,
    definition_path,
    entity_id_of,
    error_info,
    growing_delay,
    headers_of,
    http_session,
    label_of,
    prefer_header,
    prefer_merge,
    row_id_in,
    row_path,
    verify_setting,
)
from studios.models import ProviderAccount

__all__ = ["BatchItemResult", "BatchOperation", "ChangeSet", "DataverseClient", "Priority", "client_for"]

logger = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
UPSERT_MODES = ("upsert", "create", "update")


def client_for(
    account: ProviderAccount | None = None,
    *,
    priority: Priority = Priority.BACKGROUND,
    sleep: Callable[[float], None] | None = None,
    tenant_id: str = "",
    environment: str = "",
) -> DataverseClient:
    """The client for a Dynamics account (or, in the connect flow, a tenant and environment named explicitly)."""
    return DataverseClient(account, priority=priority, sleep=sleep, tenant_id=tenant_id, environment=environment)


class DataverseClient:
    """Dataverse's Web API for one environment; see the module docstring."""

    def __init__(
        self,
        account: ProviderAccount | None = None,
        *,
        priority: Priority = Priority.BACKGROUND,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        tenant_id: str = "",
        environment: str = "",
        connection: Any = None,
    ) -> None:
        if account is not None and account.kind != tokens.KIND:
            raise ValueError(f"{account} is not a Dynamics account")
        self.account = account
        self.connection = connection
        self.tenant_id = tenant_id
        self.priority = Priority(priority)
        self.sleep = sleep or time.sleep
        self.rng = rng or random.Random()  # noqa: S311 (jitter)
        self.session = session or http_session("dynamics")
        self.environment = hosts.environment_url(account, explicit=environment, connection=connection)
        self.service_root = f"{self.environment}/api/data/{dynamics_settings.API_VERSION}"
        self.user = hosts.app_credentials(account)[0]  # the calling user: the app's application user
        self.calls = 0
        self.pacer = limits.Pacer(lambda seconds: self.sleep(seconds))

    def token(self) -> tokens.AccessToken:
        return tokens.access_token_get(
            self.account, tenant_id=self.tenant_id, environment=self.environment, connection=self.connection
        )

    # --- reads ----------------------------------------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        """{BusinessUnitId, UserId, OrganizationId}: who the token is in the environment (our application user)."""
        return self.request("GET", "WhoAmI").json() or {}

    def get(self, path: str, params: Mapping[str, Any] | None = None, prefer: str = "") -> dict[str, Any]:
        """A GET relative to the service root ("leads", "leads(<id>)"), its JSON body."""
        return self.request("GET", path, params=params, prefer=prefer).json() or {}

    def get_url(self, link: str, *, prefer: str = "") -> dict[str, Any]:
        """Follow an @odata.nextLink or @odata.deltaLink exactly as Dataverse gave it (same origin only). A
        paging cookie or delta token Dataverse no longer honours is DataverseHistoryExpired."""
        return self.request("GET", link, prefer=prefer, following_link=True).json() or {}

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        page_size: int | None = None,
        track_changes: bool = False,
        annotations: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a collection (each body: value, @odata.nextLink, and on the last of a track-changes read
        @odata.deltaLink), following next links with the same preferences."""
        prefer = prefer_header(
            max_page_size=page_size or int(dynamics_settings.PAGE_SIZE),
            track_changes=track_changes,
            annotations=FORMATTED_VALUE if annotations else None,
        )
        body = self.get(path, params, prefer=prefer)
        followed: set[str] = set()
        while True:
            yield body
            link = str(body.get("@odata.nextLink") or "")
            if not link:
                return
            if link in followed:  # a server answering the same page again would loop forever
                raise DataverseUnavailable(f"Dataverse gave the same next link twice: {link[:200]}", code="PAGING_LOOP")
            followed.add(link)
            body = self.get_url(link, prefer=prefer)

    def row(self, entity_set: str, row_id: str, *, select: Sequence[str] = (), annotations: bool = True) -> dict:
        """One row by id; DataverseNotFound when there is none."""
        params = {"$select": ",".join(select)} if select else None
        prefer = prefer_header(annotations=FORMATTED_VALUE) if annotations else ""
        return self.get(row_path(entity_set, row_id), params, prefer=prefer)

    # --- writes ---------------------------------------------------------------------------------------------------
    def create(self, entity_set: str, body: Mapping[str, Any], *, suppress_duplicates: bool = True) -> str:
        """Create a row (204 + OData-EntityId); its id. With suppress_duplicates=False, duplicate detection rules run
        and a duplicate is DataverseDuplicate. Never repeated unless Dataverse never got it (use upsert with a
        client-made id for writes that must be retried)."""
        headers = {} if suppress_duplicates else {"MSCRM.SuppressDuplicateDetection": "false"}
        answer = self.request("POST", entity_set, json=dict(body), headers=headers)
        row_id = entity_id_of(answer.headers)
        if not row_id and isinstance(answer.json(), dict):
            row_id = row_id_in(answer.json())
        return row_id

    def update(self, entity_set: str, row_id: str, body: Mapping[str, Any], *, if_match: str = "*") -> None:
        """Update a row's given columns (If-Match: * never creates: DataverseNotFound if it is gone; an etag
        W/"n" refuses a row changed since: DataversePreconditionFailed)."""
        headers = {"If-Match": if_match} if if_match else {}
        self.request("PATCH", row_path(entity_set, row_id), json=dict(body), headers=headers)

    def upsert(
        self, entity_set: str, key: Mapping[str, Any] | str, body: Mapping[str, Any], *, mode: str = "upsert"
    ) -> tuple[str, bool]:
        """PATCH a row by id or alternate key: mode "upsert" creates or updates, "create" only creates
        (If-None-Match: *; an existing row is DataversePreconditionFailed), "update" only updates (If-Match: *;
        a missing row is DataverseNotFound). Returns (row id, created)."""
        if mode not in UPSERT_MODES:
            raise ValueError(f"upsert mode is one of {UPSERT_MODES}, not {mode!r}")
        headers = {"create": {"If-None-Match": "*"}, "update": {"If-Match": "*"}}.get(mode, {})
        prefer = prefer_header(return_representation=True) if mode == "upsert" else ""
        answer = self.request("PATCH", row_path(entity_set, key), json=dict(body), headers=headers, prefer=prefer)
        returned = answer.json() if answer.content else None
        row_id = entity_id_of(answer.headers) or (key.lower() if isinstance(key, str) else "")
        if not row_id and isinstance(returned, dict):
            row_id = row_id_in(returned)
        created = {"create": True, "update": False}.get(mode, answer.status == 201)
        return row_id, created

    def delete(self, entity_set: str, row_id: str) -> bool:
        """Delete a row; False when there was none."""
        try:
            self.request("DELETE", row_path(entity_set, row_id))
        except DataverseNotFound:
            return False
        return True

    def batch(
        self, items: Sequence[BatchOperation | ChangeSet], *, continue_on_error: bool = True
    ) -> list[BatchItemResult]:
        """Run operations in one $batch request (change sets atomic); one result per operation, in order (change
        sets flattened). Each failed operation's result carries the error it would have raised alone; with
        continue_on_error=False Dataverse stops at the first failure and the rest say executed=False."""
        operations = [op for item in items for op in (item.operations if isinstance(item, ChangeSet) else [item])]
        if not operations:
            return []
        limit = 1000
        if len(operations) > limit:
            raise ValueError(f"at most {limit} operations per $batch, not {len(operations)}")
        content_type, payload = batch_encode(items, service_root=self.service_root)
        prefer = prefer_header(continue_on_error=continue_on_error)
        answer = self.request(
            "POST",
            "$batch",
            data=payload,
            headers={"Content-Type": content_type},
            prefer=prefer,
            safe=all(op.safe for op in operations),
        )
        results = batch_results(items, batch_decode(answer.header("content-type"), answer.content))
        for result in results:
            if result.status == 429 and result.error is not None and result.error.retry_after:
                limits.block_record(environment=self.environment, user=self.user, retry_after=result.error.retry_after)
        return results

    # --- metadata -------------------------------------------------------------------------------------------------
    def entity_definition(self, logical_name: str, *, select: Sequence[str] = ()) -> dict[str, Any]:
        """A table's definition (LogicalName, EntitySetName, PrimaryIdAttribute, PrimaryNameAttribute,
        ChangeTrackingEnabled, IsActivity, DisplayName ...); DataverseNotFound for an unknown table."""
        names = select or (
            "LogicalName",
            "EntitySetName",
            "PrimaryIdAttribute",
            "PrimaryNameAttribute",
            "ChangeTrackingEnabled",
            "IsActivity",
            "IsCustomEntity",
            "DisplayName",
        )
        return self.get(definition_path(logical_name), {"$select": ",".join(names)})

    def attributes(self, logical_name: str, *, select: Sequence[str] = ()) -> list[dict[str, Any]]:
        """A table's columns (LogicalName, AttributeType, AttributeTypeName, RequiredLevel, IsValidForCreate,
        IsValidForUpdate, IsCustomAttribute, MaxLength, FormatName, Targets, DisplayName ... as Dataverse gives
        them for each column's type)."""
        params = {"$select": ",".join(select)} if select else None
        return list(self.get(definition_path(logical_name, "Attributes"), params).get("value") or ())

    def picklist_options(self, logical_name: str) -> dict[str, list[dict[str, Any]]]:
        """Each option-set column's options: {column: [{"value": 3, "label": "Web"}, ...]} (statecode and
        statuscode too, when the environment answers their casts)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for cast in ("PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata"):
            path = definition_path(logical_name, "Attributes", f"Microsoft.Dynamics.CRM.{cast}")
            params = {"$select": "LogicalName", "$expand": "OptionSet($select=Options)"}
            try:
                rows = self.get(path, params).get("value") or ()
            except (DataverseNotFound, DataverseRejected):
                if cast == "PicklistAttributeMetadata":
                    raise
                continue  # an environment (or the emulator) without the state/status casts
            for row in rows:
                options = ((row.get("OptionSet") or {}).get("Options")) or ()
                found[str(row.get("LogicalName"))] = [
                    {"value": option.get("Value"), "label": label_of(option.get("Label"))} for option in options
                ]
        return found

    def alternate_keys(self, logical_name: str) -> list[dict[str, Any]]:
        """The table's alternate keys (LogicalName, KeyAttributes, EntityKeyIndexStatus): the columns an upsert may
        name a row by, each set unique."""
        path = definition_path(logical_name, "Keys")
        return list(self.get(path, {"$select": "LogicalName,KeyAttributes,EntityKeyIndexStatus"}).get("value") or ())

    def many_to_one(self, logical_name: str) -> list[dict[str, Any]]:
        """The table's lookups as relationships: ReferencingAttribute, ReferencingEntityNavigationPropertyName
        (what @odata.bind names: regardingobjectid_lead_task), ReferencedEntity, ReferencedAttribute."""
        select = (
            "SchemaName,ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity,"
            "ReferencedAttribute"
        )
        path = definition_path(logical_name, "ManyToOneRelationships")
        return list(self.get(path, {"$select": select}).get("value") or ())

    # --- calls ----------------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        prefer: str = "",
        expect: tuple[int, ...] = (),
        safe: bool | None = None,
        following_link: bool = False,
    ) -> DataverseResponse:
        """One call with its waits and retries (see the module docstring): any 2xx, or a status in `expect`, is
        success; anything else raises one of errors.py's family. `path` is relative to the service root, or an
        absolute link on the environment."""
        method = method.upper()
        safe = method in SAFE_METHODS if safe is None else safe
        url = self._url(path)
        max_wait = limits.max_wait_for(self.priority)
        refreshed = False
        attempt = 0
        backoff = 0.0
        while True:
            self.pacer.sleep(backoff)
            backoff = 0.0
            limits.block_wait(environment=self.environment, user=self.user, pacer=self.pacer, max_wait=max_wait)
            token = self.token()
            try:
                with limits.request_slot(environment=self.environment, pacer=self.pacer, priority=self.priority):
                    # a 429 elsewhere while this call waited for its slot: wait for that block first
                    if limits.blocked_until(environment=self.environment, user=self.user) > self.pacer.now():
                        continue
                    answer = self._attempt(
                        token, method, url, params, json, data, headers, prefer, expect, safe, following_link, attempt
                    )
            except _Unauthorized as exc:
                if refreshed or exc.error.code == CODE_NOT_A_MEMBER:
                    raise self._needs_reauth(exc.error) from None
                refreshed = True  # one refresh and one repeat (not a retry of the budget)
                tokens.access_token_invalidate(token)
            except _Retry as exc:
                too_long = exc.error.status == 429 and exc.delay > max_wait  # the block stays for every worker
                if too_long or attempt >= int(dynamics_settings.RETRY_ATTEMPTS):
                    exc.error.retry_after = exc.delay
                    if too_long:
                        self._limit_block_show(exc.delay, exc.error.message)
                    raise exc.error from None
                logger.info(
                    "dynamics.call.retry",
                    path=url.split("?", 1)[0][-200:],
                    attempt=attempt + 1,
                    delay=round(exc.delay, 3),
                    reason=exc.error.code or exc.error.status,
                )
                backoff = 0.0 if exc.error.status == 429 else exc.delay  # a 429's wait is the shared block
                attempt += 1
            else:
                if limits.block_shown_take(environment=self.environment, user=self.user):
                    self._connection_write("connection_limit_clear")
                return answer

    # --- one attempt ----------------------------------------------------------------------------------------------
    def _attempt(
        self,
        token: tokens.AccessToken,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: bytes | None,
        extra_headers: Mapping[str, str] | None,
        prefer: str,
        expect: tuple[int, ...],
        safe: bool,
        following_link: bool,
        attempt: int,
    ) -> DataverseResponse:
        headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token.token}"}
        headers.update(extra_headers or {})
        merged = prefer_merge(headers.pop("Prefer", ""), prefer)
        if merged:
            headers["Prefer"] = merged
        self.calls += 1
        try:
            response = self.session.request(
                method,
                url,
                params=dict(params) if params else None,
                json=json if data is None else None,
                data=data,
                headers=headers,
                timeout=dynamics_settings.TIMEOUT,
                verify=verify_setting(),
                allow_redirects=False,
            )
        except outbound.OutboundRefused as exc:
            message = f"Dynamics environment refused: {exc.message}"
            self._connection_write("connection_needs_reauth", reason=message)
            raise DataverseAuthError(message, code="ENDPOINT_REFUSED") from None
        except requests.RequestException as exc:
            if request_never_reached(exc):
                error = DataverseUnavailable(f"Dataverse unreachable: {type(exc).__name__}", code="CONNECT")
                raise _Retry(error, growing_delay(attempt, rng=self.rng)) from None
            error = DataverseUnavailable(f"Dataverse did not answer: {type(exc).__name__}", code="TIMEOUT")
            if safe:
                raise _Retry(error, growing_delay(attempt, rng=self.rng)) from None
            raise error from None
        return self._answer(response, expect=expect, safe=safe, following_link=following_link, attempt=attempt)

    def _answer(
        self, response: requests.Response, *, expect: tuple[int, ...], safe: bool, following_link: bool, attempt: int
    ) -> DataverseResponse:
        status = response.status_code
        headers = headers_of(response)
        if 200 <= status < 300 or status in expect:
            return DataverseResponse(status, headers, response.content, response.url)
        info = error_info(response)
        error = error_for(
            status, info.code, info.message, following_link=following_link, body=info.body, retry_after=info.retry_after
        )
        if status == 429:
            wait = info.retry_after if info.retry_after is not None else growing_delay(attempt, rng=self.rng)
            limits.block_record(
                environment=self.environment,
                user=self.user,
                retry_after=wait,
                now=self.pacer.now(),
                limit=getattr(error, "limit", ""),
            )
            raise _Retry(error, wait)
        if isinstance(error, DataverseAuthError):
            raise _Unauthorized(error)
        if isinstance(error, DataverseUnavailable) and safe:
            raise _Retry(error, growing_delay(attempt, rng=self.rng))
        raise error

    # --- internals --------------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            if not hosts.same_origin(path, self.environment):
                raise DataverseRejected(f"refused to send the environment's token to {path.split('?', 1)[0]!r}")
            return path
        return f"{self.service_root}/{path.lstrip('/')}"

    def _needs_reauth(self, exc: DataverseError) -> DataverseAuthError:
        message = (
            exc.message
            if exc.code == CODE_NOT_A_MEMBER
            else (f"Dataverse refused a fresh access token ({exc.code or exc.status}): {exc.message}")
        )
        self._connection_write("connection_needs_reauth", reason=message)
        return DataverseAuthError(message, status=exc.status, code=exc.code, body=exc.body)

    def _limit_block_show(self, seconds: float, message: str) -> None:
        """A block longer than calls wait: shown on the connection (the admin) until a call succeeds after it."""
        limits.block_shown_mark(environment=self.environment, user=self.user, seconds=seconds)
        until = datetime.fromtimestamp(time.time() + seconds, tz=UTC)
        self._connection_write("connection_limit_block", until=until, message=message)

    def _connection_write(self, name: str, **values: Any) -> None:
        if self.account is not None and self.account.pk is not None:
            tokens.connection_write(name, self.account, **values)


class _Retry(Exception):
    def __init__(self, error: DataverseError, delay: float) -> None:
        self.error = error
        self.delay = delay


class _Unauthorized(Exception):
    def __init__(self, error: DataverseError) -> None:
        self.error = error
