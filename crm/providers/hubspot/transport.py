"""The HTTP layer under the HubSpot client and token broker: the guarded sessions (core.http), the answer type,
HubSpot's error bodies and rate headers, and the backoff schedule. No policy here: client.py decides what to retry."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from core.http import ApiResponse, headers_of, make_session
from crm.providers.hubspot.conf import hubspot_settings

_sessions: dict[str, requests.Session] = {}


def http_session(role: str = "hubspot") -> requests.Session:
    """One guarded session per role ("hubspot" for the API, "hubspot-oauth" for the token endpoint); timeouts are
    passed on every call (settings may change under tests), retries are the client's."""
    session = _sessions.get(role)
    if session is None:
        session = make_session(role, timeout=hubspot_settings.TIMEOUT, retries=0)
        _sessions[role] = session
    return session


class HubSpotResponse(ApiResponse):
    """A successful answer: status, headers (lower-cased names), the body (core.http.ApiResponse)."""


@dataclass(frozen=True)
class ErrorInfo:
    """HubSpot's error body `{status, message, correlationId, category, errors:[...], context, policyName,
    errorType}` (or the OAuth endpoint's `{error, error_description}` / `{status, message}`), read once."""

    category: str
    message: str
    errors: tuple[dict[str, Any], ...]
    context: dict[str, Any]
    policy: str
    correlation_id: str
    body: Any
    retry_after: float | None = None  # the answer's Retry-After header

    def kwargs(self, status: int) -> dict[str, Any]:
        """The HubSpotError keyword arguments this body gives."""
        return {
            "status": status,
            "category": self.category,
            "errors": self.errors,
            "context": self.context,
            "body": self.body,
            "correlation_id": self.correlation_id,
        }


def error_info(response: requests.Response) -> ErrorInfo:
    said = retry_after_of(headers_of(response))
    try:
        body: Any = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return ErrorInfo("", text[:300] or f"HTTP {response.status_code}", (), {}, "", "", text[:2000] or None, said)
    if not isinstance(body, dict):
        return ErrorInfo("", f"HTTP {response.status_code}", (), {}, "", "", body, said)
    errors = tuple(item for item in body.get("errors") or () if isinstance(item, dict))
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    category = str(body.get("category") or body.get("error") or body.get("errorType") or "")
    if not category and body.get("status") not in (None, "error"):
        category = str(body["status"])  # the v1 OAuth endpoints: {"status": "BAD_REFRESH_TOKEN", "message": ...}
    message = body.get("message") or body.get("error_description") or body.get("error") or ""
    return ErrorInfo(
        category=category,
        message=str(message or f"HTTP {response.status_code}"),
        errors=errors,
        context=dict(context or {}),
        policy=str(body.get("policyName") or ""),
        correlation_id=str(body.get("correlationId") or body.get("requestId") or ""),
        body=body,
        retry_after=said,
    )


@dataclass(frozen=True)
class RateHeaders:
    """X-HubSpot-RateLimit-*: the rolling window (Max calls per Interval-Milliseconds, Remaining now) and, when
    HubSpot sends them (not on OAuth-authorized calls), the portal's daily allowance."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily: int | None = None
    daily_remaining: int | None = None

    @property
    def window_known(self) -> bool:
        return self.max is not None and self.remaining is not None

    @property
    def daily_known(self) -> bool:
        return self.daily is not None and self.daily_remaining is not None


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(str(headers[name]).strip())
    except (KeyError, ValueError):
        return None


def rate_headers(headers: Mapping[str, str]) -> RateHeaders:
    """The rate headers of an answer (names lower-cased)."""
    prefix = "x-hubspot-ratelimit-"
    return RateHeaders(
        max=_int(headers, f"{prefix}max"),
        remaining=_int(headers, f"{prefix}remaining"),
        interval_ms=_int(headers, f"{prefix}interval-milliseconds"),
        daily=_int(headers, f"{prefix}daily"),
        daily_remaining=_int(headers, f"{prefix}daily-remaining"),
    )


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    try:
        value = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def growing_delay(attempt: int, *, rng: random.Random) -> float:
    """The wait before retry `attempt` (0-based) of a 5xx: HUBSPOT_RETRY_BASE_SECONDS doubled each time, a quarter
    of jitter, at most HUBSPOT_RETRY_MAX_SECONDS."""
    base = float(hubspot_settings.RETRY_BASE_SECONDS) * 2**attempt
    return min(base * (1 + rng.uniform(0, 0.25)), float(hubspot_settings.RETRY_MAX_SECONDS))


# --- answer shapes ------------------------------------------------------------------------------------------------
@dataclass
class Page:
    """One page of a list or a search: the records, the `after` cursor of the next page (None: the last), the
    search's total, and HubSpot's body."""

    results: list[dict[str, Any]]
    after: str | None = None
    total: int | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    """A batch call's answer: the records done and HubSpot's per-item errors ({status, category, message, context,
    errors, id?}); `status` is HubSpot's ("COMPLETE")."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""

    def error_ids(self) -> dict[str, dict[str, Any]]:
        """Each input id an error names (its `id`, or context.ids / context.id), to its error."""
        found: dict[str, dict[str, Any]] = {}
        for error in self.errors:
            context = error.get("context") or {}
            ids = [error.get("id")]
            for name in ("ids", "id"):
                value = context.get(name)
                ids.extend(value if isinstance(value, list | tuple) else [value])
            for value in ids:
                if value not in (None, ""):
                    found[str(value)] = error
        return found


def next_after(body: Mapping[str, Any]) -> str | None:
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batch_merge(into: BatchResult, answer: HubSpotResponse) -> None:
    body = answer.json() or {}
    into.results.extend(body.get("results") or ())
    into.errors.extend(body.get("errors") or ())
    into.status = str(body.get("status") or into.status)


def flag(value: bool) -> str:
    """A boolean query parameter as HubSpot reads it."""
    return "true" if value else "false"


def segment(value: str | int) -> str:
    """An id (or a unique value: an email) as one path segment."""
    return quote(str(value), safe="")


SEARCH_CAP = 10_000  # results one search query pages through; HubSpot answers 400 past them
SEARCH_CAP_WORDS = re.compile(r"10,?000|page past|past \d[\d,]* results", re.IGNORECASE)


def past_search_cap(message: str, sent: Any) -> bool:
    """Whether a search's 400 is the 10,000-result cap: the `after` sent reached it, or HubSpot's message says so."""
    after = sent.get("after") if isinstance(sent, Mapping) else None
    try:
        reached = after is not None and int(after) >= SEARCH_CAP
    except (TypeError, ValueError):
        reached = False
    return reached or bool(SEARCH_CAP_WORDS.search(message))
