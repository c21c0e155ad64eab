"""One factory for outbound HTTP sessions: every request gets a timeout, so no vendor can hang a worker forever,
and every connection goes through the outbound guard (core/outbound.py): the host is resolved, each address is
checked (no private, loopback or link-local address unless OUTBOUND_ALLOW_PRIVATE_HOSTS), and the socket is opened
to an address that was checked, so a second DNS answer cannot slip an internal address in."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.retry import Retry

from core import outbound

Timeout = float | tuple[float, float]


class _GuardedConnectionMixin:
    """Open the socket only to addresses the guard has just checked."""

    def _new_conn(self):  # type: ignore[no-untyped-def]
        if getattr(self, "proxy", None) is not None:
            # A connection to the operator's proxy; the target host was checked in GuardedAdapter.send.
            return super()._new_conn()
        infos = outbound.host_addresses_check(self._dns_host, self.port)
        name = self._dns_host
        error: Exception | None = None
        for address in dict.fromkeys(str(info[4][0]) for info in infos):  # each checked address once, in order
            self._dns_host = address  # urllib3 resolves this literal without asking DNS again
            try:
                return super()._new_conn()
            except (NewConnectionError, ConnectTimeoutError) as exc:
                error = exc
            finally:
                self._dns_host = name  # TLS (SNI, certificate) and the Host header use the name, never the address
        if error is None:
            raise NewConnectionError(self, f"Failed to establish a new connection: {name} has no address")
        raise error


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose every request and connection passes the outbound guard (redirects included: each is
    a request of its own). Mount it for http:// and https://; `make_session` does."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        outbound.request_url_check(url)
        if select_proxy(url, proxies or {}):
            # Through a proxy the socket goes to the proxy, so the target's addresses are checked here instead.
            parts = urlsplit(url)
            outbound.host_addresses_check(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


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
    """A session for one outbound role (e.g. "crm-accounts", "sms"); `retries` only re-tries failed connections.

    Connection failures are the one retry that is always safe: the request never reached the vendor. Retries on
    statuses or read timeouts belong to the vendor's client, which knows which calls are idempotent.
    """
    session = TimeoutSession(timeout=timeout)
    retry = Retry(total=retries, connect=retries, read=0, status=0, other=0, redirect=0, backoff_factor=0.2)
    adapter = GuardedAdapter(max_retries=retry, pool_maxsize=16)
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


@dataclass
class ApiResponse:
    """A vendor API's successful answer, read whole: status, headers (lower-cased names), the body. A CRM's
    transport subclasses it under its own name."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""
    url: str = ""

    def json(self) -> Any:
        """The JSON body; None for an empty one (204)."""
        return jsonlib.loads(self.content) if self.content else None

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


def headers_of(response: requests.Response) -> dict[str, str]:
    """The answer's headers under lower-cased names (what ApiResponse.header looks up)."""
    return {key.lower(): value for key, value in response.headers.items()}


def json_object(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON body when it is an object; {} for any other body (a list, text, an empty one)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
