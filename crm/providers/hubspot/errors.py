"""Every HubSpot exception, one family: the client, the token broker and the rate budget raise a `HubSpotError`, and
`translate` turns any of them into the `crm.errors` type callers act on (`translated` wraps a provider method).

    HubSpotError                  status, category, message, errors (HubSpot's per-item list), context, body
    ├── HubSpotAuthError          a person must connect again (invalid_grant, a fresh token refused, app removed):
    │   │                         the connection says needs_reauth
    │   └── HubSpotMissingScopes  403 MISSING_SCOPES: the app was installed without a scope we need (`scopes`)
    ├── HubSpotRateLimited        429 after the retries (`policy`: TEN_SECONDLY_ROLLING, SECONDLY for search),
    │   │                         or background work waiting longer than allowed; `retry_after` seconds
    │   └── HubSpotDailyLimit     429 DAILY: the portal's daily allowance is used up until its midnight
    ├── HubSpotUnavailable        5xx, 423, timeouts, connection failures, the token endpoint down (after retries)
    └── HubSpotRejected           HubSpot refused the request itself (400 VALIDATION_ERROR ...)
        ├── HubSpotNotFound       404 OBJECT_NOT_FOUND (or a missing object type / property)
        ├── HubSpotConflict       409 (a duplicate unique value, an existing property)
        ├── HubSpotSearchCapReached  400 past the 10,000th result of one search: slide the window
        └── HubSpotUriTooLong     414: name fewer properties in the URL (send them in a POST body)

Callers decide on the type, never on a status code or a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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

PROVIDER = "hubspot"


class HubSpotError(Exception):
    """Base of every HubSpot exception. `category` is HubSpot's (VALIDATION_ERROR, OBJECT_NOT_FOUND,
    EXPIRED_AUTHENTICATION, RATE_LIMITS, invalid_grant ...); `errors` its detail list
    ([{message, code, context, in, subCategory}]); `context` its context dict; `body` the whole answer."""

    default_category = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str = "",
        errors: Iterable[Mapping[str, Any]] = (),
        context: Mapping[str, Any] | None = None,
        body: Any = None,
        retry_after: float | None = None,
        correlation_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category or self.default_category
        self.errors = [dict(item) for item in errors]
        self.context = dict(context or {})
        self.body = body
        self.retry_after = retry_after
        self.correlation_id = correlation_id

    @property
    def properties(self) -> list[str]:
        """The property names HubSpot's error blamed (context.propertyName / errors[].context.propertyName)."""
        names: list[str] = []
        for context in [self.context, *(item.get("context") or {} for item in self.errors)]:
            for value in _as_list((context or {}).get("propertyName")):
                if value not in names:
                    names.append(value)
        return names


class HubSpotAuthError(HubSpotError):
    """The refresh token was refused (invalid_grant: the app was uninstalled, the token revoked), or a freshly
    refreshed access token was refused too: a person must reconnect."""

    default_category = "REAUTH_REQUIRED"


class HubSpotMissingScopes(HubSpotAuthError):
    """403 MISSING_SCOPES: the portal installed the app without a scope this call needs; `scopes` names them.
    Reconnecting (re-consenting with the scopes) fixes it."""

    default_category = "MISSING_SCOPES"

    @property
    def scopes(self) -> list[str]:
        found: list[str] = []
        for context in [self.context, *(item.get("context") or {} for item in self.errors)]:
            for scope in _as_list((context or {}).get("missingScopes") or (context or {}).get("requiredScopes")):
                if scope not in found:
                    found.append(scope)
        return found


class HubSpotRateLimited(HubSpotError):
    """HubSpot kept answering 429 (`policy`: TEN_SECONDLY_ROLLING, or SECONDLY for search), or background work
    found no room in the window within HUBSPOT_BACKGROUND_WAIT_SECONDS; try again after `retry_after` seconds."""

    default_category = "RATE_LIMITS"

    def __init__(self, message: str, *, policy: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.policy = policy


class HubSpotDailyLimit(HubSpotRateLimited):
    """429 DAILY: the portal's daily allowance is used up; it resets at midnight in the portal's time zone
    (`retry_after` counts to it when known)."""


class HubSpotUnavailable(HubSpotError):
    """HubSpot (or its token endpoint) is down, slow, locked (423) or failing after every retry."""


class HubSpotRejected(HubSpotError):
    """HubSpot refused the request itself (an invalid value, an unknown or read-only property): retrying the same
    request will not help."""


class HubSpotNotFound(HubSpotRejected):
    """No such record, object type or property (404)."""

    default_category = "OBJECT_NOT_FOUND"


class HubSpotConflict(HubSpotRejected):
    """409: a unique value already taken, a property that exists already."""

    default_category = "CONFLICT"


class HubSpotSearchCapReached(HubSpotRejected):
    """A search was paged past its 10,000th result (HubSpot answers 400): start a new query from the last
    timestamp read instead of paging on."""

    default_category = "SEARCH_CAP"


class HubSpotUriTooLong(HubSpotRejected):
    """414: the URL names too much (e.g. hundreds of properties); send them in a POST body (search, batch/read)."""

    default_category = "URI_TOO_LONG"


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | set):
        return [str(item) for item in value]
    text = str(value).strip("[]")
    return [part.strip() for part in text.split(",") if part.strip()]


# --- the one translation to crm.errors ---------------------------------------------------------------------------
def translate(exc: BaseException) -> CrmError:
    """A HubSpot error as the CRM error callers act on; anything else as a plain CrmError."""
    if isinstance(exc, CrmError):
        return exc
    if not isinstance(exc, HubSpotError):
        return CrmError(str(exc), provider=PROVIDER)
    kwargs: dict[str, Any] = {"provider": PROVIDER, "code": exc.category, "status": exc.status}
    details: dict[str, Any] = {"body": exc.body} if exc.body is not None else {}
    if exc.errors:
        details["errors"] = exc.errors
    if exc.context:
        details["context"] = exc.context
    if isinstance(exc, HubSpotAuthError):
        if isinstance(exc, HubSpotMissingScopes):
            details["missing_scopes"] = exc.scopes
        return CrmAuthError(exc.message, details=details, **kwargs)
    if isinstance(exc, HubSpotDailyLimit):
        return CrmQuotaExhausted(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, HubSpotRateLimited):
        details["policy"] = exc.policy
        return CrmRateLimited(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, HubSpotUnavailable):
        return CrmUnavailable(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, HubSpotRejected):
        field_errors = {name: exc.message for name in exc.properties}
        error_class = CrmNotFound if isinstance(exc, HubSpotNotFound) else CrmRejected
        return error_class(exc.message, field_errors=field_errors, details=details, **kwargs)
    return CrmError(exc.message, details=details, **kwargs)


# Run a provider method with HubSpot's errors translated (generators: while they are iterated).
translated = translating(HubSpotError, translate)
