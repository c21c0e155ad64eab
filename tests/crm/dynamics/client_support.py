"""A tiny Entra ID + Dataverse stand-in for the client's tests, served over real HTTPS (msal accepts only an https
authority) by werkzeug in a thread, with a self-signed certificate (sandbox/tls.py) the client trusts through
DYNAMICS_CA_BUNDLE. Each test scripts the answers it needs; the server records every request it got, when, and how
many were in flight at once. The emulator's own tests (tests/sandbox/dynamics/) cover the real vendor behaviour.

    def test_something(fake, dv_account, make_client):
        fake.api.append(lambda request: fake.json(200, {"UserId": "..."}))
        client = make_client()
"""

from __future__ import annotations

import json as jsonlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from django.core.cache import cache

from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

TENANT = "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"
OTHER_TENANT = "11111111-2222-4333-8444-555555555555"
ENV_PATH = "/env/harborfit"
CLIENT_ID = "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
CLIENT_SECRET = "demo-dynamics-client-secret-not-secret"
LEAD_ID = "00000000-0000-4000-8000-000000000001"

Handler = Callable[[Request], Response | None]


@dataclass
class Seen:
    """One request the server got: when it arrived, and when its answer left."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    arrived: float
    answered: float = 0.0

    @property
    def bearer(self) -> str:
        return self.headers.get("authorization", "").removeprefix("Bearer ")

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None


@dataclass
class FakeDataverse:
    """The WSGI app. `api` holds handlers for Web API requests, used in order (a handler returning None passes
    to the next call; once only `default` answers); `token_answers` the token endpoint's scripted answers (else a
    fresh token at-1, at-2 ...). `delay` seconds each API request takes; `in_flight_max` the most seen at once."""

    url: str = ""
    api: list[Handler] = field(default_factory=list)
    default: Handler | None = None
    token_answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    discovery_status: int = 200
    seen: list[Seen] = field(default_factory=list)
    delay: float = 0.0
    expires_in: int = 3600
    in_flight: int = 0
    in_flight_max: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def environment(self) -> str:
        return f"{self.url}{ENV_PATH}"

    @property
    def service_root(self) -> str:
        return f"{self.environment}/api/data/v9.2"

    # --- answers tests build ------------------------------------------------------------------------------------
    @staticmethod
    def json(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        content = "" if body is None else jsonlib.dumps(body)
        response = Response(content, status=status, content_type="application/json; odata.metadata=minimal")
        response.headers["OData-Version"] = "4.0"
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @classmethod
    def error(cls, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json(status, {"error": {"code": code, "message": message}}, headers)

    def answer(self, *responses: Response | Handler) -> FakeDataverse:
        """Queue answers for the next API requests, in order."""
        for item in responses:
            self.api.append(item if callable(item) and not isinstance(item, Response) else _const(item))
        return self

    def api_seen(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path.startswith(ENV_PATH)]

    # --- WSGI ---------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        seen = Seen(
            request.method,
            request.path,
            request.query_string.decode(),
            {key.lower(): value for key, value in request.headers.items()},
            request.get_data(),
            time.time(),
        )
        with self.lock:
            self.seen.append(seen)
        response = self._route(request)
        seen.answered = time.time()
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = path.strip("/").split("/")[0]
            if self.discovery_status != 200:
                return self.json(self.discovery_status, {"error": "invalid_tenant", "error_description": "AADSTS90002"})
            return self.json(
                200,
                {
                    "issuer": f"{self.url}/{tenant}/v2.0",
                    "authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/token",
                    "jwks_uri": f"{self.url}/common/discovery/keys",
                },
            )
        if path.endswith("/oauth2/v2.0/token"):
            form = {key: value for key, value in request.form.items()}
            form["tenant"] = path.strip("/").split("/")[0]
            with self.lock:
                self.token_requests.append(form)
                number = len(self.token_requests)
                scripted = self.token_answers.pop(0) if self.token_answers else None
            if scripted is not None:
                return self.json(*scripted)
            token = {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": f"at-{number}"}
            return self.json(200, token)
        if path.startswith(ENV_PATH):
            return self._api(request)
        return self.error(404, "0x80060888", f"No route {path}")

    def _api(self, request: Request) -> Response:
        with self.lock:
            self.in_flight += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            while True:
                with self.lock:
                    handler = self.api.pop(0) if self.api else self.default
                if handler is None:
                    return self.json(200, {"value": []})
                answer = handler(request)
                if answer is not None:
                    return answer
        finally:
            with self.lock:
                self.in_flight -= 1


def _const(response: Response) -> Handler:
    return lambda request: response


def batch_parts(request: Request) -> list[tuple[str, str, dict[str, str], Any]]:
    """The operations of a $batch request as (method, url, headers, json body), change sets flattened."""
    content_type = request.headers["Content-Type"]
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + request.get_data())
    found: list[tuple[str, str, dict[str, str], Any]] = []

    def walk(part: Any) -> None:
        if part.is_multipart():
            for inner in part.iter_parts():
                walk(inner)
            return
        payload = (part.get_payload(decode=True) or b"").replace(b"\r\n", b"\n")
        head, _, body = payload.partition(b"\n\n")
        lines = head.decode().split("\n")
        method, url, _ = lines[0].split(" ", 2)
        headers = {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])
        }
        found.append((method, url, headers, jsonlib.loads(body) if body.strip() else None))

    walk(message)
    return found


def batch_response(answers: list[str | list[str]]) -> Response:
    """A $batch answer: each item an HTTP answer text ("HTTP/1.1 204 No Content\\r\\nOData-EntityId: ...\\r\\n\\r\\n")
    or a list of them (a change set's)."""
    boundary = "batchresponse_test"
    lines: list[str] = []
    for item in answers:
        lines.append(f"--{boundary}")
        if isinstance(item, list):
            changeset = "changesetresponse_test"
            lines += [f"Content-Type: multipart/mixed; boundary={changeset}", ""]
            for inner in item:
                lines += [f"--{changeset}", *_http_part(inner)]
            lines += [f"--{changeset}--", ""]
        else:
            lines += _http_part(item)
    lines += [f"--{boundary}--", ""]
    response = Response("\r\n".join(lines), status=200)
    response.headers["Content-Type"] = f"multipart/mixed; boundary={boundary}"
    response.headers["OData-Version"] = "4.0"
    return response


def _http_part(text: str) -> list[str]:
    return ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "", text]


