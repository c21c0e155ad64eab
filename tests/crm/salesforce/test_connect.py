"""Connect Salesforce end to end over HTTP: the admin's connect page, the emulator's consent page, the one CRM
callback (/crm/oauth/callback), what is stored, what is refused (another browser, a replay, a foreign instance, an
org another organization holds), rotation after connecting, disconnect, and who may see which connection."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django.core.cache import cache
from django.db import connection as db
from django.test import Client
from django.urls import reverse

from crm.errors import CrmRejected
from crm.providers.salesforce import oauth, oauth_flow, tokens
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import connection_for_account
from studios.models import ProviderAccount


# --- helpers (the sign-in tests use them too) ---------------------------------------------------------------------
def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/salesforce/{path}", json=body, timeout=30)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


def new_org(server: Any, name: str = "Acme Salesforce", **options: Any) -> dict[str, Any]:
    """An org in the emulator whose connected app accepts our callback URL."""
    return control(server, "POST", "orgs", {"name": name, "redirect_uris": [oauth_flow.redirect_uri()], **options})


def salesforce_account(organization: Any, server: Any, org: dict[str, Any], **values: Any) -> ProviderAccount:
    """A Salesforce account an operator pointed at the emulator (a manager could not name that host)."""
    fields = {
        "organization": organization,
        "name": "acme-salesforce",
        "kind": "salesforce",
        "is_default": True,
        "client_id": org["client_id"],
        "client_secret": org["client_secret"],
        "accounts_url": server.url,
        "custom_endpoints": True,
        **values,
    }
    return ProviderAccount.objects.create(**fields)


def consent(authorize_url: str, **choice: str) -> str:
    """What the person does on Salesforce's page: approve as a user (or deny); where Salesforce sends them back."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback(client: Client, location: str):
    """Follow Salesforce's redirect into the product: the one CRM callback, with the query Salesforce gave."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == oauth_flow.redirect_uri()
    return client.get(reverse("crm-oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})


def emulated_org(server: Any, org: dict[str, Any]):
    return server.state.salesforce.orgs[org["org_id"]]


def grant_of(server: Any, org: dict[str, Any], refresh_token: str) -> Any:
    """The emulator's grant whose current (or retired) refresh token this is."""
    for grant in emulated_org(server, org).grants.values():
        if refresh_token in (grant.refresh_token, *grant.retired):
            return grant
    raise AssertionError("no such grant")


def grants_since(server: Any, org: dict[str, Any], before: set[str]) -> list[Any]:
    """The grants made after `before` (the ids of the org's grants then): those a connect or sign-in made."""
    return [grant for grant_id, grant in emulated_org(server, org).grants.items() if grant_id not in before]


def grant_ids(server: Any, org: dict[str, Any]) -> set[str]:
    return set(emulated_org(server, org).grants)


# --- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Access tokens, locks and budgets never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sf_org(sandbox):
    return new_org(sandbox)


@pytest.fixture
def unconnected(tenant_a, sandbox, sf_org) -> SalesforceConnection:
    return connection_for_account(account=salesforce_account(tenant_a.organization, sandbox, sf_org))


@pytest.fixture
def manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def manager_b(tenant_b):
    other = Client()
    other.force_login(tenant_b.manager.user)
    return other


def start(client: Client, connection: SalesforceConnection, login: str = "account") -> str:
    url = reverse("admin:salesforce_salesforceconnection_connect", args=[connection.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"login": login})
    assert response.status_code == 302, response.content[:500]
    return response.url


def change_page(connection: SalesforceConnection) -> str:
    return reverse("admin:salesforce_salesforceconnection_change", args=[connection.pk])


def connect(client: Client, connection: SalesforceConnection, org: dict[str, Any], user: int = 0):
    return callback(client, consent(start(client, connection), _sandbox_user=org["users"][user]["id"]))


