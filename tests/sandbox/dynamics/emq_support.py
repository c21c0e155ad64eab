"""Helpers for the Dataverse emulator's query, change tracking, limits, webhook and control tests, beside the
shared fixtures (conftest.py: `dv_server`, `env` as dv_support.Env): GETs by path or by a link the emulator gave,
rows seeded straight into the state, a person's token, the control API, and a webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from tests.sandbox.dynamics.dv_support import ODATA_HEADERS, TIMEOUT, Env

CONTROL = "/_sandbox/dynamics"


def get(env: Env, path: str, *, prefer: str | None = None, token: str | None = None, **kwargs: Any):
    """GET a Web API path (`leads`) or a whole link (`@odata.nextLink`, `@odata.deltaLink`) as a client does."""
    url = path if path.startswith("http") else f"{env.base}/{path}"
    headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token if token is not None else env.token}"}
    if prefer:
        headers["Prefer"] = prefer
    return env.http.get(url, headers=headers, timeout=TIMEOUT, **kwargs)


def seed(env: Env, table: str, count: int, **options: Any) -> list[str]:
    from sandbox.dynamics.seed import seed_rows

    return seed_rows(env.environment, table, count, **options)


def user_token(env: Env, systemuserid: str) -> str:
    """A person's token for the environment (their own service protection counters), as sign-in would give."""
    environment = env.environment
    person = environment.user(systemuserid)
    return env.server.state.dynamics.issue_token(
        tenant_id=environment.tenant_id,
        client_id=environment.tenant_id,
        audience=environment.url,
        object_id=person["azureactivedirectoryobjectid"],
        systemuserid=systemuserid,
        kind="user",
    ).token


def control(server: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}{CONTROL}{path}", timeout=TIMEOUT, **kwargs)


def configure(server: Any, **settings: Any) -> None:
    response = requests.patch(f"{server.url}/_sandbox/config", json=settings, timeout=TIMEOUT)
    assert response.status_code == 200, response.text


class Receiver:
    """An HTTP endpoint that records every POST (headers, JSON body) and fails the first `fail_first` of them with
    `fail_status`."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 500) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                with receiver.arrived:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(receiver.received) <= receiver.fail_first
                    receiver.arrived.notify_all()
                self.send_response(receiver.fail_status if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/crm/dynamics/events/"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
