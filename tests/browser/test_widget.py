"""The conversation UI in Chromium at the Zoho widget's width, against the product and the sandbox's Twilio:
sign in, open a thread, send and watch it turn delivered, receive without reloading, the opt-out banner after
STOP, a `<script>` body shown as text, the Zoho CRM and Salesforce embeds (with the CRM card), and the JS segment
counter agreeing with the server's."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from django.utils import timezone

from crm.registry import registered
from messaging.models import Conversation, Message
from messaging.text import body_shape
from studios.models import ProviderAccount
from sync.models import CrmRecord, SyncRun
from tests.factories import TEST_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def open_first_conversation(page):
    page.locator(".conversation").first.click()
    expect(page.locator("#thread-title")).to_be_visible()


def eventually(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_signed_out_the_app_offers_sign_in_then_the_admin_login_opens_it(browser_page, live_app, screenshot):
    page = browser_page
    page.goto(live_app.url + "/app/")
    expect(page.get_by_role("button", name="Sign in with Zoho")).to_be_visible()
    link = page.get_by_role("link", name="Sign in with email and password")
    expect(link).to_have_attribute("href", "/accounts/login/?next=/app/")
    screenshot("signed-out")

    live_app.lead_texts("Hi, do you have classes on Sunday?")
    page.goto(live_app.url + "/admin/login/?next=/app/")
    page.fill("#id_username", live_app.world.manager.user.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(live_app.url + "/app/")
    expect(page.locator("#who")).to_contain_text("Acme Fitness")
    expect(page.locator(".conversation")).to_have_count(1)
    expect(page.locator(".conversation .badge")).to_have_text("1")
    assert no_horizontal_scroll(page)
    screenshot("signed-in")
    assert not page.js_errors


def test_a_text_sent_from_the_keyboard_turns_delivered_from_the_status_callback(live_app, signed_in_page, screenshot):
    live_app.lead_texts("Is the pool open on Sunday?")
    live_app.deliver_sends_automatically()
    page = signed_in_page(live_app.world.staff)
    page.locator(".conversation").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#composer-body")).to_be_focused()
    expect(page.locator(".message.inbound .body")).to_have_text("Is the pool open on Sunday?")
    expect(page.locator(".conversation .badge")).to_have_count(0)  # opening it marked it read

    page.keyboard.type("Yes, 8 to 8.")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("Bring a towel!")
    expect(page.locator("#counter")).to_have_text("27 characters · 1 segment · GSM-7")
    page.keyboard.press("Enter")

    sent = page.locator(".message.outbound")
    expect(sent.locator(".body")).to_have_text("Yes, 8 to 8.\nBring a towel!")
    expect(page.locator("#composer-body")).to_have_value("")
    expect(sent.locator(".status")).to_have_text(re.compile("Delivered"))
    message = Message.objects.for_organization(live_app.world.organization).get(direction="outbound")
    assert message.status == Message.Status.DELIVERED
    assert message.sent_by == live_app.world.staff
    assert no_horizontal_scroll(page)
    screenshot("delivered")
    assert not page.js_errors


def test_a_failed_send_shows_its_explained_reason(live_app, signed_in_page, screenshot):
    live_app.lead_texts("Hello?")
    live_app.world.fault(path="/Messages.json$", status=400, body={"code": 21211, "message": "Invalid 'To'"}, times=1)
    page = signed_in_page(live_app.world.staff)
    open_first_conversation(page)
    page.fill("#composer-body", "Are you there?")
    page.get_by_role("button", name="Send").click()
    failed = page.locator(".message.failed")
    expect(failed.locator(".status")).to_have_text(re.compile("Failed"))
    expect(failed.locator(".failure")).to_contain_text("not a valid phone number")
    expect(failed.locator(".failure")).to_contain_text("code 21211")
    screenshot("failed")


def test_a_text_from_the_lead_appears_without_reloading(live_app, signed_in_page, screenshot):
    live_app.lead_texts("First question")
    page = signed_in_page(live_app.world.staff)
    open_first_conversation(page)
    page.evaluate("window.__sameDocument = true")
    live_app.lead_texts("Can I bring a friend?")
    expect(page.locator(".message.inbound .body").last).to_have_text("Can I bring a friend?", timeout=3000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")
    screenshot("received")
    # Read while it was open and visible: the page marks it right after showing the text.
    conversation = Conversation.objects.for_organization(live_app.world.organization).get()
    assert eventually(lambda: conversation.refresh_from_db() or conversation.unread_count == 0)


def test_after_the_lead_texts_stop_the_composer_is_off_with_a_banner(live_app, signed_in_page, screenshot):
    live_app.lead_texts("Who is this?")
    page = signed_in_page(live_app.world.staff)
    open_first_conversation(page)
    expect(page.locator("#opt-out-banner")).to_be_hidden()
    live_app.lead_texts("STOP")
    banner = page.locator("#opt-out-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("opted out")
    expect(page.locator("#composer-body")).to_be_disabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    screenshot("opted-out")


def test_a_script_body_is_shown_as_text_and_never_runs(live_app, signed_in_page, screenshot):
    live_app.lead_texts(XSS)
    page = signed_in_page(live_app.world.staff)
    open_first_conversation(page)
    page.fill("#composer-body", XSS)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message .body")).to_have_count(2)
    for body in page.locator(".message .body").all():
        expect(body).to_have_text(XSS)
    assert page.locator("#messages img, #messages script").count() == 0
    assert page.evaluate("window.__xss") is None
    response = page.request.get(live_app.url + "/app/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    screenshot("script-body")


def test_inside_zoho_the_page_load_record_opens_its_conversation(live_app, browser_page, signed_in_page, screenshot):
    live_app.lead_texts("Hello from the lead")
    contact = Conversation.objects.for_organization(live_app.world.organization).get().contact
    contact.crm_object, contact.crm_record_id = "lead", "4150868000000624001"
    contact.save()
    # Zoho's SDK from its CDN, emulated: it calls the PageLoad handler with the open record, as Zoho CRM does.
    fake_sdk = """
      window.ZOHO = {embeddedApp: {handlers: {}, on(name, fn) { this.handlers[name] = fn; },
        init() { setTimeout(() => this.handlers.PageLoad({Entity: "Leads", EntityId: "4150868000000624001"}), 0);
                 return Promise.resolve(); }}};
    """
    requested = []

    def serve(route):
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="text/javascript", body=fake_sdk)

    browser_page.route("https://live.zwidgets.com/**", serve)
    page = signed_in_page(live_app.world.staff, path="/app/?zoho=1")
    expect(page.locator(".message.inbound .body")).to_have_text("Hello from the lead")
    expect(page.locator("#thread-title")).to_be_visible()
    assert requested == ["https://live.zwidgets.com/js-sdk/1.2/ZohoEmbededAppSDK.min.js"]
    expect(page.locator("#signin-alt")).to_be_hidden()
    screenshot("zoho-embedded")
    assert not page.js_errors


def test_inside_salesforce_the_frames_record_opens_its_conversation_with_its_crm_card(
    live_app, signed_in_page, screenshot
):
    if "salesforce" not in registered():
        pytest.skip("the Salesforce provider is not registered")
    lead_id = "00Q5g00000AbCdEEAV"
    account = ProviderAccount.unscoped_objects.create(
        organization=live_app.world.organization,
        name="summit-salesforce",
        kind="salesforce",
        client_id="3MVG9.test",
        accounts_url="https://login.salesforce.com",
        api_domain="https://summit.my.salesforce.com",
    )
    live_app.lead_texts("Hello from a Salesforce lead")
    contact = Conversation.objects.for_organization(live_app.world.organization).get().contact
    contact.crm_object, contact.crm_record_id, contact.connection = "lead", lead_id, account
    contact.save()
    now = timezone.now()
    run = SyncRun.unscoped_objects.create(
        organization=contact.organization, connection=account, object="lead", started_at=now
    )
    CrmRecord.unscoped_objects.create(
        organization=contact.organization,
        connection=account,
        object="lead",
        external_id=lead_id,
        name="Sally Summit",
        owner_id="0055g00000AbCdEAAV",
        owner_name="Ana Alvarez",
        modified_time=now,
        content_hash="x",
        fields={"lead_status": "Open - Not Contacted"},
        synced_at=now,
        run=run,
    )
    # What the Lightning component puts in the frame's URL (crm/providers/salesforce/lightning/leadlineWidget).
    page = signed_in_page(live_app.world.staff, path=f"/app/?crm=salesforce&object=Lead&recordId={lead_id}")
    expect(page.locator(".message.inbound .body")).to_have_text("Hello from a Salesforce lead")
    card = page.locator("#crm-card")
    expect(card).to_contain_text("Lead: Sally Summit · Open - Not Contacted · owner Ana Alvarez")
    link = card.get_by_role("link", name="Open in Salesforce")
    expect(link).to_have_attribute("href", f"https://summit.my.salesforce.com/lightning/r/Lead/{lead_id}/view")
    expect(link).to_have_attribute("target", "_blank")
    expect(page.locator("#signin-alt")).to_be_hidden()
    screenshot("salesforce-embedded")
    assert not page.js_errors


SEGMENT_SAMPLES = [
    "",
    "Hello",
    "x" * 160,
    "x" * 161,
    "x" * 306,
    "x" * 307,
    "€" * 80,
    "€" * 81,
    "a" * 152 + "€" + "a" * 10,  # an escape pair never splits across parts
    "Café ☕ " * 12,
    "Ünïcödé ç",
    "😀" * 35,
    "😀" * 36,
    "y" * 66 + "😀" + "y" * 10,  # nor a surrogate pair
    "Line one\nLine two\r\n{curly} [square] ~tilde~ ^caret^ |pipe| \\back\\",
    "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà",
    "ê is not GSM-7",
]


def test_the_composer_counts_segments_exactly_as_the_server_does(browser_page, live_app):
    page = browser_page
    page.goto(live_app.url + "/app/")
    shapes = page.evaluate(
        """async (bodies) => {
            const { bodyShape } = await import("/static/app/segments.js");
            return bodies.map((body) => bodyShape(body));
        }""",
        SEGMENT_SAMPLES,
    )
    for body, shape in zip(SEGMENT_SAMPLES, shapes, strict=True):
        server = body_shape(body)
        assert (shape["encoding"], shape["segments"], shape["units"]) == (
            server.encoding,
            server.segments,
            server.units,
        ), body


def test_the_composer_shows_the_unicode_hint(live_app, signed_in_page, screenshot):
    live_app.lead_texts("Hi")
    page = signed_in_page(live_app.world.staff)
    open_first_conversation(page)
    page.fill("#composer-body", "Café ☕ " * 12)
    expect(page.locator("#counter")).to_have_text("84 characters · 2 segments · Unicode (UCS-2)")
    expect(page.locator("#encoding-hint")).to_contain_text("Unicode (UCS-2)")
    screenshot("unicode")


def test_a_manager_answers_the_unassigned_queue_with_a_studio_and_a_template(live_app, signed_in_page, screenshot):
    world = live_app.world
    live_app.lead_texts("Who is this?", to=world.shared_number.number)
    page = signed_in_page(world.manager)
    page.get_by_label("Unassigned", exact=True).check()
    expect(page.locator(".conversation")).to_have_count(1)
    expect(page.locator(".conversation .badge.attention")).to_have_text("Needs attention")
    open_first_conversation(page)
    expect(page.locator("#attention-banner")).to_contain_text("shared number")

    page.get_by_label("Studio", exact=True).select_option(label="Uptown")
    page.get_by_label("From", exact=True).select_option(label=f"{world.shared_number.number} · shared")
    page.get_by_label("Template", exact=True).select_option(label="Welcome")
    # Nobody knows this texter's name: the template's {first_name} has no fallback, so it is asked for.
    expect(page.locator("#composer-body")).to_have_value(
        re.compile(r"^Hi \{first_name\}, thanks for your interest in Uptown!")
    )
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#composer-error")).to_contain_text("Fill in the first name first")
    page.get_by_label("First name", exact=True).fill("Dana")
    expect(page.locator("#composer-body")).to_have_value(re.compile(r"^Hi Dana, thanks for your interest in Uptown!"))
    screenshot("template")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.outbound")).to_have_count(1)
    message = Message.objects.for_organization(world.organization).get(direction="outbound")
    assert message.studio == world.uptown
    assert message.from_number == world.shared_number.number
    assert message.body.startswith("Hi Dana, thanks for your interest in Uptown!")
    assert "{" not in message.body  # every merge field filled in by the server
    expect(page.locator(".message.outbound .body")).to_have_text(message.body)


def test_when_the_session_ends_the_sign_in_comes_back(live_app, signed_in_page, screenshot):
    live_app.lead_texts("Hello")
    page = signed_in_page(live_app.world.staff)
    expect(page.locator(".conversation")).to_have_count(1)
    page.context.clear_cookies()
    expect(page.get_by_role("button", name="Sign in with Zoho")).to_be_visible()
    expect(page.locator("#signin-reason")).to_contain_text("session ended")
    expect(page.locator("#app")).to_be_hidden()
    screenshot("session-ended")


def test_the_list_shows_fifty_and_more_on_request(live_app, signed_in_page):
    from tests.messaging.factories import ConversationFactory

    for _ in range(51):
        ConversationFactory(studio=live_app.world.downtown)
    page = signed_in_page(live_app.world.staff)
    expect(page.locator(".conversation")).to_have_count(50)
    page.get_by_role("button", name="Show more conversations").click()
    expect(page.locator(".conversation")).to_have_count(51)
    expect(page.get_by_role("button", name="Show more conversations")).to_be_hidden()
