"""Sign in with Microsoft end to end: identity/'s CRM-agnostic views, the emulator's Entra sign-in page and token
endpoint (msal's authorization code flow with PKCE and a nonce, over HTTPS), the widget's token; the ID token's
tenant and object id turned into the system user of the connected environment (asked with its application token),
nothing of the person's kept, refusals (no member, a disabled system user, a tenant not connected, a replayed or
expired callback, a cancelled sign-in, no app), organizations kept apart, and the demo's staff signing in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from django.core.cache import cache
from django.test import Client

from crm.providers.dynamics import sign_in as dynamics_sign_in
from crm.providers.dynamics.models import DynamicsConnection
from crm.providers.dynamics.services import connection_for_account
from crm.records import Identity
from identity.models import WidgetToken
from studios.services import member_crm_user_set
from tests.crm import sign_in_support as support
from tests.crm.dynamics.connect_support import CLIENT_ID, app_configure, callback, dynamics_account
from tests.crm.sign_in_support import clean_cache  # noqa: F401 (autouse)
from tests.identity.conftest import page_data

KIND = "dynamics"


@pytest.fixture(autouse=True)
def _app(dv_server, settings):
    app_configure(settings, dv_server)


def people(environment: Any) -> list[dict[str, Any]]:
    """The environment's system users who are people (not application users), in creation order."""
    rows = [row for row in environment.rows("systemuser") if not row.get("applicationid")]
    return sorted(rows, key=lambda row: (row["createdon"], row["systemuserid"]))


def connected(organization: Any, server: Any, environment: Any, name: str) -> Any:
    """An account of the organization connected to the environment, as a consent would have recorded it."""
    account = dynamics_account(organization, server, name=name)
    connection = connection_for_account(account=account)
    DynamicsConnection.unscoped_objects.filter(pk=connection.pk).update(
        state=DynamicsConnection.State.CONNECTED,
        tenant_id=environment.tenant_id,
        environment_url=environment.url,
        org_id=environment.organization_id,
        organization_name=environment.organization_name,
        application_user_id=environment.application_user(CLIENT_ID)["systemuserid"],
    )
    return account


@pytest.fixture
def harbor(dv_server, tenant_a):
    """Environment "acmefit" (its tenant consented, our application user in it) connected to tenant A, whose staff
    member is the environment's second person."""
    environment = dv_server.state.dynamics.create_environment("acmefit", organization_name="Acme Gyms", consent=True)
    account = connected(tenant_a.organization, dv_server, environment, "acme-dynamics")
    admin, staff, stranger = people(environment)[:3]
    member_crm_user_set(membership=tenant_a.staff, connection=account, crm_user_id=staff["systemuserid"])
    return SimpleNamespace(
        server=dv_server, environment=environment, account=account, admin=admin, staff=staff, stranger=stranger
    )


def start(client: Client, mode: str | None = "widget") -> str:
    return support.start(client, KIND, mode)


def sign_in_page(authorize_url: str, **choice: Any) -> str:
    """What the person does on Entra's sign-in page (`_sandbox_user`: sign in as them; `_sandbox_deny`: cancel);
    where Entra sends them."""
    answer = requests.get(authorize_url, params=choice, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text[:2000]
    return answer.headers["Location"]


def as_person(row: dict[str, Any]) -> dict[str, str]:
    return {"_sandbox_user": row["azureactivedirectoryobjectid"]}


def sign_in(client: Client, row: dict[str, Any], mode: str | None = "widget"):
    return support.done(client, KIND, callback(client, sign_in_page(start(client, mode), **as_person(row))))


def test_widget_sign_in_asks_only_who_you_are_keeps_nothing_and_posts_a_token(harbor, tenant_a):
    popup = Client()
    authorize = start(popup)
    parts = urlsplit(authorize)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{harbor.server.url}/entra/organizations/oauth2/v2.0/authorize"
    )
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert set(query["scope"].split()) == {"openid", "profile", "email", "offline_access"}  # no Dataverse scope
    assert query["code_challenge_method"] == "S256"  # msal's PKCE
    assert query["nonce"]
    flow_key = dynamics_sign_in._flow_key(query["state"])
    assert cache.get(flow_key)["code_verifier"]  # msal's flow stays on the server, under the state

    response = callback(popup, sign_in_page(authorize, **as_person(harbor.staff)))
    support.assert_widget_signed_in(popup, KIND, response, tenant_a.staff)
    assert cache.get(flow_key) is None  # used once, then gone
    harbor.account.refresh_from_db()
    assert not harbor.account.refresh_token  # nothing of the person's is kept


