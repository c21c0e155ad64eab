"""Sign in with HubSpot end to end: identity/'s CRM-agnostic views, the emulator's consent page and token endpoints
over real HTTP, the widget's token; the `oauth` scope only, the user named by their owner id (asked through the
portal's connection), nothing of the user's kept, refusals (no member, portal not connected, a replayed callback,
a denied consent, no app), and the demo's staff signing in as in `make run`."""

from __future__ import annotations

import io
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.providers.hubspot import sign_in as hubspot_sign_in
from crm.providers.hubspot.models import HubSpotConnection
from crm.providers.hubspot.services import connection_for_account
from crm.records import Identity
from sandbox import worlds
from studios.models import ProviderAccount
from studios.services import member_crm_user_set
from tenants import demo
from tests.crm import sign_in_support as support
from tests.crm.hubspot.test_connect import (
    as_user,
    callback,
    consent,
    control,
    grants,
    hubspot_account,
    new_app,
    new_portal,
)
from tests.crm.sign_in_support import clean_cache  # noqa: F401 (autouse)


@pytest.fixture
def hubspot(settings, sandbox, tenant_a):
    """Portal "Acme Gyms" connected to tenant A (an install by its first user), whose staff member is the portal's
    second user's owner id; Leadline's app is the emulator's app, found at the sandbox's /hubspot."""
    settings.HUBSPOT_APP_URL = f"{sandbox.url}/hubspot"
    settings.HUBSPOT_API_URL = f"{sandbox.url}/hubspot"
    app = new_app(sandbox, settings)
    portal = new_portal(sandbox, "Acme Gyms")
    admin, staff = portal["owners"][0], portal["owners"][1]
    install = control(
        sandbox,
        "POST",
        f"portals/{portal['portal_id']}/installs",
        {"app_id": app["app_id"], "user_id": admin["userId"]},
    )
    account = hubspot_account(tenant_a.organization, sandbox, refresh_token=install["refresh_token"])
    connection = connection_for_account(account=account)
    HubSpotConnection.unscoped_objects.filter(pk=connection.pk).update(
        state=HubSpotConnection.State.CONNECTED, hub_id=str(portal["portal_id"]), owner_id=admin["id"]
    )
    member_crm_user_set(membership=tenant_a.staff, connection=account, crm_user_id=staff["id"])
    return SimpleNamespace(
        app=app, portal=portal, admin=admin, staff=staff, sandbox=sandbox, account=account, connection=connection
    )


def start(client: Client, mode: str | None = "widget") -> str:
    return support.start(client, "hubspot", mode)


def sign_in(client: Client, portal: dict, user: int, mode: str | None = "widget"):
    return support.done(client, "hubspot", callback(client, consent(start(client, mode), **as_user(portal, user))))


