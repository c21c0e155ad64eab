"""The HubSpot connection admin: organizations kept apart (the add form's choices, adding for another organization's
account, staff, the callback with a genuine state for another organization's account, operators), the settings a
manager may change (lead lifecycle stages, timeline activity) and the read-only rest, the Connect / Disconnect
links and the portal's daily allowance as last seen."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from django.urls import reverse
from django.utils import timezone

from crm.providers.hubspot import oauth, services
from crm.providers.hubspot.admin import HubSpotConnectionAdmin
from crm.providers.hubspot.models import DEFAULT_LEAD_LIFECYCLE_STAGES, HubSpotConnection
from crm.providers.hubspot.services import connection_for_account
from studios.models import ProviderAccount

pytestmark = pytest.mark.django_db


def url(name: str, *args: int) -> str:
    return reverse(f"admin:hubspot_hubspotconnection_{name}", args=args)


def hubspot(organization, name: str, **values) -> ProviderAccount:
    return ProviderAccount.objects.create(organization=organization, name=name, kind="hubspot", **values)


@pytest.fixture(autouse=True)
def _app(settings):
    settings.HUBSPOT_CLIENT_ID = "leadline-app-client-id"
    settings.HUBSPOT_CLIENT_SECRET = "leadline-app-secret"
    settings.HUBSPOT_APP_URL = "https://app.hubspot.com"


@pytest.fixture
def as_manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def connection_b(tenant_b):
    account = hubspot(tenant_b.organization, "bolt-hs", refresh_token="na1-bolt-refresh")
    connection = connection_for_account(account=account)
    HubSpotConnection.unscoped_objects.filter(pk=connection.pk).update(hub_id="24681001", hub_domain="bolt.example")
    return connection


def test_the_add_form_offers_only_the_managers_unconnected_hubspot_accounts(as_manager_a, tenant_a, tenant_b):
    fresh_a = hubspot(tenant_a.organization, "acme-hs")
    connection_for_account(account=hubspot(tenant_a.organization, "acme-hs-connected"))
    hubspot(tenant_b.organization, "bolt-hs")
    response = as_manager_a.get(url("add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["account"].queryset) == [fresh_a]
    assert {"lead_lifecycle_stages", "timeline_activity"} <= set(form.fields)
    assert "bolt-hs" not in response.content.decode()


def test_adding_a_connection_with_its_settings(as_manager_a, tenant_a):
    fresh = hubspot(tenant_a.organization, "acme-hs")
    response = as_manager_a.post(
        url("add"), {"account": fresh.pk, "lead_lifecycle_stages": "lead", "timeline_activity": "note"}
    )
    assert response.status_code == 302
    created = HubSpotConnection.objects.unscoped().get(account=fresh)
    assert created.organization == tenant_a.organization
    assert created.state == HubSpotConnection.State.NOT_CONNECTED
    assert (created.lead_lifecycle_stages, created.timeline_activity) == ("lead", "note")


def test_adding_a_connection_for_another_organizations_account_is_refused(as_manager_a, tenant_b):
    foreign = hubspot(tenant_b.organization, "bolt-hs")
    response = as_manager_a.post(
        url("add"),
        {"organization": tenant_b.organization.pk, "account": foreign.pk, "timeline_activity": "communication"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert not HubSpotConnection.objects.unscoped().filter(account=foreign).exists()


def test_a_manager_changes_lead_stages_and_timeline_activity_but_not_the_portal(as_manager_a, tenant_a):
    account = hubspot(tenant_a.organization, "acme-hs", refresh_token="na1-acme")
    connection = connection_for_account(account=account)
    HubSpotConnection.unscoped_objects.filter(pk=connection.pk).update(
        state="connected", hub_id="24681002", owner_id="71000001", user_email="admin@acme.test"
    )
    page = as_manager_a.get(url("change", connection.pk))
    assert page.status_code == 200
    text = page.content.decode()
    assert "24681002" in text
    assert "Reconnect HubSpot" in text
    assert url("disconnect", connection.pk) in text
    assert set(page.context["adminform"].form.fields) == {"lead_lifecycle_stages", "timeline_activity"}

    response = as_manager_a.post(
        url("change", connection.pk),
        {"lead_lifecycle_stages": "lead,salesqualifiedlead", "timeline_activity": "task", "hub_id": "1"},
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.lead_lifecycle_stages == "lead,salesqualifiedlead"
    assert connection.lead_stages() == ("lead", "salesqualifiedlead")
    assert connection.timeline_activity == "task"
    assert connection.hub_id == "24681002"  # read-only: only connecting sets it


def test_an_unknown_timeline_activity_is_refused(as_manager_a, tenant_a):
    connection = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    response = as_manager_a.post(
        url("change", connection.pk), {"lead_lifecycle_stages": "", "timeline_activity": "sms"}
    )
    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.timeline_activity == "communication"


def test_a_not_connected_connection_offers_connect_only(as_manager_a, tenant_a):
    connection = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    text = as_manager_a.get(url("change", connection.pk)).content.decode()
    assert "Connect HubSpot" in text
    assert url("disconnect", connection.pk) not in text
    connect = as_manager_a.post(url("connect", connection.pk), {"csrfmiddlewaretoken": "x"})
    assert connect.status_code == 302
    assert connect.url.startswith("https://app.hubspot.com/oauth/authorize?")


def test_the_connect_page_says_when_no_app_is_configured(as_manager_a, tenant_a, settings):
    settings.HUBSPOT_CLIENT_ID = ""
    settings.HUBSPOT_CLIENT_SECRET = ""
    connection = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    response = as_manager_a.post(url("connect", connection.pk), {"csrfmiddlewaretoken": "x"})
    assert response.status_code == 200
    assert "HubSpot is not configured on this server" in response.content.decode()


def test_the_daily_allowance_and_a_block_are_shown(tenant_a):
    account = hubspot(tenant_a.organization, "acme-hs")
    connection = connection_for_account(account=account)
    admin = HubSpotConnectionAdmin(HubSpotConnection, None)
    assert admin.daily_shown(connection) == "not seen yet"
    services.connection_rate_record(account=account, daily_limit=250_000, daily_remaining=249_000)
    services.connection_limit_block(account=account, until=timezone.now() + timedelta(hours=3), message="DAILY")
    connection.refresh_from_db()
    assert admin.daily_shown(connection).startswith("249,000 of 250,000")
    assert admin.blocked(connection)
    assert connection.last_error == "DAILY"
    services.connection_limit_clear(account=account)
    connection.refresh_from_db()
    assert admin.blocked(connection) == ""


def test_staff_get_no_hubspot_admin(client, tenant_a, connection_b):
    mine = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    client.force_login(tenant_a.staff.user)
    for target in (url("changelist"), url("change", mine.pk), url("connect", mine.pk), url("disconnect", mine.pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


def test_another_organizations_connection_is_not_found(as_manager_a, connection_b):
    for target in (url("change", connection_b.pk), url("connect", connection_b.pk), url("disconnect", connection_b.pk)):
        assert as_manager_a.get(target).status_code in (302, 404)
    assert as_manager_a.post(url("disconnect", connection_b.pk)).status_code in (302, 404)
    connection_b.refresh_from_db()
    assert connection_b.account.refresh_token.reveal() == "na1-bolt-refresh"


def test_the_callback_for_another_organizations_account_is_not_found(client, tenant_a, connection_b):
    """Even with a genuine state for B's account carried in A's own session, A's manager cannot finish B's flow."""
    session = client.session
    authorize = oauth.authorize_url(connection_b.account, session=session)
    session.save()
    client.force_login(tenant_a.manager.user)  # login keeps the session's data, so the nonce is still there
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = client.get(reverse("crm-oauth-callback"), {"state": state, "code": "x"})
    assert response.status_code == 404
    connection_b.refresh_from_db()
    assert connection_b.account.refresh_token.reveal() == "na1-bolt-refresh"


def test_operators_see_every_organizations_connections(client, operator, tenant_a, connection_b):
    mine = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    client.force_login(operator)
    response = client.get(url("changelist"))
    assert {row.pk for row in response.context["cl"].result_list} == {mine.pk, connection_b.pk}
    assert client.get(url("connect", connection_b.pk)).status_code == 200


def test_lifecycle_stage_labels_are_refused_with_what_to_give_instead(as_manager_a, tenant_a):
    connection = connection_for_account(account=hubspot(tenant_a.organization, "acme-hs"))
    response = as_manager_a.post(
        url("change", connection.pk),
        {"lead_lifecycle_stages": "lead, Marketing Qualified Lead", "timeline_activity": "communication"},
    )
    assert response.status_code == 200
    assert "not a lifecycle stage&#x27;s internal value" in response.content.decode()
    connection.refresh_from_db()
    assert connection.lead_lifecycle_stages == DEFAULT_LEAD_LIFECYCLE_STAGES
    # A custom stage's internal value is a number: accepted.
    as_manager_a.post(
        url("change", connection.pk), {"lead_lifecycle_stages": "lead,1234567", "timeline_activity": "note"}
    )
    connection.refresh_from_db()
    assert connection.lead_stages() == ("lead", "1234567")
