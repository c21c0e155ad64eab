"""The HTTP layer under the Salesforce client and token broker: the guarded sessions (core.http), the answer type,
Salesforce's error bodies, and the backoff schedule. No policy here: client.py decides what to retry."""

from __future__ import annotations

import json as jsonlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from core.http import make_session
from crm.providers.salesforce.conf import salesforce_settings

_sessions: dict[str, requests.Session] = {}


def http_session(role: str = "salesforce") -> requests.Session:
    """One guarded session per role ("salesforce" for the API, "salesforce-login" for the token endpoint); the
    timeouts are passed on every call (settings may change under tests), retries are the client's."""
    session = _sessions.get(role)
    if session is None:
        session = make_session(role, timeout=salesforce_settings.TIMEOUT, retries=0)
        _sessions[role] = session
    return session


@dataclass
class SalesforceResponse:
    """A successful answer. `content` is the body (empty for 204, or when `stream=True`: then read it with
    `iter_content`/`iter_lines` and `close()` it)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    url: str = ""
    raw: requests.Response | None = None  # only for stream=True

    def json(self) -> Any:
        """The JSON body; None for an empty one (204)."""
        if not self.content:
            return None
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def header(self, name: str, default: str = "") -> str:
        """A header by name, whatever its case."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default

    def iter_content(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        if self.raw is None:
            yield self.content
            return
        yield from self.raw.iter_content(chunk_size=chunk_size)

    def iter_lines(self) -> Iterator[bytes]:
        if self.raw is None:
            yield from self.content.splitlines()
            return
        yield from self.raw.iter_lines()

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()


@dataclass(frozen=True)
class ErrorInfo:
    """The first error of Salesforce's error array `[{"message", "errorCode", "fields"}]` (or of an OAuth error
    `{"error", "error_description"}`), and the whole body."""

    code: str
    message: str
    fields: tuple[str, ...]
    body: Any


def error_info(response: requests.Response) -> ErrorInfo:
    try:
        body: Any = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return ErrorInfo("", text[:300] or f"HTTP {response.status_code}", (), text[:2000] or None)
    first = body[0] if isinstance(body, list) and body else body
    if isinstance(first, dict):
        if "error" in first and "errorCode" not in first:  # the OAuth endpoints' shape
            return ErrorInfo(
                str(first.get("error") or ""), str(first.get("error_description") or first.get("error")), (), body
            )
        fields = first.get("fields") or ()
        return ErrorInfo(
            str(first.get("errorCode") or ""),
            str(first.get("message") or f"HTTP {response.status_code}"),
            tuple(str(name) for name in fields) if isinstance(fields, list) else (),
            body,
        )
    return ErrorInfo("", f"HTTP {response.status_code}", (), body)


def backoff_delays(*, attempts: int, base: float, jitter: float, rng: random.Random) -> list[float]:
    """The waits before each retry: base * 2**n plus a random share (up to `jitter`) of it."""
    return [base * 2**n * (1 + rng.uniform(0, jitter)) for n in range(attempts)]


def retry_after_of(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
