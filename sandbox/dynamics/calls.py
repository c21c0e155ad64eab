"""Dataverse's and Entra's answer shapes, shared by every module of the emulator."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sandbox.http import json_response

# Service protection's codes (docs/vendors/dynamics.md, Limits): hex code, message.
REQUESTS_EXCEEDED = (
    "0x80072322",
    "Number of requests exceeded the limit of {limit} over time window of {window} seconds.",
)
EXECUTION_TIME_EXCEEDED = (
    "0x80072321",
    "Combined execution time of incoming requests exceeded limit of {limit} milliseconds over time window of "
    "{window} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
)
CONCURRENCY_EXCEEDED = ("0x80072326", "Number of concurrent requests exceeded the limit of {limit}.")


def dv_error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """Dataverse's error shape: {"error": {"code", "message"}} (code may be "" as in the docs' 412/404 examples)."""
    response = json_response({"error": {"code": code, "message": message, **extra}}, status)
    response.headers["OData-Version"] = "4.0"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def entra_error(status: int, error: str, description: str, *, codes: tuple[int, ...] = ()) -> Response:
    """Entra ID's OAuth error shape: {"error", "error_description", "error_codes"}."""
    return json_response({"error": error, "error_description": description, "error_codes": list(codes)}, status)
