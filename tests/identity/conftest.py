"""A sandbox Zoho org wired as tenant A's connected Zoho org, our sign-in client registered with the sandbox, and
helpers that walk a browser through sign-in with Zoho (our views via the test client, Zoho over real HTTP)."""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from crm.providers.zoho import sign_in as zoho_sign_in
from crm.providers.zoho.services import connection_for_account
from studios.services import member_crm_user_set
from tests.crm.zoho.conftest import control


@pytest.fixture(autouse=True)
def _clean_cache(db, settings):
    settings.ZOHO_RETRY_BASE_SECONDS = 0.01
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def zoho(settings, sandbox, tenant_a):
    """Zoho org "Acme Zoho" (admin Alex, staff Sam) connected to tenant A; Sam is A's staff member."""
    redirect_uris = [zoho_sign_in.default_redirect_uri()]
    org = control(sandbox, "POST", "zoho/orgs", {"name": "Acme Zoho", "redirect_uris": redirect_uris})
    settings.ZOHO_SIGNIN_CLIENT_ID = org["client_id"]
    settings.ZOHO_SIGNIN_CLIENT_SECRET = org["client_secret"]
    settings.ZOHO_SIGNIN_ACCOUNTS_URL = sandbox.url
    connection = connection_for_account(account=tenant_a.zoho)
    connection.zoho_org_id = org["org_id"]
    connection.save()
    admin, staff = org["users"]
    member_crm_user_set(membership=tenant_a.staff, connection=tenant_a.zoho, crm_user_id=staff["id"])
    return SimpleNamespace(org=org, admin=admin, staff=staff, sandbox=sandbox)


def start(client: Client, mode: str | None = "widget", url: str | None = None) -> str:
    """Our start page (the generic one unless `url`); the Zoho consent URL it sends the browser to."""
    response = client.get(url or reverse("signin:crm-start", args=["zoho"]), {"mode": mode} if mode else {})
    assert response.status_code == 302, response.content
    return response.url


def consent(authorize_url: str, **choice: str) -> str:
    """The person approves on Zoho's page as a user (or rejects); where Zoho sends them back."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback(client: Client, location: str, url: str | None = None):
    """Where Zoho sends the browser: the redirect URI registered (the old /auth/zoho/callback), or `url`."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == zoho_sign_in.default_redirect_uri()
    return client.get(
        url or reverse("signin:first-callback", args=["zoho"]), {k: v[0] for k, v in parse_qs(parts.query).items()}
    )


def sign_in(client: Client, user_id: str, mode: str | None = "widget"):
    """The whole popup flow up to the last page; returns that page's response."""
    response = callback(client, consent(start(client, mode), _sandbox_user=user_id))
    if response.status_code == 302 and response.url == reverse("signin:crm-done", args=["zoho"]):
        return client.get(response.url)
    return response


def page_data(response) -> dict[str, str]:
    """The data-* attributes the static JS reads on the last page."""
    tag = re.search(r'<div id="leadline-sign-in"([^>]*)>', response.content.decode()).group(1)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))


def widget_token(client: Client, user_id: str) -> str:
    response = sign_in(client, user_id)
    assert response.status_code == 200, response.content
    return page_data(response)["token"]
