"""Connect HubSpot end to end over HTTP: the admin's connect page, the emulator's consent page, the one CRM callback
(/crm/oauth/callback), what is stored (the portal, the user and their owner id, the refresh token encrypted), what
is refused (a denied consent, another browser, a replay, a portal another organization holds, another portal on a
connected account), both token answer shapes, disconnect, and which account holds a portal."""

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
from crm.providers.hubspot import oauth, services
from crm.providers.hubspot.conf import hubspot_settings
from crm.providers.hubspot.models import HubSpotConnection
from crm.providers.hubspot.services import connection_for_account
from studios.models import ProviderAccount


# --- helpers (the sign-in and admin tests use them too) -----------------------------------------------------------
def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.url}/_sandbox/hubspot/{path}", json=body, timeout=30)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


def new_portal(server: Any, name: str = "Acme Gyms", owners: int = 3) -> dict[str, Any]:
    """A portal in the emulator with `owners` users, each an owner of records."""
    return control(server, "POST", "portals", {"name": name, "owner_count": owners})


def new_app(server: Any, settings: Any) -> dict[str, Any]:
    """Leadline's public app in the emulator (accepting our callback URL), configured as the server's app."""
    app = control(server, "POST", "apps", {"redirect_uris": [oauth.redirect_uri()]})
    settings.HUBSPOT_CLIENT_ID = app["client_id"]
    settings.HUBSPOT_CLIENT_SECRET = app["client_secret"]
    settings.HUBSPOT_APP_ID = app["app_id"]
    return app


def hubspot_account(organization: Any, server: Any, name: str = "acme-hubspot", **values: Any) -> ProviderAccount:
    """A HubSpot account an operator pointed at the emulator (a manager could not name that host); the app is the
    server's (no client id of its own)."""
    fields = {
        "organization": organization,
        "name": name,
        "kind": "hubspot",
        "is_default": True,
        "accounts_url": server.url,
        "api_domain": server.url,
        "custom_endpoints": True,
        **values,
    }
    return ProviderAccount.objects.create(**fields)


def consent(authorize_url: str, **choice: Any) -> str:
    """What the person does on HubSpot's page: pick the portal and user (or cancel); where HubSpot sends them."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def as_user(portal: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The consent page's choice of the portal's `index`th user."""
    return {"_sandbox_portal": portal["portal_id"], "_sandbox_user": portal["owners"][index]["userId"]}


def callback(client: Client, location: str):
    """Follow HubSpot's redirect into the product: the one CRM callback, with the query HubSpot gave."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == oauth.redirect_uri()
    return client.get(reverse("crm-oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})


def grants(server: Any, portal: dict[str, Any]) -> list[Any]:
    """The emulator's installs (refresh grants) in the portal."""
    return [grant for grant in server.state.hubspot.grants.values() if grant.portal_id == portal["portal_id"]]


def url(name: str, *args: int) -> str:
    return reverse(f"admin:hubspot_hubspotconnection_{name}", args=args)


def start(client: Client, connection: HubSpotConnection) -> str:
    assert client.get(url("connect", connection.pk)).status_code == 200
    # A browser's POST carries its CSRF token; the connect form itself has no fields.
    response = client.post(url("connect", connection.pk), {"csrfmiddlewaretoken": "x"})
    assert response.status_code == 302, response.content[:500]
    return response.url


def connect(client: Client, connection: HubSpotConnection, portal: dict[str, Any], user: int = 0):
    return callback(client, consent(start(client, connection), **as_user(portal, user)))


