"""Every Dataverse (and Entra ID) exception, one family: the client, the token broker and the limits raise a
`DataverseError`, and `translate` turns any of them into the `crm.errors` type callers act on (`translated` wraps a
provider method).

    DataverseError                   status, code (Dataverse's hex code or Entra's error), message, body
    ├── DataverseAuthError           a person must act: the token refused after a refresh, the tenant never consented
    │                                (code "consent_required"), the app's secret wrong, the application user missing
    ├── DataverseRateLimited         429 after the retries, or a shared Retry-After longer than a call may wait
    │                                (`limit`: requests, execution or concurrency); `retry_after` seconds
    ├── DataverseUnavailable         5xx, timeouts, connection failures, the token endpoint down (after retries)
    ├── DataverseHistoryExpired      a delta link's version stamp (or a paging cookie) is too old: read everything
    └── DataverseRejected            Dataverse refused the request itself (400 ...): retrying will not help
        ├── DataverseNotFound        404: no such row, table or column
        ├── DataversePreconditionFailed  412: If-Match / If-None-Match failed (the row exists, or changed since)
        ├── DataverseDuplicate       duplicate detection refused the row (0x80040333)
        └── DataverseTrackingDisabled    the table has no change tracking

Callers decide on the type, never on a status code or a message.
"""

from __future__ import annotations

import re
from typing import Any

from crm.errors import (
    CrmAuthError,
    CrmError,
    CrmHistoryExpired,
    CrmNotFound,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
    translating,
)

PROVIDER = "dynamics"

# Dataverse's codes (docs/vendors/dynamics.md). Service protection: requests, execution time, concurrency.
CODE_REQUESTS = "0x80072322"
CODE_EXECUTION = "0x80072321"
CODE_CONCURRENCY = "0x80072326"
RATE_LIMIT_CODES = {CODE_REQUESTS: "requests", CODE_EXECUTION: "execution", CODE_CONCURRENCY: "concurrency"}
CODE_DUPLICATE = "0x80040333"
CODE_TOKEN_EXPIRED = "0x80044352"  # noqa: S105 (an error code) UNCONFIRMED: the emulator's; the message is matched too
CODE_TRACKING_DISABLED = "0x80044351"  # UNCONFIRMED: the emulator's; the message is matched too
TOKEN_EXPIRED_WORDS = re.compile(r"version stamp.*expired|perform a full sync", re.IGNORECASE | re.DOTALL)
TRACKING_DISABLED_WORDS = re.compile(r"change tracking (is )?not enabled|doesn't have change tracking", re.IGNORECASE)
PAGING_COOKIE_WORDS = re.compile(r"paging cookie|skip ?token", re.IGNORECASE)
# Entra's codes that mean the customer's tenant has not (or no longer) consented to the app.
CONSENT_AADSTS = frozenset({"7000229", "700016", "65001", "65004"})
CONSENT_REQUIRED = "consent_required"


class DataverseError(Exception):
    """Base of every Dataverse exception. `code` is Dataverse's hex code (0x80040333...) or Entra's OAuth error
    (invalid_client...); `body` the whole error answer; `retry_after` seconds when the answer said."""

    default_code = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.body = body
        self.retry_after = retry_after


class DataverseAuthError(DataverseError):
    """The environment refused a freshly issued token, Entra refused the app's credentials, or the customer's tenant
    has not consented to the app (`code` "consent_required"): a person must act (consent, fix the secret, create the
    application user)."""

    default_code = "REAUTH_REQUIRED"


