"""JSON in and out of werkzeug, for vendor handlers and the control API alike."""

import json
from typing import Any

from werkzeug.wrappers import Request, Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def no_content() -> Response:
    return Response(status=204)


def request_json(request: Request) -> Any:
    """The JSON body, or None when it is missing or not JSON (handlers answer in the vendor's words)."""
    try:
        return json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        return None