class TlsServer:
    """werkzeug serving an app over HTTPS with the sandbox's self-signed certificate, in a daemon thread."""

    def __init__(self, app: FakeDataverse, cert_dir: str) -> None:
        from sandbox.tls import certificate

        self.cert_path, key_path = certificate(cert_dir)
        self.server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(self.cert_path, key_path))
        app.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> TlsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- fixtures -------------------------------------------------------------------------------------------------
@pytest.fixture(name="clean_state")
def clean_state_fixture(db):
    """Nothing cached (tokens, blocks, slots, msal apps) leaks between tests (REDIS_URL is this suite's own)."""
    from crm.providers.dynamics import tokens

    cache.clear()
    tokens.token_cache_clear()
    yield
    cache.clear()
    tokens.token_cache_clear()


@pytest.fixture(name="dv_cert_dir", scope="session")
def dv_cert_dir_fixture(tmp_path_factory) -> str:
    """One self-signed certificate for the session (making an RSA key takes a moment)."""
    return str(tmp_path_factory.mktemp("dv-tls"))


@pytest.fixture(name="fake")
def fake_fixture(dv_cert_dir, settings, clean_state) -> FakeDataverse:
    app = FakeDataverse()
    with TlsServer(app, dv_cert_dir) as server:
        settings.DYNAMICS_CA_BUNDLE = server.cert_path
        settings.DYNAMICS_CLIENT_ID = CLIENT_ID
        settings.DYNAMICS_CLIENT_SECRET = CLIENT_SECRET
        settings.DYNAMICS_LOGIN_URL = app.url
        settings.DYNAMICS_RETRY_BASE_SECONDS = 0.01
        yield app


