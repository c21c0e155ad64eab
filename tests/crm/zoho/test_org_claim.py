"""No tenant can claim another tenant's CRM org: codes are exchanged and identity read only at allowlisted hosts (or an
operator's emulator), a Zoho org id is held by one connected CRM account, the first keeps it, and a later claim is
refused, stores nothing and never locks the first tenant out of sign-in with Zoho."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from django.db import IntegrityError, transaction

from crm.providers.zoho import oauth
from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.provider import ZohoCrmProvider
from crm.providers.zoho.services import connection_for_account
from crm.records import Identity
from tests.crm.zoho.test_oauth import callback, consent, start
from tests.factories import ZohoCrmAccountFactory
from tests.log_events import logged_events


def identity(org_id: str, user_id: str = "1") -> Identity:
    return Identity(org_id=org_id, org_name="Acme Zoho", user_id=user_id)


def sign_in_organization(org_id: str):
    """The organization sign-in would find for a Zoho org (its connection's), or None."""
    connection = ZohoCrmProvider.connection_for_identity(identity=identity(org_id))
    return connection.organization if connection else None


@pytest.fixture
def zoho_org(sandbox):
    from tests.crm.zoho.conftest import control

    return control(sandbox, "POST", "zoho/orgs", {"name": "Acme Zoho", "redirect_uris": [oauth.redirect_uri()]})


@pytest.fixture
def a_holds_the_org(tenant_a, zoho_org):
    """Tenant A connected the sandbox's Zoho org first."""
    connection = connection_for_account(account=tenant_a.zoho)
    connection.state = ZohoConnection.State.CONNECTED
    connection.zoho_org_id = zoho_org["org_id"]
    connection.save()
    return connection


@pytest.fixture
def b_unconnected(tenant_b, sandbox, zoho_org):
    """Tenant B's CRM account, pointing at the same Zoho (the sandbox, set by an operator)."""
    account = ZohoCrmAccountFactory(
        organization=tenant_b.organization,
        name="bolt-crm",
        is_default=False,
        client_id=zoho_org["client_id"],
        client_secret=zoho_org["client_secret"],
        refresh_token="",
        accounts_url=sandbox.url,
        api_domain=sandbox.url,
        custom_endpoints=True,
    )
    return connection_for_account(account=account)


@pytest.fixture
def manager_b(client, tenant_b):
    client.force_login(tenant_b.manager.user)
    return client


def test_a_later_claim_of_a_connected_zoho_org_is_refused_and_stores_nothing(
    manager_b, b_unconnected, a_holds_the_org, zoho_org, tenant_a, caplog
):
    with caplog.at_level(logging.WARNING, logger="crm.providers.zoho.oauth"):
        response = callback(
            manager_b, consent(start(manager_b, b_unconnected), _sandbox_user=zoho_org["users"][0]["id"])
        )
    assert response.status_code == 302

    b_unconnected.refresh_from_db()
    b_unconnected.account.refresh_from_db()
    assert b_unconnected.state == ZohoConnection.State.ERROR
    assert "already connected to another Leadline organization" in b_unconnected.last_error
    assert b_unconnected.zoho_org_id == ""
    assert not b_unconnected.account.refresh_token  # the refused claim kept no credentials
    assert tenant_a.organization.name not in b_unconnected.last_error  # nothing about the other tenant is shown
    assert "zoho.connection.org_claim_refused" in logged_events(caplog.records)

    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("already connected to another Leadline organization" in m for m in messages)

    # The first tenant keeps the org, and its people still sign in to it.
    a_holds_the_org.refresh_from_db()
    assert (a_holds_the_org.state, a_holds_the_org.zoho_org_id) == ("connected", zoho_org["org_id"])
    assert sign_in_organization(zoho_org["org_id"]) == tenant_a.organization


def test_the_database_holds_one_claim_per_zoho_org(a_holds_the_org, tenant_b, zoho_org):
    other = connection_for_account(
        account=ZohoCrmAccountFactory(organization=tenant_b.organization, name="bolt-z", is_default=False)
    )
    other.zoho_org_id = zoho_org["org_id"]
    other.state = ZohoConnection.State.NEEDS_REAUTH
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()
    # A disconnected connection that once held the org claims nothing.
    other.state = ZohoConnection.State.NOT_CONNECTED
    other.save()


def test_a_claim_held_while_the_first_tenant_needs_to_reconnect_is_still_refused(
    manager_b, b_unconnected, a_holds_the_org, zoho_org
):
    a_holds_the_org.state = ZohoConnection.State.NEEDS_REAUTH
    a_holds_the_org.save()
    callback(manager_b, consent(start(manager_b, b_unconnected), _sandbox_user=zoho_org["users"][0]["id"]))
    b_unconnected.refresh_from_db()
    assert b_unconnected.state == ZohoConnection.State.ERROR
    assert b_unconnected.zoho_org_id == ""


def test_a_disconnected_claim_never_locks_the_connected_tenant_out(a_holds_the_org, tenant_a, tenant_b, zoho_org):
    """An old, disconnected row naming the same org (from before, or anyone's) is not a claim: sign-in resolves the
    org among connected accounts only."""
    stale = connection_for_account(
        account=ZohoCrmAccountFactory(organization=tenant_b.organization, name="bolt-z", is_default=False)
    )
    ZohoConnection.unscoped_objects.filter(pk=stale.pk).update(
        zoho_org_id=zoho_org["org_id"], state=ZohoConnection.State.NOT_CONNECTED
    )
    assert sign_in_organization(zoho_org["org_id"]) == tenant_a.organization


# --- exchange and identity only at allowlisted hosts --------------------------------------------------------------
class FakeZoho:
    """Stands in for the HTTP session of the connect flow: records where it was asked to go."""

    def __init__(self, token_answer: dict):
        self.token_answer = token_answer
        self.calls: list[str] = []

    def post(self, url, **kwargs):
        self.calls.append(url)
        return SimpleNamespace(status_code=200, json=lambda: self.token_answer)

    def get(self, url, **kwargs):
        self.calls.append(url)
        return SimpleNamespace(status_code=200, json=lambda: {"users": [{"id": "9"}], "org": [{"id": "777"}]})


def test_the_token_answers_api_domain_must_be_zoho_s(tenant_a, monkeypatch):
    """The accounts server is Zoho's own, but its answer names an API domain that is not: the identity is never
    read there and nothing is stored."""
    account = tenant_a.zoho  # accounts.zoho.eu / www.zohoapis.eu, set by the manager
    account.refresh_token = ""
    account.save()
    fake = FakeZoho({"access_token": "a", "refresh_token": "r", "api_domain": "https://crm.attacker.example"})
    monkeypatch.setattr(oauth, "http_session", lambda role="zoho-oauth": fake)
    with pytest.raises(oauth.ApplicationError, match="not a Zoho API domain"):
        oauth.connect_finish(account=account, code="c", accounts_server="https://accounts.zoho.eu")
    assert all("attacker" not in url for url in fake.calls)
    account.refresh_from_db()
    assert not account.refresh_token
    assert connection_for_account(account=account).zoho_org_id == ""


def test_a_managers_account_never_exchanges_a_code_outside_zoho(tenant_a, monkeypatch):
    """An account whose stored accounts server is not Zoho's (set before URLs were checked) is not trusted for the
    exchange unless an operator set it."""
    account = tenant_a.zoho
    type(account).unscoped_objects.filter(pk=account.pk).update(accounts_url="https://accounts.attacker.example")
    account.refresh_from_db()
    fake = FakeZoho({"access_token": "a", "refresh_token": "r", "api_domain": "https://www.zohoapis.eu"})
    monkeypatch.setattr(oauth, "http_session", lambda role="zoho-oauth": fake)
    with pytest.raises(oauth.ApplicationError, match="not a Zoho accounts server"):
        oauth.connect_finish(account=account, code="c", accounts_server="https://accounts.attacker.example")
    with pytest.raises(oauth.ApplicationError, match="not a Zoho accounts server"):
        oauth.connect_finish(account=account, code="c", accounts_server="")
    assert fake.calls == []


def test_a_token_answer_never_moves_a_managers_account_to_another_host(organization, sandbox, caplog):
    """The refresh answer's api_domain is used only if it is a Zoho API domain (or the operator's emulator)."""
    from crm.providers.zoho import tokens
    from tests.crm.zoho.conftest import crm_account

    account = crm_account(organization, sandbox, api_domain="https://www.zohoapis.eu")  # no operator: not trusted
    with caplog.at_level(logging.WARNING, logger="crm.providers.zoho.tokens"):
        token = tokens.access_token_info_get(account=account)
    assert token.api_domain == "https://www.zohoapis.eu"
    account.refresh_from_db()
    assert account.api_domain == "https://www.zohoapis.eu"
    assert "zoho.token.api_domain_refused" in logged_events(caplog.records)
