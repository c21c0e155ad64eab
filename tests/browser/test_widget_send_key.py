"""The widget's side of two safeguards: every send carries an Idempotency-Key, the same one when the same text is
sent again after a lost answer (so the lead gets it once), a new one for the next text; and a lead who texted STOP
to one of our numbers and START to another is shown as blocked on the first, with the composer still on."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging.models import Message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_resent_text_keeps_its_key_and_is_sent_once(live_app, signed_in_page):
    live_app.lead_texts("Is the pool open?")
    page = signed_in_page(live_app.world.staff)
    page.locator(".conversation").first.click()
    keys: list[str] = []
    page.on(
        "request",
        lambda request: (
            request.method == "POST"
            and request.url.endswith("/messages/")
            and keys.append(request.headers.get("idempotency-key"))
        ),
    )
    # The first answer is lost on its way back (the text was sent): the person clicks Send again.
    state = {"dropped": False}

    def lose_first_answer(route):
        response = route.fetch()
        if not state["dropped"]:
            state["dropped"] = True
            route.abort()
            return
        route.fulfill(response=response)

    page.route(
        "**/api/v1/conversations/*/messages/",
        lambda route: lose_first_answer(route) if route.request.method == "POST" else route.continue_(),
    )
    page.fill("#composer-body", "Yes, until 8.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-error")).to_be_visible()
    expect(page.locator("#composer-body")).to_have_value("Yes, until 8.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-body")).to_have_value("")
    page.fill("#composer-body", "See you!")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-body")).to_have_value("")

    assert len(keys) == 3
    assert all(keys)
    assert keys[0] == keys[1] != keys[2]
    bodies = list(
        Message.objects.for_organization(live_app.world.organization)
        .filter(direction="outbound")
        .order_by("id")
        .values_list("body", flat=True)
    )
    assert bodies == ["Yes, until 8.", "See you!"]
    assert not page.js_errors


def test_a_number_the_lead_blocked_is_named_near_the_stop_banner(live_app, signed_in_page, screenshot):
    world = live_app.world
    live_app.lead_texts("STOP")  # to Downtown's number
    live_app.lead_texts("START", to=world.uptown_number.number)
    page = signed_in_page(world.manager)
    page.locator(".conversation").first.click()
    banner = page.locator("#opt-out-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"texted STOP to {world.downtown_number.number}")
    expect(banner).to_contain_text("other numbers still can")
    expect(page.locator("#composer-body")).to_be_enabled()
    screenshot("sender-blocked")
    assert not page.js_errors
