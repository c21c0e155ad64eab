"""What a person does with Microsoft Dynamics 365, in Chromium against the product and the sandbox's emulator: the
widget, framed the way a model-driven app form's iframe frames it, opens the record's conversation with its CRM
card and a link to the record's form (a bad record id shows the glue's notice); the sandbox's own record page
(main.aspx) frames the widget, which signs in and opens the lead's conversation, mirrored from the emulator;
"Sign in with Microsoft" through the sandbox's Entra sign-in page (a member is signed in, a person who is no member
is told so); a manager connects an environment from the admin through Entra's admin consent page.

msal wants Entra's login host over HTTPS: this module's `sandbox` (the one the live_app's world uses) also serves
its HTTPS listener, and the settings point Leadline's Entra app at it as tests/crm/dynamics/connect_support.py
does."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from types import SimpleNamespace

import pytest
import requests
from playwright.sync_api import expect

from django.core.cache import cache
from django.utils import timezone

from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_account
from crm.registry import provider_class, provider_for
from identity.models import WidgetToken
from messaging.models import Conversation
from studios.models import ProviderAccount
from studios.services import member_crm_user_set
from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun
from tests.crm.dynamics.connect_support import CLIENT_ID, app_configure, dynamics_account

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEAD_TEXT = "Hello from a Dynamics lead"


@pytest.fixture
def sandbox():
    """The sandbox of the live_app's world, with Entra's login host on its HTTPS listener (msal wants https)."""
    from sandbox.server import SandboxServer

    with SandboxServer(tls=True) as server:
        yield server


@pytest.fixture(autouse=True)
def _entra(sandbox, settings):
    """Leadline's Entra app is the sandbox's demo app; tokens, sign-in flows and states start from nothing."""
    app_configure(settings, sandbox)
    cache.clear()
    yield
    cache.clear()


def people(environment) -> list[dict]:
    """The environment's system users who are people (not application users), in creation order."""
    rows = [row for row in environment.rows("systemuser") if not row.get("applicationid")]
    return sorted(rows, key=lambda row: (row["createdon"], row["systemuserid"]))


def connect(organization, sandbox, environment):
    """The organization's Dynamics account connected to the environment, as a consent would have recorded it."""
    account = dynamics_account(organization, sandbox, name="acme-dynamics")
    connection = connection_for_account(account=account)
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(
        state=DynamicsConnection.State.CONNECTED,
        tenant_id=environment.tenant_id,
        environment_url=environment.url,
        org_id=environment.organization_id,
        organization_name=environment.organization_name,
        application_user_id=environment.application_user(CLIENT_ID)["systemuserid"],
    )
    return ProviderAccount.unscoped_objects.get(pk=account.pk)  # with its connection as stored


@pytest.fixture
def acmefit(live_app, sandbox):
    """Environment "acmefit" (Leadline's app consented, its application user) connected to the world's organization;
    its second person is the world's staff member, its third no member; one lead, Sally Harbor, owned by the
    staff member."""
    environment = sandbox.state.dynamics.create_environment("acmefit", organization_name="Acme Gyms", consent=True)
    account = connect(live_app.world.organization, sandbox, environment)
    admin, staff, stranger = people(environment)[:3]
    member_crm_user_set(membership=live_app.world.staff, connection=account, crm_user_id=staff["systemuserid"])
    lead = environment.create(
        "lead",
        {"firstname": "Sally", "lastname": "Harbor", "subject": "Trial class", "mobilephone": "+14155550142"},
        by=staff["systemuserid"],
    )
    return SimpleNamespace(
        environment=environment, account=account, admin=admin, staff=staff, stranger=stranger, lead=lead
    )


def link_conversation(live_app, account, lead_id: str) -> None:
    """The lead texted Downtown; its conversation's contact is linked to the lead."""
    live_app.lead_texts(LEAD_TEXT)
    contact = Conversation.objects.for_organization(live_app.world.organization).get().contact
    contact.crm_object, contact.crm_record_id, contact.connection = "lead", lead_id, account
    contact.save()