# --- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_cache(db):
    """Access tokens, locks and budgets never leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def app(sandbox, settings):
    return new_app(sandbox, settings)


@pytest.fixture
def portal(sandbox, app):
    return new_portal(sandbox)


@pytest.fixture
def unconnected(tenant_a, sandbox, app) -> HubSpotConnection:
    return connection_for_account(account=hubspot_account(tenant_a.organization, sandbox))


@pytest.fixture
def manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def manager_b(tenant_b):
    other = Client()
    other.force_login(tenant_b.manager.user)
    return other


# --- connecting ---------------------------------------------------------------------------------------------------
def test_a_manager_connects_a_portal_and_sees_its_hub_and_owner(manager_a, unconnected, portal, sandbox, app):
    authorize = start(manager_a, unconnected)
    assert authorize.startswith(f"{sandbox.url}/hubspot/oauth/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["client_id"] == [app["client_id"]]
    assert query["redirect_uri"] == [oauth.redirect_uri()]
    assert query["scope"] == [" ".join(hubspot_settings.SCOPES.split())]
    assert "crm.objects.owners.read" in query["scope"][0].split()
    assert "optional_scope" not in query
    assert query["state"]

    user = portal["owners"][1]
    response = callback(manager_a, consent(authorize, **as_user(portal, 1)))
    assert response.status_code == 302
    assert response.url == url("change", unconnected.pk)

    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.hub_id == str(portal["portal_id"])
    assert unconnected.hub_domain == portal["domain"]
    assert unconnected.user_id == str(user["userId"])
    assert unconnected.owner_id == str(user["id"])  # the id records' hubspot_owner_id hold: members' ids
    assert unconnected.user_email == user["email"]
    assert unconnected.app_id == str(app["app_id"])
    assert "crm.objects.contacts.write" in unconnected.scopes.split()
    assert unconnected.connected_by == "manager@acme.test"
    assert unconnected.connected_at is not None
    assert unconnected.last_error == ""

    account = unconnected.account
    account.refresh_from_db()
    (grant,) = grants(sandbox, portal)
    assert account.refresh_token.reveal() == grant.token
    with db.cursor() as cursor:  # encrypted at rest
        cursor.execute("SELECT refresh_token FROM studios_provideraccount WHERE id = %s", [account.pk])
        assert grant.token not in cursor.fetchone()[0]

    page = manager_a.get(response.url)
    text = page.content.decode()
    assert f"connected to the HubSpot portal {portal['domain']} ({portal['portal_id']})" in text
    assert "Disconnect" in text


def test_the_connections_first_calls_use_the_exchanges_access_token(manager_a, unconnected, portal, sandbox):
    from crm.providers.hubspot.client import client_for

    connect(manager_a, unconnected, portal)
    issued = sandbox.state.counters[f"hubspot.tokens_issued:{portal['portal_id']}"]
    owners = client_for(ProviderAccount.objects.unscoped().get(pk=unconnected.account_id)).owners()
    assert {owner["id"] for owner in owners} == {owner["id"] for owner in portal["owners"]}
    # No refresh: the token broker started from the code exchange's token.
    assert sandbox.state.counters[f"hubspot.tokens_issued:{portal['portal_id']}"] == issued


def test_the_date_versioned_token_endpoint_answers_camel_case_and_is_understood(
    manager_a, unconnected, portal, settings
):
    settings.HUBSPOT_TOKEN_PATH = "/oauth/2026-03/token"
    response = connect(manager_a, unconnected, portal, user=2)
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.owner_id == str(portal["owners"][2]["id"])
    assert unconnected.account.refresh_token


def test_optional_scopes_are_asked_for_apart(unconnected):
    authorize = oauth.authorize_url(unconnected.account, session={}, options={"optional_scopes": "crm.lists.read"})
    query = parse_qs(urlsplit(authorize).query)
    assert query["optional_scope"] == ["crm.lists.read"]


def test_an_account_with_its_own_app_uses_it(tenant_a, sandbox, settings, portal):
    own = control(sandbox, "POST", "apps", {"redirect_uris": [oauth.redirect_uri()]})
    account = hubspot_account(
        tenant_a.organization, sandbox, client_id=own["client_id"], client_secret=own["client_secret"]
    )
    session: dict[str, Any] = {}
    authorize = oauth.authorize_url(account, session=session)
    assert parse_qs(urlsplit(authorize).query)["client_id"] == [own["client_id"]]
    location = consent(authorize, **as_user(portal))
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    identity = oauth.finish_connect(account, params=params, session=session, connected_by="ops@leadline.test")
    assert identity.org_id == str(portal["portal_id"])
    assert identity.user_id == str(portal["owners"][0]["id"])
    assert connection_for_account(account=account).app_id == str(own["app_id"])


def test_no_app_configured_is_said_before_leaving(unconnected, settings):
    settings.HUBSPOT_CLIENT_ID = ""
    settings.HUBSPOT_CLIENT_SECRET = ""
    with pytest.raises(CrmRejected) as refused:
        oauth.authorize_url(unconnected.account, session={})
    assert refused.value.code == "not_configured"


def test_a_denied_consent_stores_nothing_and_says_so(manager_a, unconnected, portal):
    response = callback(manager_a, consent(start(manager_a, unconnected), _sandbox_deny=1))
    assert response.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.ERROR
    assert "access_denied" in unconnected.last_error
    assert not unconnected.account.refresh_token


def test_a_replayed_callback_or_one_from_another_browser_is_refused(manager_a, unconnected, portal, tenant_a):
    location = consent(start(manager_a, unconnected), **as_user(portal))
    assert callback(manager_a, location).status_code == 302
    unconnected.refresh_from_db()
    first_token = unconnected.account.refresh_token.reveal()

    replay = callback(manager_a, location)  # the state's nonce is used up
    assert replay.status_code == 302
    messages = [str(m) for m in replay.wsgi_request._messages]
    assert any("start again" in m for m in messages)

    other_browser = Client()
    other_browser.force_login(tenant_a.manager.user)
    location = consent(start(manager_a, unconnected), **as_user(portal))
    refused = callback(other_browser, location)
    assert refused.status_code == 302
    unconnected.refresh_from_db()
    assert unconnected.account.refresh_token.reveal() == first_token


def test_a_portal_another_organization_holds_is_refused_and_the_new_token_revoked(
    manager_a, manager_b, unconnected, portal, sandbox, tenant_b
):
    connect(manager_a, unconnected, portal)
    theirs = connection_for_account(account=hubspot_account(tenant_b.organization, sandbox, name="bolt-hubspot"))

    response = connect(manager_b, theirs, portal, user=1)
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("already connected to another Leadline organization" in m for m in messages)
    theirs.refresh_from_db()
    assert theirs.state == HubSpotConnection.State.ERROR
    assert theirs.hub_id == ""
    assert not theirs.account.refresh_token
    alive = [grant for grant in grants(sandbox, portal) if grant.alive]
    assert len(alive) == 1  # B's install was revoked; A's stays
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.account.refresh_token.reveal() == alive[0].token


def test_reconnecting_to_another_portal_is_refused(manager_a, unconnected, portal, sandbox):
    connect(manager_a, unconnected, portal)
    other = new_portal(sandbox, "Other Gyms")
    response = connect(manager_a, unconnected, other)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any(f"connected to the HubSpot portal {portal['portal_id']}" in m for m in messages)
    unconnected.refresh_from_db()
    assert unconnected.hub_id == str(portal["portal_id"])
    assert not [grant for grant in grants(sandbox, other) if grant.alive]


def test_reconnecting_the_same_portal_replaces_the_token(manager_a, unconnected, portal, sandbox):
    connect(manager_a, unconnected, portal)
    connect(manager_a, unconnected, portal, user=1)
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.owner_id == str(portal["owners"][1]["id"])
    newest = max(grants(sandbox, portal), key=lambda grant: grant.created)
    assert unconnected.account.refresh_token.reveal() == newest.token


# --- disconnecting ------------------------------------------------------------------------------------------------
def test_disconnect_revokes_the_refresh_token_and_frees_the_portal(
    manager_a, manager_b, unconnected, portal, sandbox, tenant_b
):
    connect(manager_a, unconnected, portal)
    (grant,) = grants(sandbox, portal)
    page = manager_a.get(url("disconnect", unconnected.pk))
    assert page.status_code == 200
    response = manager_a.post(url("disconnect", unconnected.pk))
    assert response.status_code == 302
    assert not grant.alive
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.NOT_CONNECTED
    assert unconnected.last_error == ""
    assert not unconnected.account.refresh_token
    assert services.connection_for_hub(portal["portal_id"]) is None

    # The portal is free: another organization may connect it now.
    theirs = connection_for_account(account=hubspot_account(tenant_b.organization, sandbox, name="bolt-hubspot"))
    connect(manager_b, theirs, portal)
    theirs.refresh_from_db()
    assert theirs.state == HubSpotConnection.State.CONNECTED
    assert services.connection_for_hub(portal["portal_id"]) == theirs.account


def test_disconnect_when_hubspot_cannot_be_reached_still_forgets_the_token(manager_a, unconnected, portal, sandbox):
    connect(manager_a, unconnected, portal)
    account = ProviderAccount.objects.unscoped().get(pk=unconnected.account_id)
    ProviderAccount.objects.unscoped().filter(pk=account.pk).update(api_domain="http://127.0.0.1:9")
    account.refresh_from_db()
    disconnected = oauth.disconnect(account)
    assert disconnected.state == HubSpotConnection.State.NOT_CONNECTED
    assert "could not be reached" in disconnected.last_error
    account.refresh_from_db()
    assert not account.refresh_token


# --- who holds a portal -------------------------------------------------------------------------------------------
def test_connection_for_hub_names_the_one_active_holder(manager_a, unconnected, portal, tenant_a):
    assert services.connection_for_hub(portal["portal_id"]) is None
    connect(manager_a, unconnected, portal)
    assert services.connection_for_hub(portal["portal_id"]) == unconnected.account
    assert services.connection_for_hub(str(portal["portal_id"])) == unconnected.account
    assert services.connection_for_hub("999") is None
    assert services.connection_for_hub("not-a-hub") is None
    assert services.connection_for_hub("") is None
    tenant_a.organization.is_active = False
    tenant_a.organization.save()
    assert services.connection_for_hub(portal["portal_id"]) is None


def test_another_organizations_manager_cannot_finish_or_see_the_flow(manager_a, manager_b, unconnected, portal):
    location = consent(start(manager_a, unconnected), **as_user(portal))
    parts = urlsplit(location)
    response = manager_b.get(reverse("crm-oauth-callback"), {k: v[0] for k, v in parse_qs(parts.query).items()})
    assert response.status_code == 404
    assert manager_b.get(url("change", unconnected.pk)).status_code in (302, 404)
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.NOT_CONNECTED


def test_a_user_who_owns_nothing_is_connected_with_a_warning(manager_a, unconnected, portal, sandbox):
    location = consent(start(manager_a, unconnected), **as_user(portal, 2))
    emulated = sandbox.state.hubspot.portal(portal["portal_id"])
    emulated.owners[:] = [owner for owner in emulated.owners if owner["id"] != portal["owners"][2]["id"]]
    response = callback(manager_a, location)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("HubSpot has no owner for" in m for m in messages)
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.user_id == str(portal["owners"][2]["userId"])
    assert unconnected.owner_id == ""


def test_disconnect_never_sends_the_token_to_a_host_nobody_allowed(tenant_a, sandbox, app):
    account = hubspot_account(
        tenant_a.organization, sandbox, api_domain="https://not-hubspot.example", custom_endpoints=False
    )
    account.refresh_token = "na1-a-token"
    account.save()
    disconnected = oauth.disconnect(account)
    assert disconnected.state == HubSpotConnection.State.NOT_CONNECTED
    assert "not sent" in disconnected.last_error
    account.refresh_from_db()
    assert not account.refresh_token


def test_the_legacy_path_family_finds_the_owner_too(manager_a, unconnected, portal, settings):
    settings.HUBSPOT_API_VERSION = "v3"  # owners at /crm/v3/owners/{userId}?idProperty=userId
    connect(manager_a, unconnected, portal, user=1)
    unconnected.refresh_from_db()
    assert unconnected.state == HubSpotConnection.State.CONNECTED
    assert unconnected.owner_id == str(portal["owners"][1]["id"])


def test_check_asks_hubspot_who_the_connection_is(manager_a, unconnected, portal, sandbox):
    connect(manager_a, unconnected, portal, user=1)
    page = manager_a.get(url("change", unconnected.pk)).content.decode()
    assert url("check", unconnected.pk) in page
    response = manager_a.post(url("check", unconnected.pk))
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any(f"portal {portal['portal_id']}" in m and portal["owners"][1]["id"] in m for m in messages), messages

    control(sandbox, "POST", "tokens/revoke", {})  # every access token stops working, refresh tokens stay
    control(sandbox, "POST", "tokens/revoke", {"refresh_token": grants(sandbox, portal)[0].token})
    cache.clear()
    response = manager_a.post(url("check", unconnected.pk))
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("HubSpot did not answer as this connection" in m for m in messages), messages
