"""Connect Dynamics 365 end to end over HTTP: the admin's connect page (the environment URL), the emulator's admin
consent page, the one CRM callback (/crm/oauth/callback), a client-credentials token of the consenting tenant from
the emulator's Entra (msal over HTTPS) and WhoAmI; what is stored (tenant, environment, organization id, our
application user, a webhook secret; no token); what is refused (a denied consent, no application user yet, another
browser, a replay, a tenant that never consented, an environment another organization holds, another environment
on a connected account); disconnect, and which account holds an environment."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django.test import Client
from django.urls import reverse

from crm.errors import CrmAuthError
from crm.providers.dynamics import oauth, services
from crm.providers.dynamics.models import DynamicsConnection
from tests.crm.dynamics.connect_support import (
    CLIENT_ID,
    app_configure,
    application_user_add,
    callback,
    confirm,
    consent,
    new_environment,
    sign_in_page,
    start,
    tenant_admin,
    unconnected,
    url,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _app(dv_server, settings):
    app_configure(settings, dv_server)


@pytest.fixture
def manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def manager_b(tenant_b):
    other = Client()
    other.force_login(tenant_b.manager.user)
    return other


@pytest.fixture
def environment(dv_server):
    return new_environment(dv_server, "acmefit", organization_name="Acme Gyms")


@pytest.fixture
def connection_a(tenant_a, dv_server):
    return unconnected(tenant_a.organization, dv_server)


def connect(client: Client, connection: DynamicsConnection, server, environment, *, app_user: bool = True):
    """The whole connect: the consent URL, an administrator's consent, the application user, the callback, the
    sign-in that confirms the tenant, the callback again."""
    admin = tenant_admin(server, environment)
    location = consent(start(client, connection, environment.url), _sandbox_admin=admin.object_id)
    if app_user and environment.application_user(CLIENT_ID) is None:
        application_user_add(server, environment)
    return confirm(client, callback(client, location), admin)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.wsgi_request._messages]


# --- connecting -------------------------------------------------------------------------------------------------
def test_a_manager_connects_an_environment_after_admin_consent(manager_a, connection_a, dv_server, environment):
    consent_url = start(manager_a, connection_a, environment.url)
    parts = urlsplit(consent_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{dv_server.url}/entra/organizations/v2.0/adminconsent"
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["scope"] == f"{environment.url}/.default"
    assert query["redirect_uri"] == oauth.redirect_uri()

    admin = tenant_admin(dv_server, environment)
    location = consent(consent_url, _sandbox_admin=admin.object_id)
    assert dv_server.state.dynamics.consented(environment.tenant_id, CLIENT_ID)
    app_user = application_user_add(dv_server, environment)
    consented = callback(manager_a, location)
    # Entra's redirect is not signed: the person signs in at the consenting tenant before it is used.
    sign_in = urlsplit(consented.url)
    assert f"{sign_in.scheme}://{sign_in.netloc}{sign_in.path}" == (
        f"{dv_server.url}/entra/{environment.tenant_id}/oauth2/v2.0/authorize"
    )
    assert parse_qs(sign_in.query)["client_id"] == [CLIENT_ID]
    connection_a.refresh_from_db()
    assert connection_a.tenant_id == ""  # nothing stored before the confirmation
    response = confirm(manager_a, consented, admin)

    assert response.status_code == 302
    assert response.url == url("change", connection_a.pk)
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.CONNECTED
    assert connection_a.tenant_id == environment.tenant_id
    assert connection_a.environment_url == environment.url
    assert connection_a.org_id == environment.organization_id
    assert connection_a.application_user_id == app_user
    assert connection_a.connected_by == connection_a.organization.memberships.get(role="manager").user.email
    assert len(connection_a.webhook_secret.reveal()) >= 40  # the webhook page shows it
    assert connection_a.account.api_domain == dv_server.url  # the origin; the environment's path is the row's
    assert not connection_a.account.refresh_token  # nothing to keep: tokens come from the app's credentials
    assert services.connection_for_environment(environment.organization_id) == connection_a.account
    assert any("is connected to the Dynamics 365 environment" in text for text in messages_of(response))


def test_reconnecting_keeps_the_webhook_secret(manager_a, connection_a, dv_server, environment):
    connect(manager_a, connection_a, dv_server, environment)
    connection_a.refresh_from_db()
    secret = connection_a.webhook_secret.reveal()
    connect(manager_a, connection_a, dv_server, environment)
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.CONNECTED
    assert connection_a.webhook_secret.reveal() == secret  # the registration in Dataverse keeps working


def test_a_denied_consent_is_shown_and_nothing_is_stored(manager_a, connection_a, dv_server, environment):
    location = consent(start(manager_a, connection_a, environment.url), _sandbox_deny="1")
    response = callback(manager_a, location)
    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.ERROR
    assert "Consent was not granted" in connection_a.last_error
    assert (connection_a.tenant_id, connection_a.org_id) == ("", "")


def test_without_the_application_user_the_error_names_the_step(manager_a, connection_a, dv_server, environment):
    response = connect(manager_a, connection_a, dv_server, environment, app_user=False)
    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.ERROR
    assert "application user" in connection_a.last_error
    assert "docs/crm/dynamics.md" in connection_a.last_error
    assert connection_a.org_id == ""

    application_user_add(dv_server, environment)  # the administrator adds it, then connects again
    connect(manager_a, connection_a, dv_server, environment)
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.CONNECTED


def test_a_callback_in_another_browser_or_replayed_is_refused(
    manager_a, connection_a, dv_server, environment, tenant_a
):
    admin = tenant_admin(dv_server, environment)
    location = consent(start(manager_a, connection_a, environment.url), _sandbox_admin=admin.object_id)
    application_user_add(dv_server, environment)
    other_browser = Client()
    other_browser.force_login(tenant_a.manager.user)  # the same person, but not the browser that started it
    assert callback(other_browser, location).url == url("change", connection_a.pk)  # refused, shown there
    connection_a.refresh_from_db()
    assert connection_a.state != DynamicsConnection.State.CONNECTED

    confirm(manager_a, callback(manager_a, location), admin)  # the right browser: connects
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.CONNECTED
    connection_a.state = DynamicsConnection.State.ERROR
    connection_a.save(update_fields=["state"])
    callback(manager_a, location)  # the same callback again: its state is used up
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.ERROR


def test_a_tenant_that_never_consented_is_refused(manager_a, connection_a, dv_server, environment):
    """A callback naming a tenant whose administrator did not consent (e.g. a tenant id typed into the URL) gets no
    token: nothing is connected."""
    stranger = new_environment(dv_server, "strangerfit", organization_name="Stranger Gyms")  # consented? no
    location = consent(
        start(manager_a, connection_a, environment.url), _sandbox_admin=tenant_admin(dv_server, environment).object_id
    )
    forged = location.replace(environment.tenant_id, stranger.tenant_id)
    response = callback(manager_a, forged)
    # The confirming sign-in is at the named tenant: nobody of the manager's own tenant can sign in there.
    assert f"/entra/{stranger.tenant_id}/oauth2/v2.0/authorize?" in response.url
    page = requests.get(
        response.url, params={"_sandbox_user": tenant_admin(dv_server, environment).object_id}, timeout=10
    )
    assert page.status_code == 200  # Entra's sign-in page again: no redirect back
    connection_a.refresh_from_db()
    assert connection_a.state != DynamicsConnection.State.CONNECTED
    assert connection_a.org_id == ""


def test_another_customers_consented_environment_cannot_be_claimed_by_typing_its_tenant(
    manager_a, connection_a, dv_server, environment
):
    """Another customer's tenant consented and added Leadline's application user, but no organization holds its
    environment: a manager who types its tenant into the consent redirect gets no further than Entra's sign-in at
    that tenant, and an ID token of their own tenant is refused."""
    victim = new_environment(dv_server, "victimfit", organization_name="Victim Gyms", consent=True)
    admin = tenant_admin(dv_server, environment)
    location = consent(start(manager_a, connection_a, victim.url), _sandbox_admin=admin.object_id)
    forged = location.replace(environment.tenant_id, victim.tenant_id)
    response = callback(manager_a, forged)
    assert f"/entra/{victim.tenant_id}/oauth2/v2.0/authorize?" in response.url
    # Their own tenant's sign-in, carried back with the forged flow's state: the ID token names another tenant.
    own = response.url.replace(f"/entra/{victim.tenant_id}/", f"/entra/{environment.tenant_id}/")
    callback(manager_a, sign_in_page(own, _sandbox_user=admin.object_id))
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.ERROR
    assert "another Microsoft Entra tenant" in connection_a.last_error
    assert (connection_a.tenant_id, connection_a.org_id) == ("", "")
    assert services.connection_for_environment(victim.organization_id) is None


def test_an_environment_another_organization_holds_is_refused(
    manager_a, manager_b, connection_a, tenant_b, dv_server, environment
):
    connect(manager_a, connection_a, dv_server, environment)
    connection_b = unconnected(tenant_b.organization, dv_server, name="bolt-dynamics")
    connect(manager_b, connection_b, dv_server, environment)
    connection_b.refresh_from_db()
    assert connection_b.state == DynamicsConnection.State.ERROR
    assert "already connected to another Leadline organization" in connection_b.last_error
    assert connection_b.org_id == ""
    assert services.connection_for_environment(environment.organization_id) == connection_a.account


def test_a_connected_account_is_not_moved_to_another_environment(manager_a, connection_a, dv_server, environment):
    connect(manager_a, connection_a, dv_server, environment)
    other = new_environment(dv_server, "otherfit", organization_name="Other Gyms")
    connect(manager_a, connection_a, dv_server, other)
    connection_a.refresh_from_db()
    assert connection_a.org_id == environment.organization_id
    assert connection_a.environment_url == environment.url
    assert "nothing was changed" in connection_a.last_error


def test_the_finish_refuses_a_state_for_another_account(manager_a, tenant_a, dv_server, environment):
    mine = unconnected(tenant_a.organization, dv_server)
    second = unconnected(tenant_a.organization, dv_server, name="acme-dynamics-2", is_default=False)
    consent_url = oauth.authorize_url(
        mine.account, session=manager_a.session, options={"environment_url": environment.url}
    )
    state = parse_qs(urlsplit(consent_url).query)["state"][0]
    with pytest.raises(CrmAuthError) as refused:
        oauth.connect_finish(
            second.account,
            params={"state": state, "admin_consent": "True", "tenant": environment.tenant_id},
            session=manager_a.session,
        )
    assert refused.value.code == "bad_state"


def test_disconnect_stops_using_the_environment_and_says_how_to_end_access(
    manager_a, connection_a, dv_server, environment
):
    connect(manager_a, connection_a, dv_server, environment)
    page = manager_a.get(url("disconnect", connection_a.pk))
    assert page.status_code == 200
    response = manager_a.post(url("disconnect", connection_a.pk))
    assert response.status_code == 302
    connection_a.refresh_from_db()
    assert connection_a.state == DynamicsConnection.State.NOT_CONNECTED
    assert "application user" in connection_a.last_error
    assert services.connection_for_environment(environment.organization_id) is None  # a disconnected row holds nothing


def test_the_callback_without_a_state_goes_back_with_an_error(manager_a):
    response = manager_a.get(reverse("dynamics:oauth-callback"), {"state": "forged"})
    assert response.status_code == 302
    assert response.url == reverse("admin:dynamics_dynamicsconnection_changelist")


def test_check_asks_the_environment_as_our_application_user(manager_a, connection_a, dv_server, environment):
    connect(manager_a, connection_a, dv_server, environment)
    response = manager_a.post(url("check", connection_a.pk))
    assert response.status_code == 302
    text = " ".join(messages_of(response))
    assert "Dynamics 365 answered" in text
    assert environment.organization_id in text
    assert environment.application_user(CLIENT_ID)["systemuserid"] in text


def test_the_packages_own_callback_url_refuses_another_organizations_account(
    manager_a, manager_b, tenant_b, dv_server, environment
):
    """/dynamics/oauth/callback/ (an app registered with that URI) answers as the shared callback: a genuine state
    for B's account, carried in A's session, finds nothing."""
    connection_b = unconnected(tenant_b.organization, dv_server, name="bolt-dynamics")
    session = manager_a.session
    consent_url = oauth.authorize_url(
        connection_b.account, session=session, options={"environment_url": environment.url}
    )
    session.save()
    state = parse_qs(urlsplit(consent_url).query)["state"][0]
    response = manager_a.get(
        reverse("dynamics:oauth-callback"), {"state": state, "admin_consent": "True", "tenant": environment.tenant_id}
    )
    assert response.status_code == 404
    connection_b.refresh_from_db()
    assert connection_b.org_id == ""
