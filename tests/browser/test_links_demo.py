"""A manager runs the demo's two-way link from the admin, in Chromium against the product and the sandbox's demo
world (Summit Fitness Co.: its Salesforce org and its marketing team's HubSpot portal, tenants/demo.py): Preview
then Start on the link's page; a write Salesforce refuses through one of its validation rules waits in the
failed-writes queue with Salesforce's own message, and Retry, once the rule is off, gets it written; an ambiguous
match on the review list is resolved by picking a candidate. The engine's task is run here (no worker)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from links.apply import link_apply
from links.models import LinkWrite, MatchReview, RecordPair, SyncLink
from sandbox import worlds
from tenants import demo
from tests.tenants.test_demo_link import _fresh_cache, demo_loaded, mirror, summit_link  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RULE = "City must be one of Summit's studio towns."
ADMIN_VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    """Starting a link enqueues its apply task after the commit: here the test applies the link itself."""
    monkeypatch.setattr("links.services._enqueue_apply", lambda link_id: None)


def validation_rule(sandbox, method: str, body: dict | None = None) -> None:
    """An admin of the Summit org switches a validation rule on Lead's City on (POST) or off (DELETE)."""
    url = f"{sandbox.url}/_sandbox/salesforce/orgs/{worlds.DEMO_SF_ORG_ID}/validation-rules"
    answer = requests.request(
        method, url, json=body, params={"sobject": "Lead"} if method == "DELETE" else None, timeout=10
    )
    assert answer.status_code < 300, answer.text


def sign_in(page, base_url: str, email: str) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(email=email))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])


def act(page, pk: int, action: str) -> None:
    """The change list's action on one row (its checkbox, the action, Go)."""
    page.locator(f"input[name=_selected_action][value='{pk}']").check()
    page.select_option("select[name=action]", action)
    page.get_by_role("button", name="Go").click()


def test_a_manager_previews_starts_retries_and_resolves_the_demos_link(
    settings, sandbox, live_server, browser_page, screenshot
):
    summit = demo_loaded(settings, sandbox)
    link = summit_link(summit)
    mirror(link)
    page = browser_page
    page.set_viewport_size(ADMIN_VIEWPORT)
    sign_in(page, live_server.url, demo.DEMO_SF_MANAGER_EMAIL)

    # Preview, then Start, on the link's page.
    page.goto(f"{live_server.url}/admin/links/synclink/")
    expect(page.locator("#result_list")).to_contain_text(demo.DEMO_SUMMIT_LINK)
    act(page, link.pk, "preview")
    expect(page.locator(".messagelist")).to_contain_text(
        re.compile(f"{demo.DEMO_SUMMIT_LINK}: preview made.", re.IGNORECASE)
    )
    screenshot("preview")
    page.goto(f"{live_server.url}/admin/links/synclink/{link.pk}/change/")
    expect(page.locator("body")).to_contain_text("matched")
    screenshot("link-page")

    # Sales' admin has a rule on Lead City: marketing's cities (City flows HubSpot -> Salesforce) are refused.
    validation_rule(sandbox, "POST", {"sobject": "Lead", "field": "City", "message": RULE})
    page.goto(f"{live_server.url}/admin/links/synclink/")
    act(page, link.pk, "start")
    expect(page.locator(".messagelist")).to_contain_text(
        re.compile(f"{demo.DEMO_SUMMIT_LINK}: started.", re.IGNORECASE)
    )
    screenshot("started")
    link = summit_link(summit)
    assert link.state == SyncLink.State.RUNNING
    link_apply(link)

    writes = LinkWrite.objects.for_organization(summit).filter(link=link)
    failed = writes.filter(state=LinkWrite.State.FAILED)
    assert failed.exists()
    assert set(failed.values_list("error_code", flat=True)) == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert writes.filter(state=LinkWrite.State.DONE, side="b").exists()  # marketing got sales' leads meanwhile

    # The failed-writes queue shows Salesforce's words; the rule goes off, and Retry gets the writes through.
    page.goto(f"{live_server.url}/admin/links/linkwrite/")
    expect(page.locator("#result_list")).to_contain_text(RULE)
    screenshot("failed-writes")
    retried = list(failed.values_list("pk", flat=True))
    validation_rule(sandbox, "DELETE")
    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "retry")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text(f"{len(retried)} failed writes will be retried.")
    screenshot("retried")
    link_apply(summit_link(summit))
    assert (
        not writes.filter(pk__in=retried).exclude(state__in=[LinkWrite.State.DONE, LinkWrite.State.SUPERSEDED]).exists()
    )
    done = writes.filter(pk__in=retried, state=LinkWrite.State.DONE).first()
    assert done is not None
    lead = sandbox.state.salesforce.org(worlds.DEMO_SF_ORG_ID).stores["Lead"].records[done.pair.id_a]
    assert lead["City"] == "Boulder"  # marketing's city, written on the Lead

    # The review list: a Lead whose e-mail two contacts hold; the manager picks the one who is the person.
    page.goto(f"{live_server.url}/admin/links/matchreview/")
    review = MatchReview.objects.for_organization(summit).filter(link=link, state=MatchReview.State.OPEN).first()
    assert review is not None
    assert len(review.candidates) == 2
    page.goto(f"{live_server.url}/admin/links/matchreview/{review.pk}/change/")
    expect(page.locator("#review-candidates tbody tr")).to_have_count(2)
    screenshot("review")
    chosen = review.candidates[0]
    page.locator(f"#review-candidates input[value='{chosen}']").check()
    page.get_by_role("button", name="Link to the candidate picked").click()
    expect(page.locator(".messagelist")).to_contain_text(f"linked to {chosen}")
    screenshot("review-resolved")
    review.refresh_from_db()
    assert review.state != MatchReview.State.OPEN
    assert RecordPair.objects.for_organization(summit).filter(link_object__link=link, id_b=chosen).exists()
    assert not page.js_errors
