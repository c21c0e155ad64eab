"""Errors in each vendor's own shapes (the JSON plumbing is the kit's, re-exported here)."""

from typing import Any

from werkzeug.wrappers import Response

from sandbox.kit.http import json_response, no_content, request_json

__all__ = ["json_response", "no_content", "request_json", "twilio_error", "zoho_error"]


def zoho_error(code: str, message: str, *, status: int = 400, details: dict[str, Any] | None = None) -> Response:
    """Zoho CRM's single-error envelope: {code, details, message, status: "error"}."""
    return json_response({"code": code, "details": details or {}, "message": message, "status": "error"}, status)


def twilio_error(code: int, message: str, *, status: int = 400) -> Response:
    """Twilio's error JSON: {code, message, more_info, status}."""
    return json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status,
    )
