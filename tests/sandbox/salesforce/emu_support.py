"""Helpers for the Salesforce emulator's fidelity tests: everything through HTTP, as a client would see it (orgs
made by the control API, tokens from the login host, calls to the org's instance_url)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

VERSION = "66.0"
CONTROL = "/_sandbox/salesforce/orgs"
TIMEOUT = 10


def control(server: Any, method: str, path: str = "", **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}{CONTROL}{path}", timeout=TIMEOUT, **kwargs)


@dataclass
class Org:
    server: Any
    info: dict[str, Any]
    http: requests.Session = field(default_factory=requests.Session)
    token: str = ""
    instance_url: str = ""

    @property
    def org_id(self) -> str:
        return self.info["org_id"]

    @property
    def users(self) -> list[dict[str, Any]]:
        return self.info["users"]

    def token_call(self, **data: Any) -> requests.Response:
        form = {"client_id": self.info["client_id"], "client_secret": self.info["client_secret"], **data}
        return requests.post(f"{self.server.url}/services/oauth2/token", data=form, timeout=TIMEOUT)

    def refresh(self, refresh_token: str | None = None) -> dict[str, Any]:
        """A new session from the org's ready grant (or the given refresh token); becomes this helper's token."""
        response = self.token_call(
            grant_type="refresh_token", refresh_token=refresh_token or self.info["refresh_token"]
        )
        assert response.status_code == 200, response.text
        body = response.json()
        self.token, self.instance_url = body["access_token"], body["instance_url"]
        return body

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        """A data API call: `path` relative to /services/data/vXX.X/ unless it starts with "/"."""
        if not self.token and token is None:
            self.refresh()
        base = self.instance_url or self.server.url
        url = f"{base}{path}" if path.startswith("/") else f"{base}/services/data/v{VERSION}/{path}"
        headers = {"Authorization": f"Bearer {token if token is not None else self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)

    def control(self, method: str, path: str = "", **kwargs: Any) -> requests.Response:
        return control(self.server, method, f"/{self.org_id}{path}", **kwargs)

    def patch_settings(self, **settings: Any) -> dict[str, Any]:
        response = self.control("PATCH", json=settings)
        assert response.status_code == 200, response.text
        return response.json()

    def row(self, sobject: str, record_id: str) -> dict[str, Any]:
        response = self.control("GET", f"/records/{sobject}/{record_id}")
        assert response.status_code == 200, response.text
        return response.json()


def new_org(server: Any, **spec: Any) -> Org:
    spec.setdefault("name", "Emu Test Fitness")
    spec.setdefault("redirect_uris", ["http://127.0.0.1:9/callback"])
    response = control(server, "POST", json=spec)
    assert response.status_code == 201, response.text
    return Org(server, response.json())


def error_of(response: requests.Response) -> dict[str, Any]:
    """The single entry of a Salesforce error array (asserting the shape)."""
    body = response.json()
    assert isinstance(body, list), body
    assert len(body) == 1, body
    assert set(body[0]) <= {"message", "errorCode", "fields"}, body
    return body[0]


def lead(**values: Any) -> dict[str, Any]:
    return {
        "LastName": "Ng",
        "FirstName": "Mai",
        "Company": "Mai Ng (individual)",
        "MobilePhone": "(415) 555-0199",
        **values,
    }
