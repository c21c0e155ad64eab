"""One factory for outbound HTTP sessions: every request gets a timeout, so no vendor can hang a worker forever."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

Timeout = float | tuple[float, float]


class TimeoutSession(requests.Session):
    """A requests.Session whose calls always carry a timeout (the caller's, else the session's default)."""

    def __init__(self, *, timeout: Timeout) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def make_session(role: str, timeout: Timeout, retries: int = 0) -> TimeoutSession:
    """A session for one outbound role (e.g. "zoho-accounts"); `retries` only re-tries failed connections.

    Connection failures are the one retry that is always safe: the request never reached the vendor. Retries on
    statuses or read timeouts belong to the vendor's client, which knows which calls are idempotent.
    """
    session = TimeoutSession(timeout=timeout)
    retry = Retry(total=retries, connect=retries, read=0, status=0, other=0, redirect=0, backoff_factor=0.2)
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = f"Leadline/{role}"
    return session


def request_never_reached(exc: requests.RequestException) -> bool:
    """Whether a failed request certainly never reached the vendor (refused or unreachable connection), so even
    a non-idempotent call (a send, an insert) may be repeated. A read timeout or a dropped connection may have
    been acted on: its outcome is unknown."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
        text = repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text or "NameResolution" in text
    return False
