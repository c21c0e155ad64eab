"""The Dynamics 365 connection admin: organizations kept apart (the add form's choices, adding for another
organization's account, staff, every page of another organization's connection, the callback with a genuine state
for another organization's account, operators), the settings a manager may change (timeline activity, custom
activity table, opt-out column) and the read-only rest, the Connect page (the environment URL a manager may name),
the webhook page (URL, header, secret generated and rotated) and a service-protection block."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from django.urls import reverse
from django.utils import timezone

from crm.providers.dynamics import oauth, services
from crm.providers.dynamics.admin import DynamicsConnectionAdmin
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_account
from studios.models import ProviderAccount

pytestmark = pytest.mark.django_db

ENVIRONMENT = "https://acme.crm4.dynamics.com"
BOLT_ORG_ID = "5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e600"


def url(name: str, *args: int) -> str:
    return reverse(f"admin:dynamics_dynamicsconnection_{name}", args=args)


def dynamics(organization, name: str, **values) -> ProviderAccount:
    values = {"accounts_url": "https://login.microsoftonline.com", "api_domain": ENVIRONMENT, **values}
    return ProviderAccount.objects.create(organization=organization, name=name, kind="dynamics", **values)


@pytest.fixture(autouse=True)
def _app(settings):
    settings.DYNAMICS_CLIENT_ID = "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
    settings.DYNAMICS_CLIENT_SECRET = "leadline-app-secret"
    settings.DYNAMICS_LOGIN_URL = "https://login.microsoftonline.com"
    settings.DYNAMICS_CONSENT_URL = "https://login.microsoftonline.com"


@pytest.fixture
def as_manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def connection_b(tenant_b):
    account = dynamics(tenant_b.organization, "bolt-dynamics", api_domain="https://bolt.crm.dynamics.com")
    connection = connection_for_account(account=account)
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(
        state="connected",
        tenant_id="11111111-2222-4333-8444-555555555555",
        environment_url="https://bolt.crm.dynamics.com",
        org_id=BOLT_ORG_ID,
        webhook_secret="bolt-webhook-secret",
    )
    connection.refresh_from_db()
    return connection


def test_the_add_form_offers_only_the_managers_unconnected_dynamics_accounts(as_manager_a, tenant_a, tenant_b):
    fresh_a = dynamics(tenant_a.organization, "acme-dynamics")
    connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics-connected"))
    dynamics(tenant_b.organization, "bolt-dynamics")
    response = as_manager_a.get(url("add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["account"].queryset) == [fresh_a]
    assert {"timeline_activity", "custom_activity_table", "opt_out_column"} <= set(form.fields)
    assert "bolt-dynamics" not in response.content.decode()


def test_adding_a_connection_for_another_organizations_account_is_refused(as_manager_a, tenant_b):
    foreign = dynamics(tenant_b.organization, "bolt-dynamics")
    response = as_manager_a.post(
        url("add"), {"organization": tenant_b.organization.pk, "account": foreign.pk, "timeline_activity": "task"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert not DynamicsConnection.objects.unscoped().filter(account=foreign).exists()


def test_a_manager_changes_the_timeline_and_opt_out_settings_but_not_the_environment(as_manager_a, tenant_a):
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(
        state="connected", environment_url=ENVIRONMENT, org_id="5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"
    )
    page = as_manager_a.get(url("change", connection.pk))
    assert page.status_code == 200
    text = page.content.decode()
    assert "5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7" in text
    assert "Reconnect Dynamics 365" in text
    assert url("webhook", connection.pk) in text
    assert set(page.context["adminform"].form.fields) == {
        "timeline_activity",
        "custom_activity_table",
        "opt_out_column",
    }

    response = as_manager_a.post(
        url("change", connection.pk),
        {
            "timeline_activity": "custom",
            "custom_activity_table": "lh_sms",
            "opt_out_column": "lh_smsoptout",
            "org_id": "1",
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.activity_table(), connection.opt_out_column) == ("lh_sms", "lh_smsoptout")
    assert connection.org_id == "5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"  # read-only: only connecting sets it


@pytest.mark.parametrize(
    "values",
    [
        {"timeline_activity": "custom", "custom_activity_table": "", "opt_out_column": ""},
        {"timeline_activity": "task", "custom_activity_table": "SMS Activity", "opt_out_column": ""},
        {"timeline_activity": "task", "custom_activity_table": "", "opt_out_column": "SMS Opt Out"},
    ],
)
def test_settings_the_connection_refuses_are_shown(as_manager_a, tenant_a, values):
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    response = as_manager_a.post(url("change", connection.pk), values)
    assert response.status_code == 200
    connection.refresh_from_db()
    assert (connection.timeline_activity, connection.custom_activity_table, connection.opt_out_column) == (
        "task",
        "",
        "",
    )


def test_the_connect_page_asks_for_the_environment_and_sends_the_manager_to_admin_consent(as_manager_a, tenant_a):
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    text = as_manager_a.get(url("change", connection.pk)).content.decode()
    assert "Connect Dynamics 365" in text
    assert url("disconnect", connection.pk) not in text
    page = as_manager_a.get(url("connect", connection.pk))
    assert page.status_code == 200
    assert page.context["form"].initial["environment_url"] == ENVIRONMENT

    # People paste the address of a record page: its main.aspx and query are dropped.
    pasted = f"{ENVIRONMENT}/main.aspx?appid=1234"
    response = as_manager_a.post(url("connect", connection.pk), {"environment_url": pasted})
    assert response.status_code == 302
    consent = urlsplit(response.url)
    assert f"{consent.scheme}://{consent.netloc}{consent.path}" == (
        "https://login.microsoftonline.com/organizations/v2.0/adminconsent"
    )
    query = {name: values[0] for name, values in parse_qs(consent.query).items()}
    assert query["client_id"] == "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
    assert query["scope"] == f"{ENVIRONMENT}/.default"
    assert query["redirect_uri"] == oauth.redirect_uri()
    assert query["state"]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("https://acme.example.com", "not one of Microsoft Dynamics 365&#x27;s own addresses"),
        ("http://acme.crm.dynamics.com", "only https://"),
        ("https://acme.crm.dynamics.com/some/path", "address only"),
    ],
)
def test_an_environment_a_manager_may_not_name_is_refused_on_the_connect_page(as_manager_a, tenant_a, typed, message):
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    response = as_manager_a.post(url("connect", connection.pk), {"environment_url": typed})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_the_connect_page_says_when_no_app_is_configured(as_manager_a, tenant_a, settings):
    settings.DYNAMICS_CLIENT_ID = ""
    settings.DYNAMICS_CLIENT_SECRET = ""
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    response = as_manager_a.post(url("connect", connection.pk), {"environment_url": ENVIRONMENT})
    assert response.status_code == 200
    assert "Dynamics 365 is not configured on this server" in response.content.decode()


def test_the_webhook_page_shows_what_the_registration_needs_and_rotates_the_secret(as_manager_a, tenant_a, settings):
    settings.PUBLIC_BASE_URL = "https://leadline.example"
    connection = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    page = as_manager_a.get(url("webhook", connection.pk))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    text = page.content.decode()
    assert "https://leadline.example/webhooks/crm/dynamics/events/" in text
    assert "x-leadline-webhook-key" in text
    assert "Generate a secret" in text

    assert as_manager_a.post(url("webhook", connection.pk)).status_code == 200
    connection.refresh_from_db()
    first = connection.webhook_secret.reveal()
    assert len(first) >= 40
    assert first in as_manager_a.get(url("webhook", connection.pk)).content.decode()
    assert DynamicsConnection.unscoped_objects.filter(webhook_secret=first).count() == 0  # stored encrypted

    as_manager_a.post(url("webhook", connection.pk))
    connection.refresh_from_db()
    assert connection.webhook_secret.reveal() not in ("", first)


def test_a_service_protection_block_is_shown(tenant_a):
    account = dynamics(tenant_a.organization, "acme-dynamics")
    connection = connection_for_account(account=account)
    admin = DynamicsConnectionAdmin(DynamicsConnection, None)
    services.connection_limit_block(account=account, until=timezone.now() + timedelta(minutes=5), message="0x80072322")
    connection.refresh_from_db()
    assert admin.blocked(connection)
    assert connection.last_error == "0x80072322"
    services.connection_limit_clear(account=account)
    connection.refresh_from_db()
    assert admin.blocked(connection) == ""


def test_staff_get_no_dynamics_admin(client, tenant_a):
    mine = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    client.force_login(tenant_a.staff.user)
    for name in ("change", "connect", "disconnect", "webhook"):
        response = client.get(url(name, mine.pk))
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))
    assert client.get(url("changelist")).status_code == 302


def test_every_page_of_another_organizations_connection_is_not_found(as_manager_a, connection_b):
    # The change page answers as for an id that does not exist (Django's admin: back to the index, "not found").
    missing = as_manager_a.get(url("change", connection_b.pk + 1000))
    foreign = as_manager_a.get(url("change", connection_b.pk))
    assert (foreign.status_code, foreign.url) == (missing.status_code, missing.url) == (302, reverse("admin:index"))
    for name in ("connect", "disconnect", "webhook"):
        assert as_manager_a.get(url(name, connection_b.pk)).status_code == 404, name
    for name in ("connect", "check", "disconnect", "webhook"):
        assert as_manager_a.post(url(name, connection_b.pk), {"environment_url": ENVIRONMENT}).status_code == 404
    connection_b.refresh_from_db()
    assert connection_b.state == "connected"
    assert connection_b.webhook_secret.reveal() == "bolt-webhook-secret"  # neither shown nor rotated
    listed = as_manager_a.get(url("changelist"))
    assert connection_b.pk not in {row.pk for row in listed.context["cl"].result_list}


def test_the_callback_for_another_organizations_account_is_not_found(client, tenant_a, connection_b):
    """Even with a genuine state for B's account carried in A's own session, A's manager cannot finish B's flow."""
    session = client.session
    authorize = oauth.authorize_url(connection_b.account, session=session)
    session.save()
    client.force_login(tenant_a.manager.user)  # login keeps the session's data, so the nonce is still there
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    response = client.get(
        reverse("crm-oauth-callback"),
        {"state": state, "admin_consent": "True", "tenant": "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"},
    )
    assert response.status_code == 404
    connection_b.refresh_from_db()
    assert connection_b.org_id == BOLT_ORG_ID
    assert connection_b.tenant_id == "11111111-2222-4333-8444-555555555555"


def test_operators_see_every_organizations_connections(client, operator, tenant_a, connection_b):
    mine = connection_for_account(account=dynamics(tenant_a.organization, "acme-dynamics"))
    client.force_login(operator)
    response = client.get(url("changelist"))
    assert {row.pk for row in response.context["cl"].result_list} == {mine.pk, connection_b.pk}
    assert client.get(url("connect", connection_b.pk)).status_code == 200
    assert client.get(url("webhook", connection_b.pk)).status_code == 200
