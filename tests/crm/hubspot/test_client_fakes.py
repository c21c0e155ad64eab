"""Scripted HubSpot answers for the client's unit tests (no network): a session the client and the token broker
call instead of HTTP, recording each call. The emulator tests (test_client_sandbox.py) cover real HTTP."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from django.core.cache import cache

from studios.models import ProviderAccount
from tests.factories import OrganizationFactory

API = "https://api.hubapi.com"


def answer(status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else jsonlib.dumps(body).encode()
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
    response.url = API
    return response


def window(remaining: int, maximum: int = 100, interval_ms: int = 10_000) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms),
    }


class FakeHubSpot:
    """`request` answers API calls from a queue (or `route(method, url, params, json)` when set); `post` is the token
    endpoint, issuing at-1, at-2 ... unless `token_answers` says otherwise."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.queued: list[requests.Response | Exception] = []
        self.route: Callable[..., requests.Response] | None = None
        self.token_calls: list[dict[str, Any]] = []
        self.token_answers: list[requests.Response | Exception] = []
        self.expires_in = 1800

    def queue(self, *items: requests.Response | Exception) -> FakeHubSpot:
        self.queued.extend(items)
        return self

    def request(self, method: str, url: str, *, params=None, json=None, headers=None, **_: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, "params": params or {}, "json": json, "headers": headers})
        if self.queued:
            item = self.queued.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        if self.route is not None:
            return self.route(method, url, params or {}, json)
        return answer(200, {"results": []})

    def post(self, url: str, *, data=None, **_: Any) -> requests.Response:
        self.token_calls.append({"url": url, "data": dict(data or {})})
        if self.token_answers:
            item = self.token_answers.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        number = len(self.token_calls)
        return answer(200, {"access_token": f"at-{number}", "refresh_token": "rt-1", "expires_in": self.expires_in})

    @property
    def bearer_tokens(self) -> list[str]:
        return [str((call["headers"] or {}).get("Authorization", "")) for call in self.calls]


@pytest.fixture(name="fake")
def fake_fixture(monkeypatch) -> FakeHubSpot:
    from crm.providers.hubspot import tokens

    hubspot = FakeHubSpot()
    monkeypatch.setattr(tokens, "http_session", lambda role="hubspot": hubspot)
    return hubspot


@pytest.fixture(name="clean_cache")
def clean_cache_fixture(db):
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(name="hs_account")
def hs_account_fixture(db, clean_cache) -> ProviderAccount:
    organization = OrganizationFactory(slug="peak", name="Peak Performance Gyms")
    return ProviderAccount.objects.create(
        organization=organization,
        name="peak-hubspot",
        kind="hubspot",
        is_default=True,
        client_id="client-1",
        client_secret="secret-1",
        refresh_token="rt-1",
        accounts_url="https://app.hubspot.com",
        api_domain=API,
    )
