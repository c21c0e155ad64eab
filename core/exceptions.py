"""One error type for business-rule failures, and one error shape for the API: {"message", "extra"}."""

from typing import Any

from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404


class ApplicationError(Exception):
    """A request we understood but must refuse (a business rule). Shown to the user as is."""

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class UpstreamUnavailable(drf_exceptions.APIException):
    """A vendor we depend on (a CRM, an SMS provider) failed: 502 in the one error shape, never a 500; `code` in
    `extra`."""

    status_code = 502
    default_detail = "An upstream service is unavailable; try again shortly."
    default_code = "upstream_unavailable"

    def __init__(self, message: str, *, code: str):
        super().__init__(message, code)
        self.extra = {"code": code}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every expected failure to `{"message": str, "extra": {...}}` with a fitting status."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=400)

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500 that reaches Sentry
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = {"message": "Validation error", "extra": {"fields": response.data}}
    else:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        # An exception may carry machine-readable details (UpstreamUnavailable's code): keep them.
        response.data = {"message": str(detail), "extra": dict(getattr(exc, "extra", None) or {})}
    return response