def test_full_page_sign_in_starts_a_session(harbor, tenant_a):
    browser = Client()
    response = callback(browser, sign_in_page(start(browser, mode=None), **as_person(harbor.staff)))
    support.assert_full_page_signed_in(response, browser, tenant_a.staff)


def test_a_person_of_the_environment_who_is_no_member_is_told_so(harbor):
    page = sign_in(Client(), harbor.stranger)
    support.assert_unknown_user(page, harbor.stranger["internalemailaddress"])


def test_a_disabled_system_user_is_refused(harbor):
    harbor.environment.update(
        "systemuser", harbor.staff["systemuserid"], {"isdisabled": True}, by=harbor.admin["systemuserid"]
    )
    page = sign_in(Client(), harbor.staff)
    data = page_data(page)
    assert (data["outcome"], data["reason"]) == ("refused", "crm_user_inactive")
    assert not WidgetToken.objects.unscoped().exists()


def test_a_person_of_a_tenant_nobody_connected_is_refused(harbor, dv_server):
    elsewhere = dv_server.state.dynamics.create_environment("elsewhere", organization_name="Elsewhere Gyms")
    support.assert_org_not_connected(sign_in(Client(), people(elsewhere)[0]))


def test_organizations_are_kept_apart(harbor, dv_server, tenant_a, tenant_b):
    """B's environment (another tenant) connected to B: its person signs in as B's member, never into A; A's
    person never into B."""
    bolt = dv_server.state.dynamics.create_environment("boltfit", organization_name="Bolt Gyms")
    bolt_account = connected(tenant_b.organization, dv_server, bolt, "bolt-dynamics")
    bolt_person = people(bolt)[1]
    member_crm_user_set(membership=tenant_b.staff, connection=bolt_account, crm_user_id=bolt_person["systemuserid"])
    # A's staff member's system user id, set on B's member too, changes nothing: the environment decides.
    popup = Client()
    response = callback(popup, sign_in_page(start(popup), **as_person(bolt_person)))
    support.assert_widget_signed_in(popup, KIND, response, tenant_b.staff)

    WidgetToken.objects.unscoped().all().delete()
    popup = Client()
    response = callback(popup, sign_in_page(start(popup), **as_person(harbor.staff)))
    support.assert_widget_signed_in(popup, KIND, response, tenant_a.staff)


def test_a_replayed_callback_is_refused(harbor):
    popup = Client()
    location = sign_in_page(start(popup), **as_person(harbor.staff))
    support.assert_replay_refused(popup, location, callback)


def test_a_callback_whose_flow_expired_is_refused(harbor):
    popup = Client()
    location = sign_in_page(start(popup), **as_person(harbor.staff))
    cache.clear()  # the server-side flow is gone (expired with its state)
    page = support.done(popup, KIND, callback(popup, location))
    assert page_data(page)["outcome"] == "refused"
    assert not WidgetToken.objects.unscoped().exists()


def test_a_cancelled_sign_in_is_refused_in_microsofts_words(harbor):
    popup = Client()
    response = callback(popup, sign_in_page(start(popup), _sandbox_deny="1"))
    support.assert_denied(popup, response, "declined")


def test_no_app_means_sign_in_is_not_configured(harbor, settings):
    settings.DYNAMICS_CLIENT_ID = ""
    settings.DYNAMICS_CLIENT_SECRET = ""
    support.assert_not_configured(KIND)


def test_connection_for_identity_names_the_environments_holder(harbor, tenant_b, dv_server):
    identity = Identity(org_id=harbor.environment.organization_id, user_id=harbor.staff["systemuserid"])
    assert dynamics_sign_in.connection_for_identity(identity=identity) == harbor.account
    assert dynamics_sign_in.connection_for_identity(None, identity) == harbor.account  # the provider may come first
    assert dynamics_sign_in.connection_for_identity(identity=Identity(org_id=harbor.environment.tenant_id)) is None
    DynamicsConnection.unscoped_objects.filter(account=harbor.account).update(state="not_connected")
    assert dynamics_sign_in.connection_for_identity(identity=identity) is None  # a disconnected row holds nothing
