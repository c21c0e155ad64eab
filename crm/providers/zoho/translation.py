"""The Zoho CRM provider's boundary with the rest of the product: Zoho's field types and change operations as the
CRM layer's, and every Zoho error (the one family of errors.py: client, transport, token broker, Bulk Read,
OAuth) as the `crm.errors` type callers act on. `provider.py` wraps each of its methods in `translated`."""

from __future__ import annotations

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
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoBudgetExceeded,
    ZohoCreditsExhausted,
    ZohoError,
    ZohoExchangeFailed,
    ZohoRateLimited,
    ZohoRecordError,
    ZohoUnavailable,
)
from crm.records import ChangeOperation, FieldType

PROVIDER = "zoho"

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


# A 4xx that means "no such thing (any more)": a URL, a watch channel, a Bulk Read job, a Bulk Read page token.
NOT_FOUND_CODES = frozenset({"INVALID_URL_PATTERN", "NOT_SUBSCRIBED", "RESOURCE_NOT_FOUND", "CONTINUATION_EXPIRED"})


def crm_error_of(error: Exception) -> CrmError:
    """A Zoho error (any of the family in errors.py: client, transport, token broker, Bulk Read) as the CRM error
    callers act on; anything else as a plain CrmError."""
    if not isinstance(error, ZohoError):
        return CrmError(str(error), provider=PROVIDER)
    kwargs: dict[str, Any] = {
        "provider": PROVIDER,
        "code": error.code,
        "status": error.status,
        "details": error.details,
    }
    if isinstance(error, ZohoAuthError):
        return CrmAuthError(error.message, **kwargs)
    if isinstance(error, ZohoExchangeFailed):  # only a person can start a refused consent again
        if error.reason == "unreachable":
            return CrmUnavailable(error.message, **kwargs)
        return CrmAuthError(error.message, **kwargs)
    if isinstance(error, ZohoCreditsExhausted | ZohoBudgetExceeded):
        return CrmQuotaExhausted(error.message, retry_after=error.retry_after, **kwargs)
    if isinstance(error, ZohoRateLimited):
        return CrmRateLimited(error.message, retry_after=error.retry_after, **kwargs)
    if isinstance(error, ZohoUnavailable):
        return CrmUnavailable(error.message, retry_after=error.retry_after, **kwargs)
    if isinstance(error, ZohoRecordError):
        return _rejected(error, kwargs)
    if error.status == 404 or error.code in NOT_FOUND_CODES:  # Bulk Read answers a lost job's download with 400
        return CrmNotFound(error.message, **kwargs)
    return CrmRejected(error.message, **kwargs)


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
    kwargs = {**kwargs, "details": {"results": error.results}}
    if first.get("code") == "INVALID_DATA" and set(field_errors) == {"id"}:
        return CrmNotFound(message, field_errors=field_errors, **kwargs)
    return CrmRejected(message, field_errors=field_errors, **kwargs)


# Run a provider method with Zoho's errors translated (generators: while they are iterated).
translated = translating(ZohoError, crm_error_of)
