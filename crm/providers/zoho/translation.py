"""The Zoho CRM provider's boundary with the rest of the product: Zoho's field types and change operations as the
CRM layer's, and every Zoho error (client, transport, token broker, OAuth flow) as the `crm.errors` type callers
act on. `provider.py` wraps each of its methods in `translated`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from crm.errors import (
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmQuotaExhausted,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
)
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoBudgetExceeded,
    ZohoCreditsExhausted,
    ZohoError,
    ZohoRateLimited,
    ZohoRecordError,
    ZohoUnavailable,
)
from crm.providers.zoho.tokens import ZohoReauthRequired, ZohoTokenUnavailable
from crm.records import ChangeOperation, FieldType

PROVIDER = "zoho"
T = TypeVar("T")

# Zoho's data_type -> the field type; formulas and the rest by json_type (FIELD_TYPES_BY_JSON).
FIELD_TYPES = {
    "text": FieldType.TEXT,
    "textarea": FieldType.TEXT,
    "autonumber": FieldType.TEXT,
    "email": FieldType.EMAIL,
    "phone": FieldType.PHONE,
    "website": FieldType.URL,
    "picklist": FieldType.PICKLIST,
    "multiselectpicklist": FieldType.MULTI_PICKLIST,
    "integer": FieldType.NUMBER,
    "bigint": FieldType.NUMBER,
    "long": FieldType.NUMBER,
    "double": FieldType.DECIMAL,
    "decimal": FieldType.DECIMAL,
    "percent": FieldType.DECIMAL,
    "currency": FieldType.CURRENCY,
    "boolean": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "lookup": FieldType.LOOKUP,
    "ownerlookup": FieldType.USER,
    "userlookup": FieldType.USER,
    "multiselectlookup": FieldType.JSON,
    "multiuserlookup": FieldType.JSON,
}
FIELD_TYPES_BY_JSON = {
    "integer": FieldType.NUMBER,
    "double": FieldType.DECIMAL,
    "boolean": FieldType.BOOLEAN,
    "jsonobject": FieldType.JSON,
    "jsonarray": FieldType.JSON,
}
OPERATIONS = {"insert": ChangeOperation.CREATED, "update": ChangeOperation.UPDATED, "delete": ChangeOperation.DELETED}


def crm_error_of(error: Exception) -> CrmError:
    """A Zoho error (client, transport, token broker or OAuth flow) as the CRM error callers act on."""
    if isinstance(error, ZohoError):
        kwargs: dict[str, Any] = {"provider": PROVIDER, "code": error.code, "status": error.status}
        if isinstance(error, ZohoAuthError):
            return CrmAuthError(error.message, details=error.details, **kwargs)
        if isinstance(error, ZohoCreditsExhausted | ZohoBudgetExceeded):
            return CrmQuotaExhausted(error.message, retry_after=error.retry_after, details=error.details, **kwargs)
        if isinstance(error, ZohoRateLimited):
            return CrmRateLimited(error.message, retry_after=error.retry_after, details=error.details, **kwargs)
        if isinstance(error, ZohoUnavailable):
            return CrmUnavailable(error.message, retry_after=error.retry_after, details=error.details, **kwargs)
        if isinstance(error, ZohoRecordError):
            return _rejected(error, kwargs)
        if error.status == 404 or error.code in ("INVALID_URL_PATTERN", "NOT_SUBSCRIBED"):
            return CrmNotFound(error.message, details=error.details, **kwargs)
        return CrmRejected(error.message, details=error.details, **kwargs)
    if isinstance(error, ZohoReauthRequired):
        return CrmAuthError(str(error), provider=PROVIDER, code="REAUTH_REQUIRED")
    if isinstance(error, ZohoTokenUnavailable):
        return CrmUnavailable(str(error), provider=PROVIDER, code="TOKEN_UNAVAILABLE", retry_after=error.retry_after)
    return CrmError(str(error), provider=PROVIDER)


def _rejected(error: ZohoRecordError, kwargs: dict[str, Any]) -> CrmRejected:
    """Per-record errors: each failed entry's field (details.api_name) with Zoho's message."""
    failed = [entry for entry in error.results if entry.get("status") != "success"]
    field_errors = {}
    for entry in failed:
        details = entry.get("details") or {}
        name = details.get("api_name") or (details.get("expected_data_type") and "value") or ""
        if name:
            field_errors[str(name)] = str(entry.get("message") or entry.get("code") or "")
    first = failed[0] if failed else {}
    message = str(first.get("message") or error.message)
    details = {"results": error.results}
    if first.get("code") == "INVALID_DATA" and set(field_errors) == {"id"}:
        return CrmNotFound(message, field_errors=field_errors, details=details, **kwargs)
    return CrmRejected(message, field_errors=field_errors, details=details, **kwargs)


def translated(method: Callable[..., T]) -> Callable[..., T]:
    """Run a provider method with Zoho's errors translated (generators: while they are iterated)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            result = method(self, *args, **kwargs)
        except (ZohoError, ZohoReauthRequired, ZohoTokenUnavailable) as exc:
            raise crm_error_of(exc) from exc
        if isinstance(result, Iterator):
            return _iterate_translated(result)  # type: ignore[return-value]
        return result

    return call


def _iterate_translated(items: Iterator[T]) -> Iterator[T]:
    try:
        yield from items
    except (ZohoError, ZohoReauthRequired, ZohoTokenUnavailable) as exc:
        raise crm_error_of(exc) from exc
