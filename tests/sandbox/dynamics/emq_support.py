"""Helpers for the Dataverse emulator's query, change tracking, limits, webhook and control tests: a sandbox with no
demo data served over real HTTP, an environment made in its state, and an application user's bearer token for it
(issued by the emulator's Entra state, as its token endpoint would)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

TIMEOUT = 15
CONTROL = "/_sandbox/dynamics"
HEADERS = {"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"}


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    return response.json() if response.content else None


def control(server: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}{CONTROL}{path}", timeout=TIMEOUT, **kwargs)


@dataclass
class Env:
    """An environment with the demo app's application user: `get()` calls its Web API with the app's token."""

    server: Any
    name: str
    token: str
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def state(self) -> Any:
        return self.server.state.dynamics.environment(self.name)

    @property
    def api(self) -> str:
        return f"{self.server.url}/dynamics/{self.name}/api/data/v9.2/"

    @property
    def application_user_id(self) -> str:
        from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

        return self.state.application_user(DEMO_DV_CLIENT_ID)["systemuserid"]

    def headers(self, prefer: str | None = None, token: str | None = None) -> dict[str, str]:
        found = {**HEADERS, "Authorization": f"Bearer {token or self.token}"}
        if prefer:
            found["Prefer"] = prefer
        return found

    def get(self, path: str, *, prefer: str | None = None, token: str | None = None, **kwargs: Any):
        url = path if path.startswith("http") else self.api + path
        return self.http.get(url, headers=self.headers(prefer, token), timeout=TIMEOUT, **kwargs)

    def seed(self, table: str, count: int, **options: Any) -> list[str]:
        from sandbox.dynamics.seed import seed_rows

        return seed_rows(self.state, table, count, **options)

    def user_token(self, systemuserid: str) -> str:
        """A person's sign-in token for the environment (their own service protection counters)."""
        environment = self.state
        person = environment.user(systemuserid)
        return self.server.state.dynamics.issue_token(
            tenant_id=environment.tenant_id,
            client_id=environment.tenant_id,
            audience=environment.url,
            object_id=person["azureactivedirectoryobjectid"],
            systemuserid=systemuserid,
            kind="user",
        ).token

    def people(self) -> list[dict[str, Any]]:
        return [row for row in self.state.rows("systemuser") if not row.get("applicationid")]


def new_env(server: Any, name: str = "contoso", **options: Any) -> Env:
    from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID

    dynamics = server.state.dynamics
    environment = dynamics.create_environment(name, organization_name=options.pop("organization_name", "Contoso"))
    app_user = environment.application_user(DEMO_DV_CLIENT_ID)
    token = dynamics.issue_token(
        tenant_id=environment.tenant_id,
        client_id=DEMO_DV_CLIENT_ID,
        audience=environment.url,
        object_id=app_user["azureactivedirectoryobjectid"],
        systemuserid=app_user["systemuserid"],
        kind="app",
    )
    return Env(server, environment.name, token.token)
