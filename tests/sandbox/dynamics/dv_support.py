"""Helpers for the Dynamics emulator's fidelity tests: an environment made through the state (as the control API
would), a token from the emulator's Entra ID over HTTPS, and the Web API called over real HTTP as a client does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID, DEMO_DV_CLIENT_SECRET

TIMEOUT = 15
ODATA_HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}
ANNOTATIONS = 'odata.include-annotations="*"'


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    return response.json() if response.content else None


def token_for(
    server: Any,
    tenant_id: str,
    resource: str,
    *,
    client_id: str = DEMO_DV_CLIENT_ID,
    secret: str = DEMO_DV_CLIENT_SECRET,
) -> requests.Response:
    """The client-credentials request a plain HTTP client sends to Entra's token endpoint."""
    return requests.post(
        f"{server.tls_url}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{resource}/.default",
        },
        verify=server.ca_path,
        timeout=TIMEOUT,
    )


@dataclass
class Env:
    """An environment with the demo app consented and its application user: `api()` calls the Web API with an
    app token (`token`)."""

    server: Any
    environment: Any  # sandbox.dynamics.state_env.Environment
    token: str = ""
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return self.environment.url

    @property
    def base(self) -> str:
        return f"{self.url}/api/data/v9.2"

    @property
    def users(self) -> list[dict[str, Any]]:
        return [row for row in self.environment.rows("systemuser") if not row.get("applicationid")]

    @property
    def application_user_id(self) -> str:
        return self.environment.application_user(DEMO_DV_CLIENT_ID)["systemuserid"]

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {**ODATA_HEADERS, "Authorization": f"Bearer {token if token is not None else self.token}"}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, f"{self.base}/{path.lstrip('/')}", headers=headers, timeout=TIMEOUT, **kwargs)

    def create(self, entity_set: str, body: dict[str, Any], **kwargs: Any) -> str:
        """POST a row; its id from OData-EntityId."""
        response = self.api("POST", entity_set, json=body, **kwargs)
        assert response.status_code == 204, (response.status_code, response.text)
        return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def new_env(server: Any, name: str = "contoso", **options: Any) -> Env:
    environment = server.state.dynamics.create_environment(
        name, organization_name=options.pop("organization_name", "Contoso Fitness"), **options
    )
    env = Env(server, environment)
    if options.get("consent", True):
        env.token = ok(token_for(server, environment.tenant_id, environment.url))["access_token"]
    return env