def mirror_by_hand(live_app, account, lead_id: str) -> None:
    """The mirror holds the lead (Sally Harbor, New, owned by Ana Alvarez) as a sync would have stored it."""
    now = timezone.now()
    organization = live_app.world.organization
    run = SyncRun.unscoped_objects.create(organization=organization, connection=account, object="lead", started_at=now)
    CrmRecord.unscoped_objects.create(
        organization=organization,
        connection=account,
        object="lead",
        external_id=lead_id,
        name="Sally Harbor",
        owner_id=str(uuid.uuid4()),
        owner_name="Ana Alvarez",
        modified_time=now,
        content_hash="x",
        fields={"lead_status": "New"},
        synced_at=now,
        run=run,
    )


def account_on_dynamics_hosts(live_app, environment_url: str):
    """A Dynamics account of the world's organization connected to an environment on Dynamics' own hosts."""
    account = ProviderAccount.unscoped_objects.create(
        organization=live_app.world.organization,
        name="acme-dynamics",
        kind="dynamics",
        accounts_url="https://login.microsoftonline.com",
        api_domain=environment_url,
    )
    connection = connection_for_account(account=account)
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(
        state=DynamicsConnection.State.CONNECTED, environment_url=environment_url, organization_name="Acme Gyms"
    )
    return account


# --- inside a model-driven app form --------------------------------------------------------------------------------
def test_inside_dynamics_the_forms_record_opens_its_conversation_with_its_crm_card(
    live_app, signed_in_page, screenshot
):
    lead_id = "4b1f3c2a-9d8e-4f70-a1b2-c3d4e5f60718"
    account = account_on_dynamics_hosts(live_app, "https://acmefit.crm4.dynamics.com")
    link_conversation(live_app, account, lead_id)
    mirror_by_hand(live_app, account, lead_id)
    # What a form's iframe with "Pass record object-type code and unique identifier as parameters" frames.
    path = f"/app/?crm=dynamics&typename=lead&id=%7B{lead_id.upper()}%7D&orgname=acmefit"
    page = signed_in_page(live_app.world.staff, path=path)
    expect(page.locator(".message.inbound .body")).to_have_text(LEAD_TEXT)
    card = page.locator("#crm-card")
    expect(card).to_contain_text("Lead: Sally Harbor · New · owner Ana Alvarez")
    link = card.get_by_role("link", name=re.compile("^Open in Microsoft Dynamics 365"))
    expect(link).to_have_attribute(
        "href", f"https://acmefit.crm4.dynamics.com/main.aspx?etn=lead&id={lead_id}&pagetype=entityrecord"
    )
    expect(link).to_have_attribute("target", "_blank")
    expect(page.locator("#signin-alt")).to_be_hidden()
    screenshot("dynamics-embedded")
    assert not page.js_errors


BAD_ID_PATH = "/app/?crm=dynamics&typename=lead&id=%7Bnot-a-guid%7D&orgname=acmefit"
BAD_ID_NOTICE = "This form's record id is not a Dynamics 365 id."


def test_inside_dynamics_a_record_id_that_is_no_guid_shows_the_glues_notice(browser_page, live_app, screenshot):
    page = browser_page
    page.goto(live_app.url + BAD_ID_PATH)
    expect(page.locator("#notice")).to_contain_text(BAD_ID_NOTICE)
    expect(page.get_by_role("button", name=re.compile("^Sign in with Microsoft"))).to_be_visible()
    screenshot("bad-record-id")
    assert not page.js_errors


def test_signed_in_the_glues_notice_for_a_bad_record_id_stays(live_app, signed_in_page):
    live_app.lead_texts(LEAD_TEXT)
    page = signed_in_page(live_app.world.staff, path=BAD_ID_PATH)
    expect(page.locator("#who")).to_contain_text("Acme Fitness")
    expect(page.locator("#notice")).to_contain_text(BAD_ID_NOTICE, timeout=3_000)