# --- connecting ---------------------------------------------------------------------------------------------------
def test_a_manager_connects_salesforce_and_sees_the_org_user_and_instance(
    manager_a, unconnected, sf_org, sandbox, tenant_a
):
    authorize = start(manager_a, unconnected)
    assert authorize.startswith(f"{sandbox.url}/services/oauth2/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["api refresh_token id openid"]
    assert query["redirect_uri"] == [oauth_flow.redirect_uri()]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # PKCE: the verifier is derived from the state, never stored
    admin_user = sf_org["users"][0]

    response = callback(manager_a, consent(authorize, _sandbox_user=admin_user["id"]))
    assert response.status_code == 302
    assert response.url == change_page(unconnected)

    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED
    assert unconnected.sf_org_id == sf_org["org_id"]
    assert len(unconnected.sf_org_id) == 18
    assert unconnected.user_id == admin_user["id"]
    assert unconnected.user_email == admin_user["email"]
    assert unconnected.identity_url.endswith(f"/id/{sf_org['org_id']}/{admin_user['id']}")
    assert set(unconnected.scopes.split()) >= {"api", "refresh_token", "id", "openid"}
    assert unconnected.is_sandbox is False
    assert unconnected.connected_by == tenant_a.manager.user.email
    account = unconnected.account
    account.refresh_from_db()
    assert account.accounts_url == sandbox.url
    assert account.api_domain == sf_org["instance_url"]  # from the token answer
    refresh = account.refresh_token.reveal()
    assert grant_of(sandbox, sf_org, refresh).alive
    assert grant_of(sandbox, sf_org, refresh).user_id == admin_user["id"]
    with db.cursor() as cursor:  # encrypted at rest
        cursor.execute("select refresh_token from studios_provideraccount where id = %s", [account.pk])
        assert refresh not in cursor.fetchone()[0]

    # The token broker works with what was stored, and the connection answers as the org and user.
    identity = oauth.identity_fetch(account)
    assert (identity.org_id, identity.user_id, identity.user_email) == (
        sf_org["org_id"],
        admin_user["id"],
        admin_user["email"],
    )

    page = manager_a.get(change_page(unconnected)).content.decode()
    assert "Connected" in page
    assert sf_org["org_id"] in page
    assert admin_user["email"] in page
    assert sf_org["instance_url"] in page
    assert refresh not in page


def test_denied_consent_shows_an_error_and_stores_nothing(manager_a, unconnected):
    response = callback(manager_a, consent(start(manager_a, unconnected), _sandbox_deny="1"))
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.ERROR
    assert "access_denied" in unconnected.last_error
    unconnected.account.refresh_from_db()
    assert not unconnected.account.refresh_token


def test_a_callback_works_once_and_only_in_the_browser_that_started_it(
    manager_a, manager_b, unconnected, sf_org, sandbox
):
    location = consent(start(manager_a, unconnected), _sandbox_user=sf_org["users"][0]["id"])
    before = grant_ids(sandbox, sf_org)

    # Another organization's manager cannot finish it: the account is not theirs (404, nothing exchanged).
    assert callback(manager_b, location).status_code == 404
    # An operator's browser that did not start it: the state's nonce is not in that session.
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.NOT_CONNECTED

    assert callback(manager_a, location).status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED
    assert len(grants_since(sandbox, sf_org, before)) == 1

    replayed = callback(manager_a, location)  # the same state again: its nonce is used up
    assert replayed.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED  # the replay changed nothing
    assert len(grants_since(sandbox, sf_org, before)) == 1  # the code worked once
    messages = [str(message) for message in replayed.wsgi_request._messages]
    assert any("another browser session" in message for message in messages), messages


def test_a_callback_started_in_another_session_of_the_same_organization_is_refused(
    manager_a, tenant_a, unconnected, sf_org
):
    location = consent(start(manager_a, unconnected), _sandbox_user=sf_org["users"][0]["id"])
    colleague = Client()
    colleague.force_login(tenant_a.manager.user)  # the same person, another browser: no nonce there
    response = callback(colleague, location)
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.NOT_CONNECTED
    assert not ProviderAccount.objects.unscoped().get(pk=unconnected.account_id).refresh_token


def test_a_token_answer_naming_a_foreign_instance_is_refused_and_revoked(manager_a, tenant_b, sandbox):
    # The org's instance is http://localhost:<port>, not the login host the operator set (127.0.0.1): a foreign
    # host as far as this account knows. Nothing is stored, the new grant is revoked.
    org = new_org(sandbox, "Elsewhere Inc.", instance_host="localhost")
    assert urlsplit(org["instance_url"]).hostname == "localhost"
    connection = connection_for_account(account=salesforce_account(tenant_b.organization, sandbox, org))
    manager_b = Client()
    manager_b.force_login(tenant_b.manager.user)
    before = grant_ids(sandbox, org)
    response = connect(manager_b, connection, org)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.state == SalesforceConnection.State.ERROR
    assert "not a Salesforce instance" in connection.last_error
    assert not connection.sf_org_id
    account = ProviderAccount.objects.unscoped().get(pk=connection.account_id)
    assert not account.refresh_token
    assert not account.api_domain
    made = grants_since(sandbox, org, before)
    assert len(made) == 1
    assert not made[0].alive  # revoked: nothing of it outlives the refusal


def test_an_instance_an_operator_set_on_the_account_is_accepted(tenant_b, sandbox):
    org = new_org(sandbox, "Elsewhere Inc.", instance_host="localhost")
    account = salesforce_account(tenant_b.organization, sandbox, org, api_domain=org["instance_url"])
    connection = connection_for_account(account=account)
    manager_b = Client()
    manager_b.force_login(tenant_b.manager.user)
    connect(manager_b, connection, org)
    connection.refresh_from_db()
    assert connection.state == SalesforceConnection.State.CONNECTED, connection.last_error
    account.refresh_from_db()
    assert account.api_domain == org["instance_url"]


def test_an_org_another_organization_holds_is_refused_with_a_message(
    manager_a, manager_b, unconnected, tenant_b, sf_org, sandbox
):
    connect(manager_a, unconnected, sf_org)
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED

    theirs = connection_for_account(account=salesforce_account(tenant_b.organization, sandbox, sf_org, name="b-sf"))
    before = grant_ids(sandbox, sf_org)
    response = connect(manager_b, theirs, sf_org, user=1)
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.state == SalesforceConnection.State.ERROR
    assert "already connected to another Leadline organization" in theirs.last_error
    assert sf_org["org_id"] in theirs.last_error
    assert not theirs.sf_org_id
    assert not ProviderAccount.objects.unscoped().get(pk=theirs.account_id).refresh_token
    assert [grant.alive for grant in grants_since(sandbox, sf_org, before)] == [False]  # theirs was revoked
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED  # the holder keeps it

    # Once the holder disconnects, the org is free.
    manager_a.post(reverse("admin:salesforce_salesforceconnection_disconnect", args=[unconnected.pk]))
    connect(manager_b, theirs, sf_org, user=1)
    theirs.refresh_from_db()
    assert theirs.state == SalesforceConnection.State.CONNECTED
    assert theirs.sf_org_id == sf_org["org_id"]


def test_rotation_after_connecting_keeps_the_newest_refresh_token(manager_a, tenant_a, sandbox):
    org = new_org(sandbox, "Rotating Co.", rotation=True)
    account = salesforce_account(tenant_a.organization, sandbox, org, name="rotating")
    connection = connection_for_account(account=account)
    connect(manager_a, connection, org)
    account.refresh_from_db()
    first = account.refresh_token.reveal()

    token = tokens.access_token_get(account=account)
    tokens.access_token_invalidate(account=account, token=token.token)
    tokens.access_token_get(account=account)  # a refresh: Salesforce rotates the refresh token

    account.refresh_from_db()
    second = account.refresh_token.reveal()
    assert second
    assert second != first
    assert grant_of(sandbox, org, second) is grant_of(sandbox, org, first)  # one grant, its token rotated
    assert grant_of(sandbox, org, second).refresh_token == second
    assert oauth.identity_fetch(account).org_id == org["org_id"]
    connection.refresh_from_db()
    assert connection.state == SalesforceConnection.State.CONNECTED


def test_disconnect_revokes_the_grant_and_forgets_the_token(manager_a, unconnected, sf_org, sandbox):
    connect(manager_a, unconnected, sf_org)
    unconnected.account.refresh_from_db()
    grant = grant_of(sandbox, sf_org, unconnected.account.refresh_token.reveal())
    assert grant.alive
    url = reverse("admin:salesforce_salesforceconnection_disconnect", args=[unconnected.pk])
    assert manager_a.get(url).status_code == 200
    response = manager_a.post(url)
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.NOT_CONNECTED
    assert unconnected.last_error == ""
    assert not ProviderAccount.objects.unscoped().get(pk=unconnected.account_id).refresh_token
    assert not grant.alive


def test_the_sandbox_login_host_and_a_login_host_nobody_set_up(tenant_a, sandbox, sf_org):
    account = salesforce_account(tenant_a.organization, sandbox, sf_org)
    url = oauth.authorize_url(account, session={}, options={"login": "sandbox"})
    assert url.startswith("https://test.salesforce.com/services/oauth2/authorize?")

    my_domain = ProviderAccount(
        organization=tenant_a.organization,
        kind="salesforce",
        client_id="3MVG9x",
        client_secret="secret",
        accounts_url="https://acme.my.salesforce.com",
    )
    assert oauth.authorize_url(my_domain, session={}).startswith("https://acme.my.salesforce.com/services/oauth2/")

    # A host a manager could not have stored (the account was not set up by an operator) is never used.
    rogue = ProviderAccount(
        organization=tenant_a.organization,
        kind="salesforce",
        client_id="3MVG9x",
        client_secret="secret",
        accounts_url="https://login.salesforce.com.evil.example",
    )
    with pytest.raises(CrmRejected, match="not a Salesforce login host"):
        oauth.authorize_url(rogue, session={})
    with pytest.raises(CrmRejected, match="consumer key"):
        oauth.authorize_url(ProviderAccount(organization=tenant_a.organization, kind="salesforce"), session={})


# --- tenancy of the admin page ------------------------------------------------------------------------------------
def test_another_organizations_manager_sees_no_connection_and_cannot_act_on_it(
    manager_a, manager_b, unconnected, sf_org, tenant_b, sandbox
):
    connect(manager_a, unconnected, sf_org)
    theirs = connection_for_account(
        account=salesforce_account(tenant_b.organization, sandbox, new_org(sandbox, "B"), name="bolt-salesforce")
    )

    listing = manager_b.get(reverse("admin:salesforce_salesforceconnection_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert sf_org["org_id"] not in body
    assert "acme-salesforce" not in body
    assert reverse("admin:salesforce_salesforceconnection_change", args=[theirs.pk]) in body

    for name in ("change", "connect", "disconnect"):
        url = reverse(f"admin:salesforce_salesforceconnection_{name}", args=[unconnected.pk])
        answer = manager_b.get(url)
        assert answer.status_code in (302, 404), (name, answer.status_code)
        assert sf_org["org_id"] not in answer.content.decode()
    assert (
        manager_b.post(reverse("admin:salesforce_salesforceconnection_disconnect", args=[unconnected.pk])).status_code
        == 404
    )
    assert (
        manager_b.post(reverse("admin:salesforce_salesforceconnection_check", args=[unconnected.pk])).status_code == 404
    )
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.CONNECTED


def test_staff_cannot_open_the_connection_page(client, tenant_a, unconnected):
    client.force_login(tenant_a.staff.user)
    answer = client.get(reverse("admin:salesforce_salesforceconnection_connect", args=[unconnected.pk]))
    assert answer.status_code in (302, 403, 404)


def test_the_check_button_asks_salesforce_who_the_connection_is(manager_a, unconnected, sf_org):
    connect(manager_a, unconnected, sf_org)
    response = manager_a.post(
        reverse("admin:salesforce_salesforceconnection_check", args=[unconnected.pk]), follow=True
    )
    assert f"org {sf_org['org_id']}" in response.content.decode()


def test_the_page_shows_the_allocation_and_a_block(manager_a, unconnected):
    from datetime import timedelta

    from django.utils import timezone

    SalesforceConnection.unscoped_objects.filter(pk=unconnected.pk).update(
        api_usage=12_345,
        api_limit=100_000,
        api_usage_at=timezone.now(),
        limit_blocked_until=timezone.now() + timedelta(hours=1),
    )
    page = manager_a.get(change_page(unconnected)).content.decode()
    assert "12,345 of 100,000 (12%)" in page
    listing = manager_a.get(reverse("admin:salesforce_salesforceconnection_changelist")).content.decode()
    assert "12,345 of 100,000" in listing


def test_an_account_once_connected_to_one_org_is_not_reconnected_to_another(manager_a, unconnected, sf_org, sandbox):
    connect(manager_a, unconnected, sf_org)
    manager_a.post(reverse("admin:salesforce_salesforceconnection_disconnect", args=[unconnected.pk]))
    # Someone gives the account another org's app and signs in there.
    other = new_org(sandbox, "Other Org")
    ProviderAccount.objects.unscoped().filter(pk=unconnected.account_id).update(
        client_id=other["client_id"], client_secret=other["client_secret"]
    )
    before = grant_ids(sandbox, other)
    connect(manager_a, unconnected, other)
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.ERROR
    assert f"was connected to the Salesforce org {sf_org['org_id']}" in unconnected.last_error
    assert unconnected.sf_org_id == sf_org["org_id"]
    assert not ProviderAccount.objects.unscoped().get(pk=unconnected.account_id).refresh_token
    assert [grant.alive for grant in grants_since(sandbox, other, before)] == [False]


def test_a_login_host_that_fails_at_the_exchange_is_shown_and_nothing_is_kept(manager_a, unconnected, sf_org, sandbox):
    location = consent(start(manager_a, unconnected), _sandbox_user=sf_org["users"][0]["id"])
    fault = {"path": "^/services/oauth2/token", "method": "POST", "status": 503, "times": 1}
    assert requests.post(f"{sandbox.url}/_sandbox/faults", json=fault, timeout=10).status_code < 400
    response = callback(manager_a, location)
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == SalesforceConnection.State.ERROR
    assert "HTTP 503" in unconnected.last_error
    assert "try again" in unconnected.last_error
    assert not ProviderAccount.objects.unscoped().get(pk=unconnected.account_id).refresh_token
