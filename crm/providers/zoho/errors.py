"""Every Zoho exception, one family: the CRM client, its transport, the token broker, Bulk Read and the OAuth code
exchange all raise a `ZohoError`, and `translation.crm_error_of` turns any of them into the `crm.errors` type
callers act on.

    ZohoError                   status, code (Zoho's), details, retry_after
    ├── ZohoAuthError           a person must connect Zoho again (also named ZohoReauthRequired)
    │   └── ZohoScopeError      the grant lacks a scope the call needs
    ├── ZohoUnavailable         down, slow or failing after every retry: try again later
    │   ├── ZohoRateLimited     429 after every retry
    │   ├── ZohoConcurrencyTimeout  no concurrency slot of the org freed up in time
    │   └── ZohoTokenUnavailable    the token broker has no access token right now
    ├── ZohoCreditsExhausted    the org's 24 h API-credit pool is empty
    ├── ZohoBudgetExceeded      our own credit budget refused the call
    ├── ZohoRequestError        Zoho refused the request itself (4xx)
    │   └── ZohoRecordError     per-record write errors
    ├── ZohoExportFailed        a Bulk Read job Zoho failed
    └── ZohoExchangeFailed      the OAuth code exchange (connect or sign-in) gave no token

Callers decide on the type, never on a status code or a message. `ZohoReauthRequired` and `ZohoTokenError` are
the token broker's old names, kept because code outside this package still imports them: the first is
`ZohoAuthError` itself (a refused refresh token and a refused access token both need a person to reconnect), the
second the family's base.
"""

from __future__ import annotations

from typing import Any


class ZohoError(Exception):
    """Base of every Zoho exception (client, transport, token broker, Bulk Read, OAuth code exchange)."""

    default_code = ""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or self.default_code
        self.details = details or {}
        self.retry_after = retry_after


class ZohoAuthError(ZohoError):
    """Zoho refused our credentials even after a fresh token, or the refresh token itself is revoked, invalid or
    missing: the connection needs a person to reconnect."""

    default_code = "REAUTH_REQUIRED"


class ZohoScopeError(ZohoAuthError):
    """The token lacks a scope the call needs (OAUTH_SCOPE_MISMATCH): reconnect with the product's scopes."""


class ZohoUnavailable(ZohoError):
    """Zoho (or its accounts server) is down, slow or failing after every retry: try again later."""


class ZohoRateLimited(ZohoUnavailable):
    """Zoho kept answering 429 (too many concurrent calls, or a per-minute throttle) after every retry."""


class ZohoConcurrencyTimeout(ZohoUnavailable):
    """No concurrency slot for the org freed up in time (every slot busy with other calls)."""


class ZohoTokenUnavailable(ZohoUnavailable):
    """The token broker has no access token right now (accounts server down, slow or throttling us): retry
    after `retry_after` seconds when known."""

    default_code = "TOKEN_UNAVAILABLE"


class ZohoCreditsExhausted(ZohoError):
    """Zoho says the org's 24 h API-credit pool is empty; retrying before credits free up is pointless."""


class ZohoBudgetExceeded(ZohoError):
    """Our own credit budget refused the call (background work stops early so interactive work has credits)."""


class ZohoRequestError(ZohoError):
    """Zoho refused the request itself (4xx: invalid data, limits, unknown module): retrying will not help."""


class ZohoRecordError(ZohoRequestError):
    """A write answered per-record errors (207/400); `results` holds Zoho's entries in input order."""

    def __init__(self, message: str, *, results: list[dict[str, Any]], status: int | None = None):
        first = next((entry for entry in results if entry.get("status") != "success"), {})
        super().__init__(message, status=status, code=first.get("code", ""), details=first.get("details"))
        self.results = results


class ZohoExportFailed(ZohoError):
    """Zoho failed a Bulk Read job (state FAILURE): its records will never come; a new export may succeed."""

    default_code = "EXPORT_FAILED"


class ZohoExchangeFailed(ZohoError):
    """The OAuth code exchange (connect or sign-in) gave no access token. `reason`: "refused" (the outbound guard
    would not call the server), "unreachable", or "error" (Zoho answered an error; `detail` holds it)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}", code=f"EXCHANGE_{reason.upper()}")
        self.reason = reason
        self.detail = detail


# The token broker's old names (tokens.py re-exports them).
ZohoReauthRequired = ZohoAuthError
ZohoTokenError = ZohoError
