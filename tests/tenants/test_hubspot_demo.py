"""The demo's third organization, Peak Performance Gyms on HubSpot: applied by `manage.py demo` beside the others,
its connection recorded as installed in the sandbox's demo portal, its members the portal's owners, its values
the sandbox's own (sandbox/worlds.py DEMO_HS_*)."""

from __future__ import annotations

import io

import pytest

from django.core.management import call_command

from automation.models import AutomationSettings
from crm.providers.hubspot.models import HubSpotConnection
from crm.providers.hubspot.services import connection_for_hub
from studios.models import Membership, Organization, PhoneNumber
from tenants import demo
from tests.tenants.test_tenants_file import account

pytestmark = pytest.mark.django_db


def ids_of(email: str) -> dict[str, str]:
    membership = Membership.objects.unscoped().get(user__email=email)
    return {link.connection.name: link.crm_user_id for link in membership.crm_users.select_related("connection")}


def test_the_demo_has_an_organization_on_hubspot(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("demo", stdout=out)

    peak = Organization.objects.unscoped().get(slug=demo.DEMO_HS_ORGANIZATION)
    assert peak.name == "Peak Performance Gyms"
    hubspot = account(demo.DEMO_HS_CONNECTION)
    assert hubspot.organization == peak
    assert hubspot.kind == "hubspot"
    assert hubspot.is_default
    assert hubspot.refresh_token.reveal() == demo.DEMO_HS_REFRESH_TOKEN
    assert hubspot.accounts_url == hubspot.api_domain == settings.SANDBOX_URL
    assert hubspot.custom_endpoints  # an operator's host: the sandbox serves HubSpot under /hubspot there
    connection = HubSpotConnection.unscoped_objects.get(account=hubspot)
    assert connection.state == HubSpotConnection.State.CONNECTED
    assert connection.hub_id == demo.DEMO_HS_PORTAL_ID
    assert connection.owner_id == demo.DEMO_HS_MANAGER[2]
    assert connection.timeline_activity == "communication"
    assert connection_for_hub(demo.DEMO_HS_PORTAL_ID) == hubspot  # the app's webhooks find the organization
    assert AutomationSettings.objects.unscoped().get(organization=peak).is_enabled

    numbers = dict(PhoneNumber.objects.unscoped().filter(organization=peak).values_list("number", "studio__slug"))
    assert numbers == {"+14155550120": "boulder", "+14155550121": "denver"}
    assert ids_of(demo.DEMO_HS_MANAGER[0]) == {demo.DEMO_HS_CONNECTION: demo.DEMO_HS_MANAGER[2]}
    for email, _name, _studio, owner_id in demo.DEMO_HS_STAFF:
        assert ids_of(email) == {demo.DEMO_HS_CONNECTION: owner_id}
    text = out.getvalue()
    assert "Peak Performance Gyms (peak), on HubSpot" in text
    assert "/webhooks/crm/hubspot/events/" in text

    again = io.StringIO()
    call_command("demo", stdout=again)  # idempotent, the connection still the portal's
    assert "organizations: 0 created, 0 updated, 4 unchanged" in again.getvalue()
    assert HubSpotConnection.unscoped_objects.get(account=hubspot).hub_id == demo.DEMO_HS_PORTAL_ID


def test_the_demos_hubspot_values_are_the_sandboxes():
    from crm.providers.hubspot import conf
    from sandbox import worlds

    assert demo.DEMO_HS_PORTAL_ID == str(worlds.DEMO_HS_PORTAL_ID)
    assert demo.DEMO_HS_ORG_NAME == worlds.DEMO_HS_PORTAL_NAME
    assert demo.DEMO_HS_DOMAIN == worlds.DEMO_HS_DOMAIN
    assert demo.DEMO_HS_APP_ID == worlds.DEMO_HS_APP_ID == conf.DEMO_APP_ID
    assert demo.DEMO_HS_CLIENT_ID == worlds.DEMO_HS_CLIENT_ID == conf.DEMO_CLIENT_ID
    assert demo.DEMO_HS_CLIENT_SECRET == worlds.DEMO_HS_CLIENT_SECRET == conf.DEMO_CLIENT_SECRET
    assert demo.DEMO_HS_REFRESH_TOKEN == worlds.DEMO_HS_REFRESH_TOKEN
    owners = {owner["email"]: (owner["id"], str(owner["userId"])) for owner in worlds.DEMO_HS_OWNERS}
    manager_email, _name, manager_owner, manager_user = demo.DEMO_HS_MANAGER
    assert owners[manager_email] == (manager_owner, manager_user)
    for email, _name, _studio, owner_id in demo.DEMO_HS_STAFF:
        assert owners[email][0] == owner_id
    numbers = {entry["number"] for entry in demo.demo_document(sandbox_url="x")["organizations"][2]["numbers"]}
    assert numbers == set(worlds.DEMO_HS_TWILIO_NUMBERS)
