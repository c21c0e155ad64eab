"""What the "Sign in with <CRM>" end-to-end tests share: the flow's start and done pages through identity/'s
CRM-agnostic views, and the outcomes every CRM's sign-in must give (signed in as a member, refused with a reason)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from django.test import Client
from django.urls import reverse

from identity.models import WidgetToken
from studios.models import Membership
from tests.identity.conftest import page_data


@pytest.fixture(autouse=True)
def clean_cache(db):
    """Sign-in pages keep one-time results in the cache: each test starts and ends without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def start(client: Client, kind: str, mode: str | None = "widget") -> str:
    """The CRM's consent URL the sign-in start page sends the person to."""
    response = client.get(reverse("signin:crm-start", args=[kind]), {"mode": mode} if mode else {})
    assert response.status_code == 302, response.content
    return response.url


def done(client: Client, kind: str, response: Any) -> Any:
    """The page a callback ends on: the done page it redirects to (once), or its own answer."""
    if response.status_code == 302 and response.url == reverse("signin:crm-done", args=[kind]):
        return client.get(response.url)
    return response


def assert_widget_signed_in(popup: Client, kind: str, response: Any, membership: Membership) -> None:
    """The callback went to the done page, which says "signed in" once and issued the member's widget token."""
    assert response.status_code == 302
    assert response.url == reverse("signin:crm-done", args=[kind])
    page = popup.get(response.url)
    assert page.status_code == 200
    data = page_data(page)
    assert data["outcome"] == "signed_in"
    assert data["mode"] == "widget"
    assert WidgetToken.objects.unscoped().get().membership == membership
    assert popup.get(response.url).status_code == 400  # shown once


def assert_full_page_signed_in(response: Any, browser: Client, membership: Membership) -> None:
    assert response.status_code == 302
    assert response.url == "/app/"
    assert int(browser.session["_auth_user_id"]) == membership.user.pk


def assert_unknown_user(page: Any, email: str) -> str:
    """A user of the CRM org who is no member is told so (the page names them); the page's text."""
    assert page.status_code == 403
    assert page_data(page)["outcome"] == "unknown_user"
    body = page.content.decode()
    assert email in body
    assert not WidgetToken.objects.unscoped().exists()
    return body


def assert_org_not_connected(page: Any) -> None:
    assert page.status_code in (400, 403)
    data = page_data(page)
    assert data["outcome"] == "refused"
    assert data["reason"] == "org_not_connected"
    assert not WidgetToken.objects.unscoped().exists()


def assert_replay_refused(popup: Client, location: str, callback: Callable[[Client, str], Any]) -> None:
    """The same callback twice: the second is refused (the state is single use)."""
    assert callback(popup, location).status_code == 302
    replay = callback(popup, location)
    assert replay.status_code == 400
    assert page_data(replay)["reason"] == "bad_state"


def assert_denied(popup: Client, response: Any, words: str) -> None:
    """A denied consent ends refused, in the CRM's words."""
    page = popup.get(response.url) if response.status_code == 302 else response
    data = page_data(page)
    assert data["outcome"] == "refused"
    assert data["reason"] == "crm_refused"
    assert words in page.content.decode()


def assert_not_configured(kind: str) -> None:
    page = Client().get(reverse("signin:crm-start", args=[kind]))
    assert page.status_code == 400
    assert page_data(page)["reason"] == "not_configured"


def assert_demo_member_signed_in(popup: Client, location: str, email: str) -> None:
    """`make run`: the demo's CRM sends the person back to the product's callback; the done page signs the demo
    member with that e-mail in."""
    parts = urlsplit(location)
    response = popup.get(reverse("crm-oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})
    page = popup.get(response.url)
    assert page_data(page)["outcome"] == "signed_in", page.content.decode()[:500]
    row = WidgetToken.objects.unscoped().get()
    assert row.membership == Membership.objects.unscoped().get(user__email=email)