class DataverseRateLimited(DataverseError):
    """Service protection kept answering 429 (`limit`: "requests", "execution" or "concurrency"), or the
    environment is blocked longer than this call may wait; try again after `retry_after` seconds."""

    default_code = "RATE_LIMITED"

    def __init__(self, message: str, *, limit: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class DataverseUnavailable(DataverseError):
    """Dataverse (or Entra's token endpoint) is down, slow or failing after every retry."""


class DataverseHistoryExpired(DataverseError):
    """The delta link's version stamp is older than the environment keeps changes ("Version stamp associated with
    the client has expired. Please perform a full sync."), or a paging link died: read everything again."""

    default_code = CODE_TOKEN_EXPIRED


class DataverseRejected(DataverseError):
    """Dataverse refused the request itself (an unknown column, a missing required value): retrying will not
    help."""


class DataverseNotFound(DataverseRejected):
    """404: no such row (deleted, never existed), table, column or path."""


class DataversePreconditionFailed(DataverseRejected):
    """412: `If-None-Match: *` and the row exists ("A record with matching key values already exists."), or
    `If-Match: W/"n"` and the row changed since."""


class DataverseDuplicate(DataverseRejected):
    """Duplicate detection refused the row (0x80040333: "A record was not created or updated because a duplicate
    of the current record already exists.")."""

    default_code = CODE_DUPLICATE


class DataverseTrackingDisabled(DataverseRejected):
    """The table has no change tracking ("The entity doesn't have change tracking enabled."): read by modifiedon."""

    default_code = CODE_TRACKING_DISABLED


def aadsts_codes(body: Any) -> list[str]:
    """Entra's AADSTS numbers of an OAuth error body (error_codes, or the description's AADSTSnnnn)."""
    if not isinstance(body, dict):
        return []
    codes = [str(code) for code in body.get("error_codes") or ()]
    codes += re.findall(r"AADSTS(\d+)", str(body.get("error_description") or ""))
    return list(dict.fromkeys(codes))


def consent_missing(body: Any) -> bool:
    """Whether an Entra error says the tenant has not consented to the app (or has no service principal for it)."""
    if not isinstance(body, dict):
        return False
    if str(body.get("error") or "") in (CONSENT_REQUIRED, "unauthorized_client"):
        return True
    return any(code in CONSENT_AADSTS for code in aadsts_codes(body))


# Dataverse's answer when the app has no application user in the environment (or it is disabled).
CODE_NOT_A_MEMBER = "0x80072560"


def error_for(status: int, code: str, message: str, *, following_link: bool = False, **kwargs: Any) -> DataverseError:
    """The DataverseError an error answer means (a whole call's, or one operation's inside a $batch): by status and
    Dataverse's code, and for a followed next/delta link, a dead paging cookie is an expired history."""
    text = f"Dataverse answered HTTP {status}{f' {code}' if code else ''}: {message}"
    kwargs = {"status": status, "code": code, **kwargs}
    if status == 429:
        return DataverseRateLimited(text, limit=RATE_LIMIT_CODES.get(code.lower(), ""), **kwargs)
    if status in (401, 403) and code == CODE_NOT_A_MEMBER:
        return DataverseAuthError(
            f"{text} The app has no application user in this environment (or it is disabled): create it "
            "(docs/crm/dynamics.md, Application user) and assign it the Leadline security role.",
            **kwargs,
        )
    if status == 401:
        return DataverseAuthError(text, **kwargs)
    if code == CODE_DUPLICATE:
        return DataverseDuplicate(text, **kwargs)
    if code == CODE_TOKEN_EXPIRED or TOKEN_EXPIRED_WORDS.search(message):
        return DataverseHistoryExpired(text, **kwargs)
    if following_link and status in (400, 404, 410) and PAGING_COOKIE_WORDS.search(message):
        return DataverseHistoryExpired(text, **kwargs)
    if code == CODE_TRACKING_DISABLED or TRACKING_DISABLED_WORDS.search(message):
        return DataverseTrackingDisabled(text, **kwargs)
    if status >= 500:
        return DataverseUnavailable(text, **kwargs)
    if status == 404:
        return DataverseNotFound(text, **kwargs)
    if status == 412:
        return DataversePreconditionFailed(text, **kwargs)
    return DataverseRejected(text, **kwargs)


# --- the one translation to crm.errors ---------------------------------------------------------------------------
def translate(exc: BaseException) -> CrmError:
    """A Dataverse error as the CRM error callers act on; anything else as a plain CrmError."""
    if isinstance(exc, CrmError):
        return exc
    if not isinstance(exc, DataverseError):
        return CrmError(str(exc), provider=PROVIDER)
    kwargs: dict[str, Any] = {"provider": PROVIDER, "code": exc.code, "status": exc.status}
    details: dict[str, Any] = {"body": exc.body} if exc.body is not None else {}
    if isinstance(exc, DataverseAuthError):
        return CrmAuthError(exc.message, details=details, **kwargs)
    if isinstance(exc, DataverseRateLimited):
        details["limit"] = exc.limit
        return CrmRateLimited(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, DataverseUnavailable):
        return CrmUnavailable(exc.message, retry_after=exc.retry_after, details=details, **kwargs)
    if isinstance(exc, DataverseHistoryExpired):
        return CrmHistoryExpired(exc.message, details=details, **kwargs)
    if isinstance(exc, DataverseRejected):
        field_errors = {name: exc.message for name in blamed_columns(exc.message)}
        error_class = CrmNotFound if isinstance(exc, DataverseNotFound) else CrmRejected
        return error_class(exc.message, field_errors=field_errors, details=details, **kwargs)
    return CrmError(exc.message, details=details, **kwargs)


_COLUMN_WORDS = (
    re.compile(r"property named '([A-Za-z0-9_]+)'"),
    re.compile(r"attribute(?: with name)? '?([a-z0-9_]+)'? ", re.IGNORECASE),
    re.compile(r"column '([A-Za-z0-9_]+)'"),
)


def blamed_columns(message: str) -> list[str]:
    """The column names a Dataverse message blames ("Could not find a property named 'x' ...")."""
    found: list[str] = []
    for pattern in _COLUMN_WORDS:
        for name in pattern.findall(message or ""):
            if name not in found and name.lower() not in ("with", "the", "name"):
                found.append(name)
    return found


# Run a provider method with Dataverse's errors translated (generators: while they are iterated).
translated = translating(DataverseError, translate)
