"""Connect Zoho end to end: the admin's connect page, the sandbox's consent page, the callback, disconnect."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django.db import connection as db
from django.urls import reverse

from crm.providers.zoho import oauth
from crm.providers.zoho.conf import zoho_settings
from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.services import connection_for_account
from crm.providers.zoho.tokens import ZohoReauthRequired, access_token_get
from tests.crm.zoho.conftest import control
from tests.factories import ZohoCrmAccountFactory


@pytest.fixture
def zoho_org(sandbox):
    """A Zoho org in the sandbox with an OAuth client that accepts our redirect URI."""
    return control(sandbox, "POST", "zoho/orgs", {"name": "Acme Zoho", "redirect_uris": [oauth.redirect_uri()]})


@pytest.fixture
def unconnected(tenant_a, sandbox, zoho_org):
    account = ZohoCrmAccountFactory(
        organization=tenant_a.organization,
        name="acme-crm",
        is_default=False,
        client_id=zoho_org["client_id"],
        client_secret=zoho_org["client_secret"],
        refresh_token="",
        accounts_url=sandbox.url,
        api_domain="https://www.zohoapis.com",  # wrong: Zoho's answer will correct it
        custom_endpoints=True,  # an operator pointed it at the sandbox (a manager could not)
    )
    return connection_for_account(account=account)


@pytest.fixture
def manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


def start(client, connection_row, data_centre="account"):
    url = reverse("admin:zoho_zohoconnection_connect", args=[connection_row.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"data_centre": data_centre})
    assert response.status_code == 302
    return response.url


def consent(authorize_url, **choice):
    """What the person does on Zoho's page: approve as a user (or reject); where Zoho sends them back."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback(client, location):
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == oauth.redirect_uri()
    return client.get(reverse("zoho:oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})


def test_a_manager_connects_zoho_and_sees_the_org_and_user(manager_a, unconnected, zoho_org, sandbox, tenant_a):
    authorize = start(manager_a, unconnected)
    assert authorize.startswith(f"{sandbox.url}/oauth/v2/auth?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["access_type"] == ["offline"]
    assert query["redirect_uri"] == [oauth.redirect_uri()]
    admin_user = zoho_org["users"][0]
    response = callback(manager_a, consent(authorize, _sandbox_user=admin_user["id"]))
    assert response.status_code == 302
    assert response.url == reverse("admin:zoho_zohoconnection_change", args=[unconnected.pk])

    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.CONNECTED
    assert unconnected.zoho_org_id == zoho_org["org_id"]
    assert unconnected.zoho_user_email == admin_user["email"]
    assert unconnected.connected_by == tenant_a.manager.user.email
    assert unconnected.location == "us"
    account = unconnected.account
    account.refresh_from_db()
    assert account.api_domain == sandbox.url  # detected from Zoho's answer
    assert account.accounts_url == sandbox.url
    refresh = account.refresh_token.reveal()
    assert refresh in sandbox.state.accounts.refresh_tokens
    with db.cursor() as cursor:  # encrypted at rest
        cursor.execute("select refresh_token from studios_provideraccount where id = %s", [account.pk])
        assert refresh not in cursor.fetchone()[0]
    assert access_token_get(account=account)

    page = manager_a.get(reverse("admin:zoho_zohoconnection_change", args=[unconnected.pk]))
    body = page.content.decode()
    assert "Connected" in body
    assert zoho_org["org_id"] in body
    assert admin_user["email"] in body
    assert refresh not in body


def test_rejected_consent_shows_an_error(manager_a, unconnected):
    response = callback(manager_a, consent(start(manager_a, unconnected), _sandbox_deny="1"))
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.ERROR
    assert "access_denied" in unconnected.last_error


def test_a_callback_from_another_session_or_replayed_is_refused(manager_a, client, unconnected, zoho_org, tenant_b):
    location = consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"])
    from django.test import Client

    other = Client()
    other.force_login(tenant_b.manager.user)
    refused = callback(other, location)
    assert refused.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.NOT_CONNECTED
    assert callback(manager_a, location).status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.CONNECTED
    callback(manager_a, location)  # the same state again: single use
    messages = [str(m) for m in manager_a.get(reverse("admin:zoho_zohoconnection_changelist")).context["messages"]]
    assert any("start again" in message for message in messages)


def test_a_forged_state_is_refused(manager_a, unconnected):
    response = manager_a.get(reverse("zoho:oauth-callback"), {"state": "forged", "code": "x"})
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.NOT_CONNECTED


def test_an_untrusted_accounts_server_never_receives_the_code(manager_a, unconnected, zoho_org, sandbox):
    location = consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"])
    forged = location.replace(
        f"accounts-server={requests.utils.quote(sandbox.url, safe='')}", "accounts-server=https%3A%2F%2Fevil.example"
    )
    assert forged != location
    before = sandbox.state.counters["zoho_accounts.tokens.token"]
    callback(manager_a, forged)
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.ERROR
    assert "not a Zoho accounts server" in unconnected.last_error
    assert sandbox.state.counters["zoho_accounts.tokens.token"] == before


def test_a_code_exchanged_at_the_wrong_data_centre_is_an_error(
    manager_a, unconnected, zoho_org, sandbox, empty_sandbox, settings
):
    settings.ZOHO_ACCOUNTS_SERVERS = [*zoho_settings.ACCOUNTS_SERVERS, empty_sandbox.url]
    location = consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"])
    wrong = location.replace(
        requests.utils.quote(sandbox.url, safe=""), requests.utils.quote(empty_sandbox.url, safe="")
    )
    callback(manager_a, wrong)
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.ERROR
    assert "invalid_client" in unconnected.last_error


def test_disconnect_revokes_the_refresh_token_at_zoho(manager_a, unconnected, zoho_org, sandbox):
    callback(manager_a, consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"]))
    account = unconnected.account
    account.refresh_from_db()
    refresh = account.refresh_token.reveal()
    access_token_get(account=account)
    url = reverse("admin:zoho_zohoconnection_disconnect", args=[unconnected.pk])
    assert manager_a.get(url).status_code == 200
    response = manager_a.post(url)
    assert response.status_code == 302
    assert sandbox.state.accounts.refresh_tokens[refresh].revoked
    unconnected.refresh_from_db()
    account.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.NOT_CONNECTED
    assert unconnected.last_error == ""
    assert not account.refresh_token
    with pytest.raises(ZohoReauthRequired, match="not connected"):
        access_token_get(account=account)


def test_disconnect_when_zoho_is_down_still_forgets_the_token_and_says_so(manager_a, unconnected, zoho_org, sandbox):
    callback(manager_a, consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"]))
    control(sandbox, "POST", "faults", {"path": "^/oauth/v2/token/revoke", "status": 503})
    manager_a.post(reverse("admin:zoho_zohoconnection_disconnect", args=[unconnected.pk]))
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.NOT_CONNECTED
    assert "Connected Apps" in unconnected.last_error


def test_reconnecting_after_needs_reauth_replaces_the_refresh_token(manager_a, unconnected, zoho_org, sandbox):
    callback(manager_a, consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"]))
    account = unconnected.account
    account.refresh_from_db()
    old = account.refresh_token.reveal()
    sandbox.state.accounts.revoke_refresh_token(old)
    with pytest.raises(ZohoReauthRequired):
        access_token_get(account=account)
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.NEEDS_REAUTH
    callback(manager_a, consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"]))
    account.refresh_from_db()
    assert account.refresh_token.reveal() != old
    assert access_token_get(account=account)
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.CONNECTED


def test_the_one_oauth_callback_finishes_a_connect_too(manager_a, unconnected, zoho_org):
    """/crm/oauth/callback serves every CRM flow: a connect's state names the view that completes it."""
    location = consent(start(manager_a, unconnected), _sandbox_user=zoho_org["users"][0]["id"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    response = manager_a.get("/crm/oauth/callback", query)
    assert response.status_code == 302
    assert response.url == reverse("admin:zoho_zohoconnection_change", args=[unconnected.pk])
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.CONNECTED
    assert manager_a.get("/crm/oauth/callback", query).status_code == 302  # single use: refused, nothing changes
    unconnected.refresh_from_db()
    assert unconnected.state == ZohoConnection.State.CONNECTED


def test_the_one_oauth_callback_sends_a_stranger_with_a_connect_state_to_sign_in(client, unconnected):
    session = client.session
    authorize = oauth.connect_start(account=unconnected.account, session=session)
    session.save()
    response = client.get("/crm/oauth/callback", {"state": parse_qs(urlsplit(authorize).query)["state"][0]})
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_forged_state_at_the_one_callback_is_refused(client):
    response = client.get("/crm/oauth/callback", {"state": "forged", "code": "x"})
    assert response.status_code == 400
    assert b"invalid or has expired" in response.content
