"""The Salesforce connection admin keeps organizations apart (as every tenant-owned admin page does): the add form's
choices, adding for another organization's account, staff, the callback with a genuine state for another
organization's account, operators."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from django.urls import reverse

from crm.providers.salesforce import oauth
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import connection_for_account
from studios.models import ProviderAccount

pytestmark = pytest.mark.django_db


def url(name: str, *args: int) -> str:
    return reverse(f"admin:salesforce_salesforceconnection_{name}", args=args)


def salesforce(organization, name: str, **values) -> ProviderAccount:
    return ProviderAccount.objects.create(
        organization=organization,
        name=name,
        kind="salesforce",
        client_id="3MVG9x",
        client_secret="secret",
        accounts_url="https://login.salesforce.com",
        **values,
    )


@pytest.fixture
def as_manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def connection_b(tenant_b):
    account = salesforce(tenant_b.organization, "bolt-sf", refresh_token="5Aep861bolt")
    connection = connection_for_account(account=account)
    SalesforceConnection.unscoped_objects.filter(pk=connection.pk).update(sf_org_id="00D000000000002AAA")
    return connection


def test_the_add_form_offers_only_the_managers_unconnected_salesforce_accounts(as_manager_a, tenant_a, tenant_b):
    fresh_a = salesforce(tenant_a.organization, "acme-sf")
    connection_for_account(account=salesforce(tenant_a.organization, "acme-sf-connected"))
    salesforce(tenant_b.organization, "bolt-sf")
    response = as_manager_a.get(url("add"))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields["account"].queryset) == [fresh_a]
    assert "bolt-sf" not in response.content.decode()


def test_adding_a_connection_for_another_organizations_account_is_refused(as_manager_a, tenant_b):
    foreign = salesforce(tenant_b.organization, "bolt-sf")
    response = as_manager_a.post(url("add"), {"organization": tenant_b.organization.pk, "account": foreign.pk})
    assert response.status_code == 200  # the form again, with an error
    assert not SalesforceConnection.objects.unscoped().filter(account=foreign).exists()


def test_adding_a_connection_for_the_managers_account(as_manager_a, tenant_a):
    fresh = salesforce(tenant_a.organization, "acme-sf")
    response = as_manager_a.post(url("add"), {"account": fresh.pk})
    assert response.status_code == 302
    created = SalesforceConnection.objects.unscoped().get(account=fresh)
    assert created.organization == tenant_a.organization
    assert created.state == SalesforceConnection.State.NOT_CONNECTED


def test_staff_get_no_salesforce_admin(client, tenant_a, connection_b):
    mine = connection_for_account(account=salesforce(tenant_a.organization, "acme-sf"))
    client.force_login(tenant_a.staff.user)
    for target in (url("changelist"), url("change", mine.pk), url("connect", mine.pk), url("disconnect", mine.pk)):
        response = client.get(target)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


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
    assert connection_b.state == SalesforceConnection.State.CONNECTED
    assert connection_b.account.refresh_token.reveal() == "5Aep861bolt"


def test_operators_see_every_organizations_connections(client, operator, tenant_a, connection_b):
    mine = connection_for_account(account=salesforce(tenant_a.organization, "acme-sf"))
    client.force_login(operator)
    response = client.get(url("changelist"))
    assert {row.pk for row in response.context["cl"].result_list} == {mine.pk, connection_b.pk}
    assert client.get(url("connect", connection_b.pk)).status_code == 200
    connect = client.post(url("connect", connection_b.pk), {"login": "sandbox"})
    assert connect.status_code == 302
    assert connect.url.startswith("https://test.salesforce.com/services/oauth2/authorize?")
