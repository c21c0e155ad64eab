"""Typed errors of the Zoho CRM client: callers decide on the type, never on a status code or a message."""

from __future__ import annotations

from typing import Any

from crm.providers.zoho.tokens import ZohoReauthRequired


class ZohoError(Exception):
    """Base of everything the CRM client raises."""

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
        self.code = code
        self.details = details or {}
        self.retry_after = retry_after


class ZohoAuthError(ZohoError, ZohoReauthRequired):
    """Zoho refused our credentials even after a fresh token: the connection needs a person to reconnect."""


class ZohoScopeError(ZohoAuthError):
    """The token lacks a scope the call needs (OAUTH_SCOPE_MISMATCH): reconnect with the product's scopes."""


class ZohoUnavailable(ZohoError):
    """Zoho (or its accounts server) is down, slow or failing after every retry: try again later."""


class ZohoRateLimited(ZohoUnavailable):
    """Zoho kept answering 429 (too many concurrent calls, or a per-minute throttle) after every retry."""


class ZohoCreditsExhausted(ZohoError):
    """Zoho says the org's 24 h API-credit pool is empty; retrying before credits free up is pointless."""


class ZohoBudgetExceeded(ZohoError):
    """Our own credit budget refused the call (background work stops early so interactive work has credits)."""


class ZohoConcurrencyTimeout(ZohoUnavailable):
    """No concurrency slot for the org freed up in time (every slot busy with other calls)."""


class ZohoRequestError(ZohoError):
    """Zoho refused the request itself (4xx: invalid data, limits, unknown module): retrying will not help."""


class ZohoRecordError(ZohoRequestError):
    """A write answered per-record errors (207/400); `results` holds Zoho's entries in input order."""

    def __init__(self, message: str, *, results: list[dict[str, Any]], status: int | None = None):
        first = next((entry for entry in results if entry.get("status") != "success"), {})
        super().__init__(message, status=status, code=first.get("code", ""), details=first.get("details"))
        self.results = results
