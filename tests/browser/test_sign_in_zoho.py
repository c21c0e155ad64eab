"""Sign-in with Zoho in Chromium: the widget opens the popup, the person consents on the sandbox's Zoho page, the
popup hands the widget its token by postMessage and closes; an unknown Zoho user is told to ask their manager."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from crm.providers.zoho.services import connection_for_account
from identity.models import WidgetToken
from studios.services import member_crm_user_set
from tests.factories import ZohoCrmAccountFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def zoho_org(live_app, settings):
    """A sandbox Zoho org (admin Alex, staff Sam) connected to the world's organization; Sam is its staff member."""
    world = live_app.world
    answer = requests.post(
        f"{world.sandbox_url}/_sandbox/zoho/orgs",
        json={"name": "Acme Zoho", "redirect_uris": [f"{live_app.url}/auth/zoho/callback"]},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    org = answer.json()
    settings.ZOHO_SIGNIN_CLIENT_ID = org["client_id"]
    settings.ZOHO_SIGNIN_CLIENT_SECRET = org["client_secret"]
    settings.ZOHO_SIGNIN_ACCOUNTS_URL = world.sandbox_url
    account = ZohoCrmAccountFactory(
        organization=world.organization, accounts_url=world.sandbox_url, api_domain=world.sandbox_url
    )
    connection = connection_for_account(account=account)
    connection.zoho_org_id = org["org_id"]
    connection.save()
    member_crm_user_set(membership=world.staff, connection=account, crm_user_id=org["users"][1]["id"])
    return org


def open_sign_in_popup(page, app_url: str):
    page.goto(app_url + "/app/")
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Sign in with Zoho").click()
    popup = popup_info.value
    expect(popup.get_by_role("heading", name=re.compile("would like to access your Zoho account"))).to_be_visible()
    return popup


def test_the_widget_signs_in_through_the_zoho_popup(browser_page, live_app, zoho_org, screenshot):
    page = browser_page
    popup = open_sign_in_popup(page, live_app.url)
    with popup.expect_event("close"):
        popup.get_by_role("button", name=re.compile(r"^Accept as Sam Staff")).click()
    expect(page.locator("#who")).to_contain_text("Acme Fitness")
    screenshot("signed-in")
    stored = page.evaluate("Object.values(sessionStorage).join(' ')")
    assert "llw_" in stored  # the widget keeps the bearer token, not a cookie
    assert WidgetToken.objects.unscoped().get().membership == live_app.world.staff
    # The popup's cookie session only carried the OAuth state: without the bearer header the API says 401.
    assert page.evaluate("fetch('/api/v1/me/').then((response) => response.status)") == 401
    assert not page.js_errors


def test_an_unknown_zoho_user_is_told_to_ask_their_manager(browser_page, live_app, zoho_org, screenshot):
    page = browser_page
    popup = open_sign_in_popup(page, live_app.url)
    popup.get_by_role("button", name=re.compile(r"^Accept as Alex Admin")).click()
    expect(popup.get_by_role("heading", name="Ask your manager to add you")).to_be_visible()
    expect(popup.locator("body")).to_contain_text(zoho_org["users"][0]["id"])
    popup.screenshot(path=screenshot("page").with_name("unknown-user-popup.png"))
    expect(page.locator("body")).to_contain_text("Ask a manager")
    assert not WidgetToken.objects.unscoped().exists()