# --- the sandbox's record page -------------------------------------------------------------------------------------
def frame_ancestors_with_sandbox(settings, sandbox, monkeypatch) -> tuple[str, ...]:
    """Who may frame the widget as `make run` computes it (DEBUG on, the sandbox at SANDBOX_URL): the test server
    runs without DEBUG, and the embed's list is made once at import."""
    from crm.providers.dynamics import embed

    settings.SANDBOX_URL = sandbox.url
    settings.DEBUG = True
    try:
        ancestors = embed.frame_ancestors()
    finally:
        settings.DEBUG = False
    provider = provider_class("dynamics")
    monkeypatch.setattr(provider, "embed", replace(provider.embed, frame_ancestors=ancestors))
    return ancestors


def test_the_sandbox_record_page_frames_the_widget_which_signs_in_and_opens_the_leads_conversation(
    browser_page, live_app, sandbox, acmefit, settings, monkeypatch, screenshot
):
    lead_id = acmefit.lead["leadid"]
    link_conversation(live_app, acmefit.account, lead_id)
    done = sync_run(organization=live_app.world.organization, object="lead", provider=provider_for(acmefit.account))
    assert done.status == SyncRun.Status.OK, done.error  # the mirror read the lead from the environment
    live_app.sandbox_config(product_base_url=live_app.url)
    record_page = f"{acmefit.environment.url}/main.aspx?etn=lead&id={lead_id}&pagetype=entityrecord"

    # Without DEBUG the widget's policy names only Dynamics' own hosts: the sandbox may not frame it.
    widget = requests.get(f"{live_app.url}/app/?crm=dynamics", timeout=10)
    assert "frame-ancestors https://*.crm.dynamics.com" in widget.headers["Content-Security-Policy"]
    assert sandbox.url not in widget.headers["Content-Security-Policy"]

    assert sandbox.url in frame_ancestors_with_sandbox(settings, sandbox, monkeypatch)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(record_page)
    expect(page.get_by_role("heading", name="Sally Harbor", exact=True)).to_be_visible()
    frame = page.frame_locator('iframe[title="Leadline"]')
    # A framed page gets no session cookie from the top-level site: the person signs in with Microsoft in the frame.
    with page.expect_popup() as popup_info:
        frame.get_by_role("button", name=re.compile("^Sign in with Microsoft")).click()
    popup = popup_info.value
    with popup.expect_event("close"):
        pick(popup, acmefit.staff).click()
    expect(frame.locator("#who")).to_contain_text("Acme Fitness")
    expect(frame.locator(".message.inbound .body")).to_have_text(LEAD_TEXT)
    link = frame.locator("#crm-card").get_by_role("link", name=re.compile("^Open in Microsoft Dynamics 365"))
    expect(link).to_have_attribute("href", record_page)
    expect(frame.locator("#crm-card")).to_contain_text(f"Lead: Sally Harbor · New · owner {acmefit.staff['fullname']}")
    screenshot("sandbox-record-page")
    with page.context.expect_page() as opened:
        link.click()
    expect(opened.value.get_by_role("heading", name="Sally Harbor", exact=True)).to_be_visible()
    assert not page.js_errors


# --- Sign in with Microsoft ----------------------------------------------------------------------------------------
def open_microsoft_sign_in(page, app_url: str):
    """The widget as a form frames it, signed out: its one sign-in button opens Entra's page in a popup."""
    page.goto(app_url + "/app/?crm=dynamics")
    expect(page.locator("#signin-alt")).to_be_hidden()  # inside Dynamics only its sign-in makes sense
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name=re.compile("^Sign in with Microsoft")).click()
    popup = popup_info.value
    expect(popup.get_by_role("heading", name="Pick an account")).to_be_visible()
    return popup


def pick(popup, person: dict):
    """Entra's account picker: the person's button (their object id is its value)."""
    return popup.locator(f'button[name="person"][value="{person["azureactivedirectoryobjectid"]}"]')


