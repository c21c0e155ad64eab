"""Every Salesforce exception, one family: the client, the token broker and the allocation budget all raise a
`SalesforceError`, and `to_crm_error` turns any of them into the `crm.errors` type callers act on (the one
translating function; `translated` wraps a provider method with it).

    SalesforceError               status, error_code, message, fields, body, retry_after
    ├── SalesforceAuthError       a person must connect again (invalid_grant, revoked, API access off, a foreign
    │                             instance_url): the connection says needs_reauth
    ├── SalesforceSessionInvalid  401 INVALID_SESSION_ID (internal: the client refreshes once and repeats)
    ├── SalesforceLocatorLost     a query locator died (its session ended, or it was evicted): restart the query
    │                             from your own keyset, never the dead locator
    ├── SalesforceLimitExceeded   403 REQUEST_LIMIT_EXCEEDED, or our own budget stop; `retry_after` seconds
    ├── SalesforceUnavailable     5xx, timeouts, connection failures, the token endpoint down (after retries)
    ├── SalesforceRejected        Salesforce refused the request itself (400 ...): `fields` it blamed
    │   ├── SalesforceNotFound    404 / ENTITY_IS_DELETED
    │   ├── SalesforceMultipleMatches  300 on an upsert by external id: `candidates` (record URLs)
    │   └── SalesforceUriTooLong  414 / 431, or refused before sending (SALESFORCE_URI_MAX_BYTES)

Callers decide on the type, never on a status code or a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crm.errors import (
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmQuotaExhausted,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    translating,
)

PROVIDER = "salesforce"


class SalesforceError(Exception):
    """Base of every Salesforce exception. `error_code` is Salesforce's (INVALID_FIELD, invalid_grant, ...),
    `fields` the fields its error named, `body` its answer (a list of errors, or the token endpoint's dict)."""

    default_code = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str = "",
        fields: Iterable[str] = (),
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code or self.default_code
        self.fields = tuple(fields)
        self.body = body
        self.retry_after = retry_after


class SalesforceAuthError(SalesforceError):
    """The refresh token was refused (invalid_grant: revoked, expired, rotated away), the client is unknown, the
    user lost API access, or the token answer named a host we will not call: a person must reconnect."""

    default_code = "REAUTH_REQUIRED"


class SalesforceSessionInvalid(SalesforceError):
    """401 INVALID_SESSION_ID: the access token's session ended. The client refreshes once and repeats an ordinary
    call; callers see it only wrapped in something else."""

    default_code = "INVALID_SESSION_ID"


class SalesforceLocatorLost(SalesforceError):
    """A query locator (nextRecordsUrl) is dead: its session ended (a token refresh anywhere ends it) or Salesforce
    evicted it (INVALID_QUERY_LOCATOR, more than ~10 open cursors). A live token is ready; restart the query from
    the last record you kept (your own keyset), never by following the dead locator again."""

    default_code = "INVALID_QUERY_LOCATOR"


class SalesforceLimitExceeded(SalesforceError):
    """The org's daily API allocation is used up (403 REQUEST_LIMIT_EXCEEDED), or our own budget stopped background
    work at SALESFORCE_BACKGROUND_SHARE of it; retry after `retry_after` seconds."""

    default_code = "REQUEST_LIMIT_EXCEEDED"


class SalesforceUnavailable(SalesforceError):
    """Salesforce (or its login host) is down, slow or failing after every retry: try again later."""


class SalesforceRejected(SalesforceError):
    """Salesforce refused the request itself (invalid field or value, malformed query, no access): retrying the
    same request will not help."""


class SalesforceNotFound(SalesforceRejected):
    """No such record, object or resource (404), or the record is deleted (ENTITY_IS_DELETED)."""


class SalesforceMultipleMatches(SalesforceRejected):
    """An upsert by external id matched several records (300); `candidates` lists their URLs."""

    default_code = "MULTIPLE_CHOICES"

    def __init__(self, message: str, *, candidates: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.candidates = list(candidates)


class SalesforceUriTooLong(SalesforceRejected):
    """The URI (414) or the headers (431) passed Salesforce's 16,384-byte cap, or the client refused to send a URL
    longer than SALESFORCE_URI_MAX_BYTES: split the field or id list."""

    default_code = "URI_TOO_LONG"


# --- the one translation to crm.errors ---------------------------------------------------------------------------
def to_crm_error(exc: BaseException) -> CrmError:
    """A Salesforce error as the CRM error callers act on; anything else as a plain CrmError."""
    if isinstance(exc, CrmError):
        return exc
    if not isinstance(exc, SalesforceError):
        return CrmError(str(exc), provider=PROVIDER)
    kwargs: dict[str, Any] = {"provider": PROVIDER, "code": exc.error_code, "status": exc.status}
    details = {"body": exc.body} if exc.body is not None else {}
    if isinstance(exc, SalesforceAuthError | SalesforceSessionInvalid):
        return CrmAuthError(exc.message, details=details, **kwargs)
    if isinstance(exc, SalesforceLimitExceeded):
        return CrmQuotaExhausted(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, SalesforceLocatorLost):
        # Providers restart on it themselves; one that escapes is a transient failure of that read.
        return CrmUnavailable(exc.message, retry_after=0, details=details, **kwargs)
    if isinstance(exc, SalesforceUnavailable):
        if exc.status == 429:
            return CrmRateLimited(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
        return CrmUnavailable(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, SalesforceMultipleMatches):
        details = {**details, "candidates": exc.candidates}
        return CrmRejected(f"several records match: {exc.message}", details=details, **kwargs)
    if isinstance(exc, SalesforceRejected):
        field_errors = {field: exc.message for field in exc.fields}
        error_class = CrmNotFound if isinstance(exc, SalesforceNotFound) else CrmRejected
        return error_class(exc.message, field_errors=field_errors, details=details, **kwargs)
    return CrmError(exc.message, details=details, **kwargs)


# Run a provider method with Salesforce's errors translated (generators: while they are iterated).
translated = translating(SalesforceError, to_crm_error)
