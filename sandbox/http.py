"""Response helpers in each vendor's own shapes."""

import json
from typing import Any

from werkzeug.wrappers import Request, Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def no_content() -> Response:
    """Zoho answers 204 with no body at all when nothing matches."""
    return Response(status=204)


def zoho_error(code: str, message: str, *, status: int = 400, details: dict[str, Any] | None = None) -> Response:
    """Zoho CRM's single-error envelope: {code, details, message, status: "error"}."""
    return json_response({"code": code, "details": details or {}, "message": message, "status": "error"}, status)


def twilio_error(code: int, message: str, *, status: int = 400) -> Response:
    """Twilio's error JSON: {code, message, more_info, status}."""
    return json_response(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status,
    )


def request_json(request: Request) -> Any:
    """The JSON body, or None when it is missing or not JSON (handlers answer in the vendor's words)."""
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return None