def test_sign_in_with_microsoft_signs_the_widget_in_as_the_system_users_member(
    browser_page, live_app, acmefit, screenshot
):
    page = browser_page
    popup = open_microsoft_sign_in(page, live_app.url)
    expect(pick(popup, acmefit.staff)).to_contain_text(acmefit.staff["fullname"])
    popup.screenshot(path=screenshot("widget").with_name("entra-sign-in-popup.png"))
    with popup.expect_event("close"):
        pick(popup, acmefit.staff).click()
    expect(page.locator("#who")).to_contain_text("Acme Fitness")
    screenshot("signed-in")
    stored = page.evaluate("Object.values(sessionStorage).join(' ')")
    assert "llw_" in stored  # the widget keeps the bearer token, not a cookie
    assert WidgetToken.objects.unscoped().get().membership == live_app.world.staff
    assert page.evaluate("fetch('/api/v1/me/').then((response) => response.status)") == 401
    assert not page.js_errors


def test_a_person_of_the_environment_who_is_no_member_is_told_to_ask_a_manager(
    browser_page, live_app, acmefit, screenshot
):
    page = browser_page
    popup = open_microsoft_sign_in(page, live_app.url)
    pick(popup, acmefit.stranger).click()
    expect(popup.get_by_role("heading", name="Ask your manager to add you")).to_be_visible()
    expect(popup.locator("body")).to_contain_text(acmefit.stranger["internalemailaddress"])
    popup.screenshot(path=screenshot("page").with_name("dynamics-unknown-user-popup.png"))
    expect(page.locator("body")).to_contain_text("Ask a manager")
    assert not WidgetToken.objects.unscoped().exists()


# --- connecting from the admin -------------------------------------------------------------------------------------
def connect_in_admin(page, live_app, sandbox, screenshot):
    """A manager connects a new environment "peakfit" from the admin: Connect, the environment URL, Entra's admin
    consent page (Accept as the tenant's admin), the sign-in that confirms the tenant; the page they end on."""
    environment = sandbox.state.dynamics.create_environment("peakfit", organization_name="Peak Gyms", consent=False)
    admin = sandbox.state.dynamics.tenant(environment.tenant_id).admins()[0]
    account = dynamics_account(live_app.world.organization, sandbox, name="peak-dynamics")
    connection = connection_for_account(account=account)
    change = f"/admin/dynamics/dynamicsconnection/{connection.pk}/change/"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_app.url + change)
    page.get_by_role("link", name="Connect Dynamics 365").click()
    page.get_by_label("Environment URL").fill(environment.url)
    screenshot("connect-page")
    page.get_by_role("button", name="Continue to Microsoft").click()

    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    expect(page.locator("body")).to_contain_text(f"{environment.url}/.default")
    screenshot("admin-consent")
    # The customer's step between consent and connect (docs/crm/dynamics.md): Leadline's application user.
    sandbox.state.dynamics.add_application_user(environment, CLIENT_ID)
    page.get_by_role("button", name=re.compile(rf"^Accept as {re.escape(admin.name)}")).click()
    # Entra's consent redirect is unsigned: the admin signs in at the consenting tenant to confirm it.
    expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    page.locator(f'button[name="person"][value="{admin.object_id}"]').click()
    expect(page).to_have_url(re.compile(re.escape(change) + "$"))
    return SimpleNamespace(environment=environment, connection=connection)


def test_a_manager_connects_dynamics_through_the_admin_consent_page(live_app, sandbox, signed_in_page, screenshot):
    page = signed_in_page(live_app.world.manager, path="/admin/")
    connected = connect_in_admin(page, live_app, sandbox, screenshot)
    environment, connection = connected.environment, connected.connection
    expect(page.locator(".messagelist")).to_contain_text("is connected to the Dynamics 365 environment")
    expect(page.locator(".field-state")).to_contain_text("Connected")
    expect(page.locator(".field-environment_url")).to_contain_text(environment.url)
    expect(page.locator(".field-organization_name")).to_contain_text("Peak Gyms")  # read from the environment
    screenshot("connected")
    connection.refresh_from_db()
    assert connection.state == DynamicsConnection.State.CONNECTED
    assert (connection.tenant_id, connection.org_id) == (environment.tenant_id, environment.organization_id)
    assert not page.js_errors