def test_widget_sign_in_asks_only_who_you_are_keeps_nothing_and_posts_a_token(hubspot, tenant_a):
    popup = Client()
    authorize = start(popup)
    assert authorize.startswith(f"{hubspot.sandbox.url}/hubspot/oauth/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["oauth"]  # no CRM data: nothing to read, nothing to keep
    assert query["client_id"] == [hubspot.app["client_id"]]

    installs_before = {grant.token for grant in grants(hubspot.sandbox, hubspot.portal)}
    done = callback(popup, consent(authorize, **as_user(hubspot.portal, 1)))
    support.assert_widget_signed_in(popup, "hubspot", done, tenant_a.staff)

    (sign_in_grant,) = [g for g in grants(hubspot.sandbox, hubspot.portal) if g.token not in installs_before]
    assert sign_in_grant.scopes == ("oauth",)
    assert not sign_in_grant.alive  # revoked at once: nothing of the user's outlives the sign-in


def test_the_identity_is_the_portal_and_the_users_owner_id(hubspot):
    session: dict = {}
    authorize = hubspot_sign_in.sign_in_url(session=session)
    location = consent(authorize, **as_user(hubspot.portal, 1))
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    signed_in = hubspot_sign_in.sign_in_finish(params=params, session=session)
    assert signed_in.mode == "page"
    identity = signed_in.identity
    assert identity.org_id == str(hubspot.portal["portal_id"])
    assert identity.org_name == hubspot.portal["domain"]
    assert identity.user_id == hubspot.staff["id"]  # the owner id, not the user id
    assert identity.user_email == hubspot.staff["email"]
    assert identity.user_name == f"{hubspot.staff['firstName']} {hubspot.staff['lastName']}"
    assert identity.user_active


def test_full_page_sign_in_ends_in_a_session_cookie(hubspot, tenant_a):
    browser = Client()
    response = callback(browser, consent(start(browser, mode=None), **as_user(hubspot.portal, 1)))
    support.assert_full_page_signed_in(response, browser, tenant_a.staff)


def test_a_user_of_the_portal_who_is_no_member_is_told_so(hubspot, tenant_a):
    support.assert_unknown_user(sign_in(Client(), hubspot.portal, 2), hubspot.portal["owners"][2]["email"])


def test_a_portal_nobody_connected_signs_nobody_in(hubspot):
    HubSpotConnection.unscoped_objects.filter(pk=hubspot.connection.pk).update(
        state=HubSpotConnection.State.NOT_CONNECTED
    )
    support.assert_org_not_connected(sign_in(Client(), hubspot.portal, 1))


def test_a_replayed_callback_is_refused(hubspot):
    popup = Client()
    support.assert_replay_refused(popup, consent(start(popup), **as_user(hubspot.portal, 1)), callback)


def test_denied_consent_is_refused_with_hubspots_words(hubspot):
    popup = Client()
    support.assert_denied(popup, callback(popup, consent(start(popup), _sandbox_deny="1")), "access_denied")


def test_sign_in_is_off_without_leadlines_app(settings):
    settings.HUBSPOT_CLIENT_ID = ""
    settings.HUBSPOT_CLIENT_SECRET = ""
    support.assert_not_configured("hubspot")


def test_the_connection_holding_a_portal_and_none_for_others(hubspot, tenant_b, sandbox):
    hub = str(hubspot.portal["portal_id"])
    assert hubspot_sign_in.connection_for_identity(identity=Identity(org_id=hub)) == hubspot.account
    assert hubspot_sign_in.connection_for_identity(identity=Identity(org_id="1")) is None
    # A disconnected row of another organization naming the portal holds nothing.
    other = hubspot_account(tenant_b.organization, sandbox, name="bolt-hubspot")
    HubSpotConnection.unscoped_objects.create(
        organization=tenant_b.organization, account=other, state="not_connected", hub_id=hub
    )
    assert hubspot_sign_in.connection_for_identity(identity=Identity(org_id=hub)) == hubspot.account


def test_the_demo_staff_sign_in_with_hubspot_as_in_make_run(settings, sandbox):
    """`make run`: the demo command records the sandbox's demo portal; the demo app takes any redirect URL."""
    settings.SANDBOX_URL = sandbox.url
    settings.DEBUG = True  # the demo app and the sandbox's /hubspot are HubSpot's settings' DEBUG defaults
    call_command("demo", stdout=io.StringIO())
    jordan = next(owner for owner in worlds.DEMO_HS_OWNERS if owner["email"] == "jordan@peak.leadline.test")
    popup = Client()
    location = consent(start(popup), _sandbox_portal=worlds.DEMO_HS_PORTAL_ID, _sandbox_user=jordan["userId"])
    support.assert_demo_member_signed_in(popup, location, jordan["email"])
    # The demo's connection works against the sandbox as it is (the manager's install), as the mirror will use it.
    from crm.registry import provider_for

    identity = provider_for(ProviderAccount.objects.unscoped().get(name=demo.DEMO_HS_CONNECTION)).identity()
    assert (identity.org_id, identity.user_id) == (demo.DEMO_HS_PORTAL_ID, demo.DEMO_HS_MANAGER[2])


def test_the_widget_opened_from_a_hubspot_record_offers_hubspot_sign_in_and_is_never_framed(client):
    from django.contrib.staticfiles import finders

    page = client.get("/app/", {"crm": "hubspot", "object": "contact", "recordId": "1201"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "crm/hubspot/embed.js" in text  # the glue that opens the record's conversation
    assert finders.find("crm/hubspot/embed.js")
    assert f"{reverse('signin:crm-start', args=['hubspot'])}?mode=widget" in text
    assert "Sign in with Salesforce" not in text  # from HubSpot, only HubSpot's sign-in
    policy = page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy  # opened in its own tab from a link: nobody frames it
    assert "script-src 'self';" in policy  # no SDK from HubSpot's origin
