"""`POST /api/data/v9.2/$batch`: OData's multipart/mixed batch. Operations outside a change set run one after
another (GET allowed); a change set (`multipart/mixed` part) holds POST/PATCH/DELETE that succeed or fail
together: the first failure undoes the set's writes and is the set's only answer. Without `Prefer:
odata.continue-on-error` the batch stops at the first failed part. A change set may reference a row created
earlier in it by `$<Content-ID>` (as a URL or an @odata.bind value). Each inner operation answers as it would
alone (`HTTP/1.1 204 No Content` with OData-EntityId, a JSON body...). The batch is one request for service
protection (its execution time covers every operation); more than dv_batch_max_operations operations: 400. A
change set's rows are tallied as written (rules.py) only when it commits.

The answer: 200 `multipart/mixed; boundary=batchresponse_<uuid>`, change sets as nested
`changesetresponse_<uuid>` parts, each operation an `application/http` part (with its Content-ID)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from sandbox.dynamics import rules
from sandbox.dynamics.calls import API_PREFIX, Call, Problem, dv_endpoint, dv_error, problem, run

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_REFERENCE = re.compile(r"^\$(\d+)")
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class Operation:
    method: str
    url: str
    headers: dict[str, str]
    body: str
    content_id: str = ""


@dataclass
class ChangeSet:
    operations: list[Operation] = field(default_factory=list)


def boundary_of(content_type: str) -> str | None:
    match = _BOUNDARY.search(content_type or "")
    return match.group(1) if match else None


def split_parts(body: str, boundary: str) -> list[str]:
    parts = []
    for chunk in body.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        parts.append(chunk[1:] if chunk.startswith("\n") else chunk)
    return parts


def split_head(text: str) -> tuple[dict[str, str], str]:
    head, _, rest = text.partition("\n\n")
    headers = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def parse_operation(part: str) -> Operation:
    part_headers, http = split_head(part)
    http = http.lstrip("\n")
    request_line, _, rest = http.partition("\n")
    pieces = request_line.split()
    if len(pieces) < 2:
        raise problem(400, "0x80060888", f"The batch request line '{request_line.strip()}' is not valid.")
    headers, body = split_head(rest)
    return Operation(pieces[0].upper(), pieces[1], headers, body.rstrip("\n"), part_headers.get("content-id", ""))


def parse_batch(body: str, boundary: str) -> list[Operation | ChangeSet]:
    items: list[Operation | ChangeSet] = []
    for part in split_parts(body, boundary):
        headers, content = split_head(part)
        inner = boundary_of(headers.get("content-type", ""))
        if inner and headers.get("content-type", "").lower().startswith("multipart/mixed"):
            change_set = ChangeSet()
            for piece in split_parts(content, inner):
                operation = parse_operation(piece)
                if operation.method not in WRITE_METHODS:
                    raise problem(400, "0x80060888", "A change set can only hold POST, PATCH, PUT and DELETE.")
                change_set.operations.append(operation)
            items.append(change_set)
        else:
            items.append(parse_operation(part))
    return items


@cache
def _web_api_map() -> tuple[Map, dict[str, Any]]:
    from sandbox.dynamics import api

    rules, handlers = [], {}
    for index, (path, methods, handler) in enumerate(api.routes()):
        impl = getattr(handler, "impl", None)
        if impl is None or not path.startswith(API_PREFIX) or path.endswith("$batch"):
            continue
        rules.append(Rule(path, endpoint=str(index), methods=methods))
        handlers[str(index)] = impl
    return Map(rules), handlers


def execute(call: Call, operation: Operation, created: dict[str, str]) -> Response:
    """One inner operation through the handler it would reach alone (no second authentication or admission)."""
    url = operation.url
    match = _REFERENCE.match(url)
    if match and match.group(1) in created:
        url = created[match.group(1)] + url[match.end() :]
    parsed = urlsplit(url)
    path = parsed.path
    root = f"/dynamics/{call.environment.name}/api/data/v9.2/"
    if not path.startswith("/dynamics/"):
        path = root + path.split("/api/data/v9.2/", 1)[-1].lstrip("/")
    body = operation.body
    for content_id, entity_url in created.items():
        body = body.replace(f'"${content_id}"', json.dumps(entity_url.split("/api/data/v9.2", 1)[-1]))
    headers = {name: value for name, value in operation.headers.items()}
    headers["Authorization"] = call.request.headers.get("Authorization", "")
    builder = EnvironBuilder(
        path=path,
        base_url=call.request.host_url,
        query_string=parsed.query,
        method=operation.method,
        headers=headers,
        data=body.encode(),
    )
    inner = Request(builder.get_environ())
    url_map, handlers = _web_api_map()
    try:
        endpoint, arguments = url_map.bind_to_environ(inner.environ).match()
    except HTTPException:
        return dv_error(404, "0x80060888", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")
    arguments.pop("env", None)
    inner_call = Call(call.sandbox, inner, call.environment, call.token, call.user_id, in_batch=True)
    return run(handlers[endpoint], inner_call, arguments)


def http_part(response: Response, content_id: str = "") -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    reason = HTTPStatus(response.status_code).phrase
    lines += ["", f"HTTP/1.1 {response.status_code} {reason}"]
    text = response.get_data(as_text=True)
    for name, value in response.headers.items():
        if name.lower() == "content-length" or (name.lower() == "content-type" and not text):
            continue
        lines.append(f"{name}: {value}")
    lines += ["", text]
    return "\r\n".join(lines)


def batch(call: Call) -> Response:
    boundary = boundary_of(call.request.headers.get("Content-Type", ""))
    if not boundary:
        raise problem(400, "0x80060888", "The batch request must have a multipart/mixed Content-Type with a boundary.")
    items = parse_batch(call.request.get_data(as_text=True).replace("\r\n", "\n"), boundary)
    count = sum(len(item.operations) if isinstance(item, ChangeSet) else 1 for item in items)
    limit = call.sandbox.config.dv_batch_max_operations
    if count > limit:  # UNCONFIRMED wording and code
        raise problem(400, "0x8005f103", f"The number of requests in a batch ({count}) exceeded the limit of {limit}.")
    continue_on_error = "odata.continue-on-error" in call.prefer
    outer = f"batchresponse_{uuid.uuid4()}"
    parts: list[str] = []
    for item in items:
        if isinstance(item, ChangeSet):
            text, failed = change_set(call, item)
        else:
            response = execute(call, item, {})
            text, failed = http_part(response, item.content_id), response.status_code >= 400
        parts.append(text)
        if failed and not continue_on_error:
            break
    body = "".join(f"--{outer}\r\n{part}\r\n" for part in parts) + f"--{outer}--\r\n"
    response = Response(body, status=200, content_type=f"multipart/mixed; boundary={outer}")
    if continue_on_error:
        response.headers["Preference-Applied"] = "odata.continue-on-error"
    return response


class _Failed(Exception):
    def __init__(self, text: str) -> None:
        super().__init__("change set failed")
        self.text = text


def change_set(call: Call, item: ChangeSet) -> tuple[str, bool]:
    """(the change set's answer part, whether it failed)."""
    inner = f"changesetresponse_{uuid.uuid4()}"
    created: dict[str, str] = {}
    answers: list[str] = []
    try:
        with rules.deferred_tally(call.sandbox), call.environment.transaction():
            for operation in item.operations:
                response = execute(call, operation, created)
                if response.status_code >= 400:
                    raise _Failed(http_part(response, operation.content_id))
                entity = response.headers.get("OData-EntityId")
                if operation.content_id and entity:
                    created[operation.content_id] = entity
                answers.append(http_part(response, operation.content_id))
    except _Failed as failure:
        return failure.text, True
    except Problem as exc:
        return http_part(exc.response), True
    nested = "".join(f"--{inner}\r\n{answer}\r\n" for answer in answers) + f"--{inner}--"
    return f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{nested}", False


ROUTES = [(f"{API_PREFIX}/$batch", ["POST"], dv_endpoint(batch))]
