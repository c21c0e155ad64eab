"""The Zoho connections admin keeps every manager inside their own organization (as tests/studios/test_admin.py
does for the tenancy model): lists, object pages, connect and disconnect, add-form choices, the callback."""

import pytest

from django.contrib.messages import get_messages
from django.urls import reverse

from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.services import connection_for_account

OBJECT_PAGES = ["change", "history", "delete"]
CUSTOM_PAGES = ["connect", "disconnect"]


@pytest.fixture
def connection_a(tenant_a):
    return connection_for_account(account=tenant_a.zoho)


@pytest.fixture
def connection_b(tenant_b):
    return connection_for_account(account=tenant_b.zoho)


@pytest.fixture
def as_manager_a(client, tenant_a, connection_a, connection_b):
    client.force_login(tenant_a.manager.user)
    return client


def url(view, *args):
    return reverse(f"admin:zoho_zohoconnection_{view}", args=args)


def assert_not_found(response):
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert any("Perhaps it was deleted?" in str(message) for message in get_messages(response.wsgi_request))


def assert_shows_nothing_of(tenant, response):
    body = response.content.decode()
    for marker in (tenant.organization.name, tenant.zoho.name, tenant.manager.user.email):
        assert marker not in body


def test_the_changelist_shows_only_the_managers_connections(as_manager_a, tenant_b, connection_a):
    response = as_manager_a.get(url("changelist"))
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [connection_a.pk]
    assert_shows_nothing_of(tenant_b, response)
    searched = as_manager_a.get(url("changelist"), {"q": tenant_b.zoho.name})
    assert searched.context["cl"].result_count == 0


@pytest.mark.parametrize("view", OBJECT_PAGES)
def test_another_organizations_connection_pages_are_not_found(as_manager_a, tenant_b, connection_b, view):
    response = as_manager_a.get(url(view, connection_b.pk))
    assert_not_found(response)
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("view", OBJECT_PAGES)
def test_the_managers_own_connection_pages_open(as_manager_a, tenant_b, connection_a, view):
    response = as_manager_a.get(url(view, connection_a.pk))
    assert response.status_code == 200
    assert_shows_nothing_of(tenant_b, response)


@pytest.mark.parametrize("view", CUSTOM_PAGES)
def test_connect_and_disconnect_of_another_organization_are_not_found(as_manager_a, tenant_b, connection_b, view):
    assert as_manager_a.get(url(view, connection_b.pk)).status_code == 404
    response = as_manager_a.post(url(view, connection_b.pk), {"data_centre": "eu"})
    assert response.status_code == 404
    tenant_b.zoho.refresh_from_db()
    assert tenant_b.zoho.refresh_token  # nothing was revoked or changed
    connection_b.refresh_from_db()
    assert connection_b.state == ZohoConnection.State.CONNECTED


@pytest.mark.parametrize("view", CUSTOM_PAGES)
def test_connect_and_disconnect_pages_open_for_the_managers_own(as_manager_a, connection_a, tenant_b, view):
    response = as_manager_a.get(url(view, connection_a.pk))
    assert response.status_code == 200
    assert_shows_nothing_of(tenant_b, response)


def test_connect_redirects_to_the_chosen_data_centre(as_manager_a, connection_a):
    response = as_manager_a.post(url("connect", connection_a.pk), {"data_centre": "eu"})
    assert response.status_code == 302
    assert response.url.startswith("https://accounts.zoho.eu/oauth/v2/auth?")
    detect = as_manager_a.post(url("connect", connection_a.pk), {"data_centre": "account"})
    assert detect.url.startswith(f"{connection_a.account.accounts_url}/oauth/v2/auth?")


def test_the_add_form_offers_only_the_managers_unconnected_zoho_accounts(as_manager_a, tenant_a, tenant_b):
    from tests.factories import ZohoCrmAccountFactory

    fresh_a = ZohoCrmAccountFactory(organization=tenant_a.organization, name="acme-second", is_default=False)
    ZohoCrmAccountFactory(organization=tenant_b.organization, name="bolt-second", is_default=False)
    response = as_manager_a.get(url("add"))
    assert response.status_code == 200
    choices = list(response.context["adminform"].form.fields["account"].queryset)
    assert choices == [fresh_a]
    assert_shows_nothing_of(tenant_b, response)


def test_adding_a_connection_for_another_organizations_account_is_refused(as_manager_a, tenant_a, tenant_b):
    from tests.factories import ZohoCrmAccountFactory

    foreign = ZohoCrmAccountFactory(organization=tenant_b.organization, name="bolt-second", is_default=False)
    response = as_manager_a.post(
        url("add"), {"organization": tenant_b.organization.pk, "account": foreign.pk, "credit_limit": ""}
    )
    assert response.status_code == 200  # the form is shown again with an error
    assert not ZohoConnection.objects.unscoped().filter(account=foreign).exists()


def test_adding_a_connection_for_the_managers_account(as_manager_a, tenant_a):
    from tests.factories import ZohoCrmAccountFactory

    fresh = ZohoCrmAccountFactory(organization=tenant_a.organization, name="acme-second", is_default=False)
    response = as_manager_a.post(url("add"), {"account": fresh.pk, "credit_limit": "100000"})
    assert response.status_code == 302
    created = ZohoConnection.objects.unscoped().get(account=fresh)
    assert created.organization == tenant_a.organization
    assert created.credit_limit == 100_000


def test_staff_and_strangers_get_no_zoho_admin(client, tenant_a, connection_a):
    client.force_login(tenant_a.staff.user)
    for target in (url("changelist"), url("change", connection_a.pk), url("connect", connection_a.pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


def test_the_callback_for_another_organizations_account_is_not_found(client, tenant_a, tenant_b, connection_b):
    """Even with a genuine state for B's account carried in A's own session, A's manager cannot finish B's flow."""
    from crm.providers.zoho import oauth

    session = client.session
    state = oauth.connect_start(account=tenant_b.zoho, session=session)
    session.save()
    client.force_login(tenant_a.manager.user)  # login keeps the session's data, so the nonce is still there
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(state).query)
    response = client.get(reverse("zoho:oauth-callback"), {"state": query["state"][0], "code": "x"})
    assert response.status_code == 404
    connection_b.refresh_from_db()
    assert connection_b.state == ZohoConnection.State.CONNECTED


def test_operators_see_every_organizations_connections(client, operator, connection_a, connection_b):
    client.force_login(operator)
    response = client.get(url("changelist"))
    assert {row.pk for row in response.context["cl"].result_list} == {connection_a.pk, connection_b.pk}
    assert client.get(url("connect", connection_b.pk)).status_code == 200
