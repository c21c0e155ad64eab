"""Helpers for the HubSpot emulator's fidelity tests: everything over HTTP, as a client sees it (a portal, an app
and an install made through the control API, then HubSpot's own endpoints under /hubspot/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from sandbox.worlds import DEMO_HS_SCOPES

CONTROL = "/_sandbox/hubspot"
TIMEOUT = 15
OWNERS = [
    {"id": "500001", "userId": 700001, "email": "owner.one@hub.test", "firstName": "Olive", "lastName": "One"},
    {"id": "500002", "userId": 700002, "email": "owner.two@hub.test", "firstName": "Theo", "lastName": "Two"},
    {"id": "500003", "userId": 700003, "email": "owner.three@hub.test", "firstName": "Thea", "lastName": "Three"},
]
SCOPES = list(DEMO_HS_SCOPES)  # what the demo install granted: every object the tests touch


def control(server: Any, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}{CONTROL}{path}", timeout=TIMEOUT, **kwargs)


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:2000])
    return response.json() if response.content else None


@dataclass
class Hub:
    """A portal with an installed app: `api()` calls HubSpot's API with the install's access token."""

    server: Any
    portal: dict[str, Any]
    app: dict[str, Any]
    install: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def portal_id(self) -> int:
        return self.portal["portal_id"]

    @property
    def token(self) -> str:
        return self.install["access_token"]

    @property
    def base(self) -> str:
        return f"{self.server.url}/hubspot"

    def api(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}{path}", headers=headers, timeout=TIMEOUT, **kwargs)

    def control(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return control(self.server, method, f"/portals/{self.portal_id}{path}", **kwargs)

    def token_call(self, path: str = "/oauth/v1/token", **data: Any) -> requests.Response:
        form = {"client_id": self.app["client_id"], "client_secret": self.app["client_secret"], **data}
        return requests.post(f"{self.base}{path}", data=form, timeout=TIMEOUT)

    def seed(self, object_type: str = "contacts", count: int = 10, **spec: Any) -> dict[str, Any]:
        return ok(self.control("POST", "/seed", json={"object_type": object_type, "count": count, **spec}))

    def create(self, object_type: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return ok(self.api("POST", f"/crm/v3/objects/{object_type}", json={"properties": properties, **extra}), 201)

    def raw(self, object_type: str, record_id: str) -> dict[str, Any]:
        return ok(self.control("GET", f"/records/{object_type}/{record_id}"))


def new_hub(server: Any, *, scopes: list[str] | None = None, app: dict[str, Any] | None = None, **portal: Any) -> Hub:
    portal.setdefault("name", "Emu Test Gyms")
    portal.setdefault("owners", OWNERS)
    made = ok(control(server, "POST", "/portals", json=portal), 201)
    made_app = ok(control(server, "POST", "/apps", json=app or {"name": "Emu test app"}), 201)
    install = ok(
        control(
            server,
            "POST",
            f"/portals/{made['portal_id']}/installs",
            json={"app_id": made_app["app_id"], "scopes": scopes or SCOPES},
        ),
        201,
    )
    return Hub(server, made, made_app, install)


def error_body(response: requests.Response, status: int, category: str) -> dict[str, Any]:
    """HubSpot's error shape, asserted."""
    assert response.status_code == status, (response.status_code, response.text[:2000])
    body = response.json()
    assert body["status"] == "error", body
    assert body["category"] == category, body
    assert body["correlationId"], body
    assert body["message"], body
    return body
