"""Helpers for the Salesforce emulator's query-side tests: an org made in the sandbox's state, sessions (access
tokens) for its users, records written straight into its stores, and a small HTTP client for the data API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

VERSION = "66.0"
STAMP = "%Y-%m-%dT%H:%M:%S.000+0000"


@dataclass
class Org:
    server: Any
    org: Any  # sandbox.salesforce.state.SfOrg
    http: requests.Session

    @property
    def state(self) -> Any:
        return self.server.state

    @property
    def base(self) -> str:
        return f"{self.server.url}/services/data/v{VERSION}/"

    def token(self, user_index: int = 0) -> str:
        """A fresh session's access token for one of the org's users (a grant and a session, as a login makes)."""
        sf = self.state.salesforce
        user_id = list(self.org.users)[user_index]
        grant = sf.new_grant(self.org, user_id, ("api", "refresh_token"))
        return sf.new_session(self.org, user_id, grant=grant, scopes=grant.scopes).token

    def get(self, path: str, token: str, **kwargs: Any) -> requests.Response:
        url = (
            path
            if path.startswith("http")
            else f"{self.server.url}{path}"
            if path.startswith("/")
            else self.base + path
        )
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.get(url, headers=headers, timeout=30, **kwargs)

    def request(self, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
        url = f"{self.server.url}{path}" if path.startswith("/") else self.base + path
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, timeout=30, **kwargs)

    def query(self, soql: str, token: str, *, all_rows: bool = False, **kwargs: Any) -> requests.Response:
        return self.get("queryAll" if all_rows else "query", token, params={"q": soql}, **kwargs)

    def add(self, sobject: str, count: int = 1, *, stamp: str | None = None, **values: Any) -> list[dict[str, Any]]:
        """Records written straight into the store (no API call, no allocation); `stamp` fixes SystemModstamp."""
        store = self.org.stores[sobject]
        made = []
        for number in range(count):
            fields = {key: (value(number) if callable(value) else value) for key, value in values.items()}
            if stamp:
                fields.setdefault("CreatedDate", stamp)
                fields.setdefault("SystemModstamp", stamp)
                fields.setdefault("LastModifiedDate", stamp)
            made.append(store.insert(fields, notify=False))
        return made


def make_org(server: Any, *, name: str = "Query Test Co", users: int = 2) -> Org:
    specs = [
        {"first_name": f"User{number}", "last_name": "Tester", "email": f"user{number}@query.test"}
        for number in range(users)
    ]
    org = server.state.salesforce.create_org(name=name, users=specs)
    return Org(server, org, requests.Session())


def errors(response: requests.Response) -> tuple[int, str]:
    body = response.json()
    assert isinstance(body, list), body
    return response.status_code, body[0]["errorCode"]