@pytest.fixture(name="dv_account")
def dv_account_fixture(db, fake) -> ProviderAccount:
    """An operator-set account on the fake (login host and environment), its connection naming tenant and
    environment."""
    organization = OrganizationFactory(slug="harbor", name="Harbor Fitness Group")
    account = ProviderAccount.objects.create(
        organization=organization,
        name="harbor-dynamics",
        kind="dynamics",
        is_default=True,
        accounts_url=fake.url,
        api_domain=fake.url,
        custom_endpoints=True,
    )
    from crm.providers.dynamics.models import DynamicsConnection

    DynamicsConnection.unscoped_objects.create(
        organization=organization,
        account=account,
        tenant_id=TENANT,
        environment_url=fake.environment,
        state=DynamicsConnection.State.CONNECTED,
    )
    account = ProviderAccount.unscoped_objects.get(pk=account.pk)
    assert account.dynamics_connection.tenant_id == TENANT  # loaded now: threads (other connections) see no rows
    return account


class SleepRecorder:
    """Stands in for time.sleep: records the waits, waits nothing."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(name="make_client")
def make_client_fixture(dv_account):
    from crm.providers.dynamics.client import DataverseClient

    def make(**kwargs: Any) -> DataverseClient:
        kwargs.setdefault("sleep", SleepRecorder())
        return DataverseClient(dv_account, **kwargs)

    return make


# --- the emulator (sandbox/dynamics over real HTTP and HTTPS) ---------------------------------------------------
@pytest.fixture(name="dv_sandbox")
def dv_sandbox_fixture(dv_cert_dir, settings, clean_state):
    """The sandbox (empty world) with its HTTPS listener as Entra ID, trusted through DYNAMICS_CA_BUNDLE."""
    from sandbox.server import SandboxServer

    with SandboxServer(world="empty", tls=True, tls_dir=dv_cert_dir) as server:
        settings.DYNAMICS_CA_BUNDLE = server.ca_path
        settings.DYNAMICS_CLIENT_ID = CLIENT_ID
        settings.DYNAMICS_CLIENT_SECRET = CLIENT_SECRET
        settings.DYNAMICS_LOGIN_URL = server.tls_url
        settings.DYNAMICS_RETRY_BASE_SECONDS = 0.01
        yield server


@pytest.fixture(name="dv_environment")
def dv_environment_fixture(dv_sandbox):
    """An emulated environment ("contoso") with the demo app consented and its application user."""
    return dv_sandbox.state.dynamics.create_environment("contoso", organization_name="Contoso Fitness")


@pytest.fixture(name="sandbox_account")
def sandbox_account_fixture(db, dv_sandbox, dv_environment) -> ProviderAccount:
    """An operator-set account on the emulator, connected to the environment (tenant and environment URL)."""
    organization = OrganizationFactory(slug="contoso", name="Contoso Fitness")
    account = ProviderAccount.objects.create(
        organization=organization,
        name="contoso-dynamics",
        kind="dynamics",
        is_default=True,
        accounts_url=dv_sandbox.tls_url,
        api_domain=dv_sandbox.url,
        custom_endpoints=True,
    )
    from crm.providers.dynamics.models import DynamicsConnection

    DynamicsConnection.unscoped_objects.create(
        organization=organization,
        account=account,
        tenant_id=dv_environment.tenant_id,
        environment_url=dv_environment.url,
        state=DynamicsConnection.State.CONNECTED,
    )
    account = ProviderAccount.unscoped_objects.get(pk=account.pk)
    assert account.dynamics_connection.environment_url == dv_environment.url
    return account


def sandbox_configure(server: Any, **knobs: Any) -> None:
    import requests

    response = requests.patch(f"{server.url}/_sandbox/config", json=knobs, timeout=15)
    assert response.status_code == 200, response.text


def sandbox_control(server: Any, method: str, path: str, **kwargs: Any) -> Any:
    import requests

    response = requests.request(method, f"{server.url}/_sandbox/dynamics{path}", timeout=15, **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None
