"""Sign in with Salesforce end to end: identity/'s CRM-agnostic views, the emulator's login host over real HTTP, the
widget's token; OpenID scopes only, nothing of the user's kept, refusals (unknown user, org not connected, a
replayed callback), and the demo's staff signing in as in `make run`."""

from __future__ import annotations

import io
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from django.core.management import call_command
from django.test import Client

from crm.providers.salesforce import oauth
from crm.providers.salesforce import sign_in as salesforce_sign_in
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import connection_for_account
from crm.records import Identity
from identity.models import WidgetToken
from sandbox import worlds
from studios.models import ProviderAccount
from studios.services import member_crm_user_set
from tenants import demo
from tests.crm import sign_in_support as support
from tests.crm.salesforce.test_connect import (
    callback,
    consent,
    emulated_org,
    new_org,
    salesforce_account,
)
from tests.crm.sign_in_support import clean_cache  # noqa: F401 (autouse)


@pytest.fixture
def salesforce(settings, sandbox, tenant_a):
    """Org "Acme Salesforce" connected to tenant A, whose staff member is the org's second user; Leadline's sign-in
    app is the org's connected app (the emulator ties an app to one org)."""
    org = new_org(sandbox, "Acme Salesforce")
    assert len(org["users"]) >= 2
    settings.SALESFORCE_SIGNIN_CLIENT_ID = org["client_id"]
    settings.SALESFORCE_SIGNIN_CLIENT_SECRET = org["client_secret"]
    settings.SALESFORCE_SIGNIN_LOGIN_URL = sandbox.url
    account = salesforce_account(tenant_a.organization, sandbox, org, api_domain=org["instance_url"])
    connection = connection_for_account(account=account)
    SalesforceConnection.unscoped_objects.filter(pk=connection.pk).update(
        state=SalesforceConnection.State.CONNECTED, sf_org_id=org["org_id"], org_name="Acme Salesforce"
    )
    admin, staff = org["users"][0], org["users"][1]
    member_crm_user_set(membership=tenant_a.staff, connection=account, crm_user_id=staff["id"])
    return SimpleNamespace(org=org, admin=admin, staff=staff, sandbox=sandbox, account=account, connection=connection)


def start(client: Client, mode: str | None = "widget") -> str:
    return support.start(client, "salesforce", mode)


def sign_in(client: Client, user_id: str, mode: str | None = "widget"):
    return support.done(client, "salesforce", callback(client, consent(start(client, mode), _sandbox_user=user_id)))


def test_widget_sign_in_asks_only_who_you_are_keeps_nothing_and_posts_a_token(salesforce, tenant_a):
    popup = Client()
    authorize = start(popup)
    assert authorize.startswith(f"{salesforce.sandbox.url}/services/oauth2/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["openid id"]  # no api, no refresh_token: nothing to keep
    assert query["client_id"] == [salesforce.org["client_id"]]
    assert query["code_challenge_method"] == ["S256"]

    done = callback(popup, consent(authorize, _sandbox_user=salesforce.staff["id"]))
    support.assert_widget_signed_in(popup, "salesforce", done, tenant_a.staff)

    org = emulated_org(salesforce.sandbox, salesforce.org)
    assert not [grant for grant in org.grants.values() if grant.user_id == salesforce.staff["id"]]
    sessions = [session for session in org.sessions.values() if session.user_id == salesforce.staff["id"]]
    assert sessions
    assert not any(session.alive for session in sessions)  # the sign-in's access token was revoked


def test_full_page_sign_in_ends_in_a_session_cookie(salesforce, tenant_a):
    browser = Client()
    response = callback(browser, consent(start(browser, mode=None), _sandbox_user=salesforce.staff["id"]))
    support.assert_full_page_signed_in(response, browser, tenant_a.staff)


def test_a_user_of_the_org_who_is_no_member_is_told_so(salesforce, tenant_a):
    body = support.assert_unknown_user(sign_in(Client(), salesforce.admin["id"]), salesforce.admin["email"])
    assert tenant_a.organization.name in body


def test_an_org_nobody_connected_signs_nobody_in(salesforce):
    SalesforceConnection.unscoped_objects.filter(pk=salesforce.connection.pk).update(
        state=SalesforceConnection.State.NOT_CONNECTED
    )
    support.assert_org_not_connected(sign_in(Client(), salesforce.staff["id"]))


def test_a_replayed_callback_is_refused(salesforce):
    popup = Client()
    support.assert_replay_refused(popup, consent(start(popup), _sandbox_user=salesforce.staff["id"]), callback)
    assert WidgetToken.objects.unscoped().count() == 0  # the first one's token is issued only on its done page


def test_denied_consent_is_refused_with_salesforces_words(salesforce):
    popup = Client()
    support.assert_denied(popup, callback(popup, consent(start(popup), _sandbox_deny="1")), "denied")


def test_sign_in_is_off_without_leadlines_app(settings):
    settings.SALESFORCE_SIGNIN_CLIENT_ID = ""
    support.assert_not_configured("salesforce")


def test_the_connection_holding_an_org_and_none_for_others(salesforce, tenant_b, sandbox):
    found = salesforce_sign_in.connection_for_identity(identity=Identity(org_id=salesforce.org["org_id"]))
    assert found == salesforce.account
    assert salesforce_sign_in.connection_for_identity(identity=Identity(org_id="00D000000000001AAA")) is None
    assert salesforce_sign_in.connection_for_identity(identity=Identity(org_id="not an id")) is None
    # A disconnected row of another organization naming the org holds nothing.
    other = salesforce_account(tenant_b.organization, sandbox, salesforce.org, name="b-salesforce")
    SalesforceConnection.unscoped_objects.create(
        organization=tenant_b.organization, account=other, state="not_connected", sf_org_id=salesforce.org["org_id"]
    )
    found = salesforce_sign_in.connection_for_identity(identity=Identity(org_id=salesforce.org["org_id"]))
    assert found == salesforce.account
    tenant_a_org = salesforce.account.organization
    tenant_a_org.is_active = False
    tenant_a_org.save(update_fields=["is_active"])
    assert salesforce_sign_in.connection_for_identity(identity=Identity(org_id=salesforce.org["org_id"])) is None


def test_the_demo_staff_sign_in_with_salesforce_as_in_make_run(settings, sandbox):
    """`make run`: the demo command records the sandbox's Salesforce org; its app takes our callback."""
    settings.SANDBOX_URL = sandbox.url
    settings.SALESFORCE_SIGNIN_CLIENT_ID = worlds.DEMO_SF_CLIENT_ID
    settings.SALESFORCE_SIGNIN_CLIENT_SECRET = worlds.DEMO_SF_CLIENT_SECRET
    settings.SALESFORCE_SIGNIN_LOGIN_URL = sandbox.url
    settings.SALESFORCE_SIGNIN_REDIRECT_URI = "http://127.0.0.1:8000/crm/oauth/callback"
    call_command("demo", "--allow-production", stdout=io.StringIO())
    casey = worlds.DEMO_SF_USERS[1]
    popup = Client()
    support.assert_demo_member_signed_in(popup, consent(start(popup), _sandbox_user=casey["id"]), casey["email"])
    # The demo's connection works against the sandbox as it is (its ready grant), as the mirror will use it.
    connection = ProviderAccount.objects.unscoped().get(name=demo.DEMO_SF_CONNECTION)
    identity = oauth.identity_fetch(connection)
    assert (identity.org_id, identity.user_id) == (worlds.DEMO_SF_ORG_ID, demo.DEMO_SF_MANAGER_ID)
