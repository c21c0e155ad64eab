"""The HTTP layer under the Dataverse client and the token broker: the guarded sessions (core.http), the answer
type, Dataverse's and Entra's error bodies, the `Prefer` header, OData key segments, and $batch's multipart/mixed
bodies. No policy here: client.py decides what to retry.
"""

from __future__ import annotations

import json as jsonlib
import os
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

import requests
import structlog

from core.http import ApiResponse, headers_of, make_session
from crm.providers.dynamics.conf import dynamics_settings
from crm.providers.dynamics.errors import DataverseUnavailable, error_for

logger = structlog.get_logger(__name__)

_sessions: dict[str, requests.Session] = {}

ODATA_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ENTITY_ID = re.compile(r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$")


def http_session(role: str = "dynamics") -> requests.Session:
    """One guarded session per role ("dynamics" for the Web API); timeouts are passed on every call, retries are
    the client's. The CA bundle (DYNAMICS_CA_BUNDLE) is applied on every call too (settings may change in tests)."""
    session = _sessions.get(role)
    if session is None:
        session = make_session(role, timeout=dynamics_settings.TIMEOUT, retries=0)
        _sessions[role] = session
    return session


def verify_setting() -> str | bool:
    """What requests verifies certificates with: DYNAMICS_CA_BUNDLE's path, or the system's CAs."""
    bundle = str(dynamics_settings.CA_BUNDLE or "")
    if bundle and not os.path.exists(bundle):
        # requests would fail every call with an OSError; the system's CAs at least reach Microsoft's own hosts.
        logger.warning("dynamics.ca_bundle.missing", path=bundle)
        return True
    return bundle or True


class DataverseResponse(ApiResponse):
    """A successful answer: status, headers (lower-cased names), the body (core.http.ApiResponse)."""


@dataclass(frozen=True)
class ErrorInfo:
    """Dataverse's error body `{"error": {"code", "message", "innererror"}}` (or Entra's `{error,
    error_description, error_codes}`), read once, with the answer's Retry-After."""

    code: str
    message: str
    body: Any
    retry_after: float | None = None

    def kwargs(self, status: int) -> dict[str, Any]:
        return {"status": status, "code": self.code, "body": self.body, "retry_after": self.retry_after}


def error_info_parse(status: int, headers: Mapping[str, str], content: bytes) -> ErrorInfo:
    said = retry_after_of(headers)
    try:
        body: Any = jsonlib.loads(content) if content else None
    except ValueError:
        text = content.decode("utf-8", "replace").strip()
        return ErrorInfo("", text[:300] or f"HTTP {status}", text[:2000] or None, said)
    if not isinstance(body, dict):
        return ErrorInfo("", f"HTTP {status}", body, said)
    error = body.get("error")
    if isinstance(error, dict):  # Dataverse
        message = error.get("message") or (error.get("innererror") or {}).get("message") or f"HTTP {status}"
        return ErrorInfo(str(error.get("code") or ""), str(message), body, said)
    # Entra ID's OAuth shape
    message = body.get("error_description") or body.get("message") or error or f"HTTP {status}"
    return ErrorInfo(str(error or ""), str(message), body, said)


def error_info(response: requests.Response) -> ErrorInfo:
    return error_info_parse(response.status_code, headers_of(response), response.content or b"")


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (Dataverse sends whole seconds); None when absent or not a number."""
    try:
        value = float(str(headers.get("retry-after", "")).strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def growing_delay(attempt: int, *, rng: random.Random) -> float:
    """The wait before retry `attempt` (0-based) of a 5xx: DYNAMICS_RETRY_BASE_SECONDS doubled each time, a quarter
    of jitter, at most 30 s."""
    base = float(dynamics_settings.RETRY_BASE_SECONDS) * 2**attempt
    return min(base * (1 + rng.uniform(0, 0.25)), 30.0)


# --- Prefer -------------------------------------------------------------------------------------------------------
ALL_ANNOTATIONS = "*"
FORMATTED_VALUE = "OData.Community.Display.V1.FormattedValue"


def prefer_header(
    *,
    max_page_size: int | None = None,
    track_changes: bool = False,
    annotations: str | Sequence[str] | None = None,
    return_representation: bool = False,
    continue_on_error: bool = False,
    extra: Sequence[str] = (),
) -> str:
    """The `Prefer` header's value, preferences comma-separated in one header (as Dataverse's docs send them):
    odata.maxpagesize=N, odata.track-changes, odata.include-annotations="..." ("*" or names), return=representation,
    odata.continue-on-error. "" when none."""
    parts: list[str] = []
    if track_changes:
        parts.append("odata.track-changes")
    if max_page_size:
        parts.append(f"odata.maxpagesize={int(max_page_size)}")
    if annotations:
        names = annotations if isinstance(annotations, str) else ",".join(annotations)
        parts.append(f'odata.include-annotations="{names}"')
    if return_representation:
        parts.append("return=representation")
    if continue_on_error:
        parts.append("odata.continue-on-error")
    parts.extend(item for item in extra if item and item not in parts)
    return ",".join(parts)


def prefer_merge(*values: str) -> str:
    """Several Prefer values as one (a caller's own preferences added to the client's), each preference once."""
    seen: list[str] = []
    for value in values:
        for part in (value or "").split(","):
            part = part.strip()
            if part and part not in seen:
                seen.append(part)
    return ",".join(seen)


# --- OData paths --------------------------------------------------------------------------------------------------
def literal(value: Any) -> str:
    """An OData literal for a key or a function argument: strings quoted (quotes doubled), GUIDs bare, numbers and
    booleans as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if GUID.match(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def key_segment(key: Mapping[str, Any] | str) -> str:
    """A row's key in parentheses: `(guid)` for a primary id, `(k1='v',k2=2)` for an alternate key, URL-quoted."""
    if isinstance(key, str):
        if not GUID.match(key.strip()):
            raise ValueError(f"not a row id (a GUID): {key!r}; give an alternate key as a mapping")
        return f"({key.strip()})"
    if not key:
        raise ValueError("an alternate key names at least one column")
    inner = ",".join(f"{name}={literal(value)}" for name, value in key.items())
    return "(" + quote(inner, safe="=,'()-_.~:@!$*+") + ")"


def row_path(entity_set: str, key: Mapping[str, Any] | str) -> str:
    return f"{quote(entity_set, safe='_')}{key_segment(key)}"


def entity_id_of(headers: Mapping[str, str]) -> str:
    """The new row's id from OData-EntityId (`.../contacts(<guid>)`); "" when the header names none."""
    value = headers.get("odata-entityid") or headers.get("location") or ""
    found = ENTITY_ID.search(value)
    return found.group(1).lower() if found else ""


def definition_path(logical_name: str, *rest: str) -> str:
    """EntityDefinitions(LogicalName='lead')[/rest...]."""
    path = f"EntityDefinitions(LogicalName={literal(logical_name)})"
    return "/".join([path, *rest]) if rest else path


# --- $batch -------------------------------------------------------------------------------------------------------
@dataclass
class BatchOperation:
    """One request inside a $batch: method, a path relative to the service root ("tasks", "leads(<id>)") or an
    absolute URL on the environment, a JSON body, its own headers (If-None-Match, Prefer ...)."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def safe(self) -> bool:
        """Repeating it cannot do twice what it did once (every method but POST; PATCH is an upsert by key)."""
        return self.method.upper() != "POST"


@dataclass
class ChangeSet:
    """Operations Dataverse runs in one transaction: all succeed or none does."""

    operations: list[BatchOperation]


@dataclass
class BatchItemResult:
    """One operation's answer inside a $batch, in the order sent. `error` is the DataverseError it would have
    raised alone (None when it succeeded); `executed` False when Dataverse never ran it (an earlier failure ended
    the batch, or its change set was rolled back)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    content_id: str = ""
    error: Exception | None = None
    executed: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300

    @property
    def entity_id(self) -> str:
        """The row's id the answer names (OData-EntityId of a create or an upsert)."""
        return entity_id_of(self.headers)


def batch_encode(items: Sequence[BatchOperation | ChangeSet], *, service_root: str) -> tuple[str, bytes]:
    """(Content-Type, body) of a $batch request: multipart/mixed, each change set a nested multipart/mixed whose
    parts carry Content-IDs; inner request lines are absolute URLs on the environment (as the docs' examples)."""
    boundary = f"batch_{uuid.uuid4()}"
    lines: list[str] = []
    content_id = 0
    for item in items:
        lines.append(f"--{boundary}")
        if isinstance(item, ChangeSet):
            changeset = f"changeset_{uuid.uuid4()}"
            lines += [f"Content-Type: multipart/mixed; boundary={changeset}", ""]
            for operation in item.operations:
                content_id += 1
                lines.append(f"--{changeset}")
                lines += _part(operation, service_root=service_root, content_id=str(content_id))
            lines.append(f"--{changeset}--")
            lines.append("")
        else:
            lines += _part(item, service_root=service_root, content_id="")
    lines.append(f"--{boundary}--")
    lines.append("")
    return f"multipart/mixed; boundary={boundary}", "\r\n".join(lines).encode("utf-8")


def _part(operation: BatchOperation, *, service_root: str, content_id: str) -> list[str]:
    url = operation.path if operation.path.startswith(("https://", "http://")) else f"{service_root}/{operation.path}"
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{operation.method.upper()} {url} HTTP/1.1"]
    headers = dict(operation.headers)
    if operation.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
    for name, value in headers.items():
        lines.append(f"{name}: {value}")
    lines.append("")
    lines.append(jsonlib.dumps(operation.body, separators=(",", ":")) if operation.body is not None else "")
    return lines


@dataclass
class RawPart:
    """One HTTP answer found in a $batch response."""

    status: int
    headers: dict[str, str]
    content: bytes
    content_id: str = ""


def batch_decode(content_type: str, content: bytes) -> list[RawPart]:
    """Every HTTP answer of a $batch response, in order (change sets' answers flattened in place)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + content)
    found: list[RawPart] = []
    _walk(message, found)
    return found


def _walk(message: Any, found: list[RawPart]) -> None:
    if message.is_multipart():
        for part in message.iter_parts():
            _walk(part, found)
        return
    if message.get_content_type() != "application/http":
        return
    payload = message.get_payload(decode=True) or b""
    found.append(_http_answer(payload, content_id=str(message.get("Content-ID") or "")))


def _http_answer(payload: bytes, *, content_id: str) -> RawPart:
    head, _, body = payload.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("utf-8", "replace").split("\n")
    status_line = lines[0].strip().split(" ", 2)
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    return RawPart(status, headers, body.strip(), content_id)


def batch_results(items: Sequence[BatchOperation | ChangeSet], parts: Sequence[RawPart]) -> list[BatchItemResult]:
    """One result per operation sent, in order, from a $batch response's answers. A failed change set answers once
    (for the operation that failed): its other operations were rolled back (executed=False). Operations past the
    answers were never run (Dataverse stopped at a failure)."""
    results: list[BatchItemResult] = []
    index = 0
    for item in items:
        group = item.operations if isinstance(item, ChangeSet) else [item]
        if isinstance(item, ChangeSet) and index < len(parts) and not 200 <= parts[index].status < 300:
            failed = batch_item(parts[index])
            index += 1
            results.append(failed)
            for _rolled_back in group[1:]:
                results.append(BatchItemResult(failed.status, failed.headers, failed.body, "", failed.error, False))
            continue
        for _operation in group:
            if index < len(parts):
                results.append(batch_item(parts[index]))
                index += 1
            else:
                error = DataverseUnavailable("not run: an earlier operation of the $batch failed", code="NOT_RUN")
                results.append(BatchItemResult(0, {}, None, "", error, executed=False))
    return results


def batch_item(part: RawPart) -> BatchItemResult:
    """One operation's answer, with the error it would have raised alone."""
    body: Any = None
    if part.content:
        try:
            body = jsonlib.loads(part.content)
        except ValueError:
            body = part.content.decode("utf-8", "replace")
    error = None
    if not 200 <= part.status < 300:
        info = error_info_parse(part.status, part.headers, part.content)
        error = error_for(part.status, info.code, info.message, body=info.body, retry_after=info.retry_after)
    return BatchItemResult(part.status, part.headers, body, part.content_id, error)


# --- metadata answers ---------------------------------------------------------------------------------------------
def label_of(label: Any) -> str:
    """A metadata Label's text: UserLocalizedLabel.Label, else the first LocalizedLabels' one."""
    if not isinstance(label, dict):
        return str(label or "")
    localized = label.get("UserLocalizedLabel") or {}
    if localized.get("Label"):
        return str(localized["Label"])
    for item in label.get("LocalizedLabels") or ():
        if item.get("Label"):
            return str(item["Label"])
    return ""


def row_id_in(body: Mapping[str, Any]) -> str:
    """A returned row's primary id when no header named it: the GUID of its `<table>id` or `activityid` column."""
    for name, value in body.items():
        if name.endswith("id") and not name.startswith("_") and isinstance(value, str) and GUID.match(value):
            return value.lower()
    return ""
