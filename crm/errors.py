"""Errors every CRM provider raises, whatever the vendor: callers decide on the type, never on a status or text.

    CrmError
    ├── CrmAuthError          the connection needs a person to connect again (grant revoked, scope missing)
    ├── CrmUnavailable        down, slow or failing after the provider's retries: try again later (retry_after)
    │   └── CrmRateLimited    throttled after every retry (retry_after when the vendor says)
    │       └── CrmQuotaExhausted  a daily or rolling allowance is used up: retrying soon is pointless
    ├── CrmRejected           the vendor refused the request itself (invalid data, unknown field): not retryable
    │   └── CrmNotFound       no such record or object
    ├── CrmHistoryExpired     the CRM no longer keeps the change history asked for: reconcile by ids instead
    └── CrmNotificationInvalid  a change notification that does not verify (forged, wrong channel, bad body)

Each carries `provider` (the registry kind), the vendor's `code` and `message`, and the HTTP `status` when there
was one; CrmRejected also `field_errors` (field name -> the vendor's message) and `details` (the vendor's body).
Providers translate at their boundary: no vendor exception crosses it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class CrmError(Exception):
    """Base of everything a CRM provider raises."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        code: str = "",
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.status = status
        self.details = dict(details or {})

    def __str__(self) -> str:
        prefix = f"{self.provider}: " if self.provider else ""
        code = f" ({self.code})" if self.code and self.code not in self.message else ""
        return f"{prefix}{self.message}{code}"


class CrmAuthError(CrmError):
    """The CRM refused the connection's credentials even after a refresh: a person must connect it again."""


class CrmUnavailable(CrmError):
    """The CRM is down, slow or failing after the provider's own retries; `retry_after` seconds when known."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class CrmRateLimited(CrmUnavailable):
    """The CRM kept throttling the calls after every retry; wait `retry_after` seconds (when it said)."""


class CrmQuotaExhausted(CrmRateLimited):
    """A daily or rolling allowance of the CRM org is used up (an API-credit pool, a daily request limit; each
    CRM's in docs/vendors/): retrying before it frees up only burns what is left."""


class CrmRejected(CrmError):
    """The CRM refused the request itself; `field_errors` names the fields it blamed, in its own words."""

    def __init__(self, message: str, *, field_errors: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field_errors = dict(field_errors or {})


class CrmNotFound(CrmRejected):
    """No such record (deleted, merged, never existed) or object in the CRM."""


class CrmHistoryExpired(CrmError):
    """The CRM no longer keeps the history asked for (a CRM may list deletions for a few days only, and purge the
    log early when it grows; `available_from` is its earliest moment when it said). What happened before is only found
    by comparing every id: the caller reconciles, then reads history from now on."""

    def __init__(self, message: str, *, available_from: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.available_from = available_from


class CrmNotificationInvalid(CrmError):
    """A change notification that does not verify or parse; `status` is what the webhook should answer."""


def translating(
    vendor_error: type[Exception], translate: Callable[[Any], CrmError]
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A provider's method decorator that turns its vendor's errors into crm.errors at the boundary (generators:
    while they are iterated), so no vendor exception crosses it: `translated = translating(VendorError, to_crm)`."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> T:
            try:
                result = method(self, *args, **kwargs)
            except vendor_error as exc:
                raise translate(exc) from exc
            if isinstance(result, Iterator):
                return _iterate_translated(result, vendor_error, translate)  # type: ignore[return-value]
            return result

        return call

    return decorate


def _iterate_translated(
    items: Iterator[T], vendor_error: type[Exception], translate: Callable[[Any], CrmError]
) -> Iterator[T]:
    try:
        yield from items
    except vendor_error as exc:
        raise translate(exc) from exc
