"""Provider-account URLs: a manager may only choose the vendor's own hosts; operators (the admin as a superuser, or the
tenants file) may name another host, and a private address only where OUTBOUND_ALLOW_PRIVATE_HOSTS allows it."""

from __future__ import annotations

import pytest

from django.core.exceptions import ValidationError
from django.urls import reverse

from studios.models import ProviderAccount
from tenants.apply import tenants_apply
from tenants.schema import TenantsFileError
from tests.studios.test_admin import twilio_data


def zoho_data(account: ProviderAccount, **overrides) -> dict:
    data = {
        "name": account.name,
        "kind": "zoho_crm",
        "is_default": "on" if account.is_default else "",
        "account_sid": "",
        "auth_token": "",
        "api_base_url": "",
        "client_id": account.client_id,
        "client_secret": "",
        "refresh_token": "",
        "accounts_url": account.accounts_url,
        "api_domain": account.api_domain,
    }
    return {**data, **overrides}


def change_url(account: ProviderAccount) -> str:
    return reverse("admin:studios_provideraccount_change", args=[account.pk])


def errors(response) -> dict:
    return response.context["adminform"].form.errors


@pytest.fixture
def as_manager_a(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    return client


@pytest.fixture
def as_operator(client, operator, tenant_a):
    client.force_login(operator)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254",  # the cloud metadata service
        "https://10.0.0.5",
        "https://127.0.0.1:8100",
        "https://attacker.example",
        "https://api.twilio.com?x=",  # a query string that swallows the vendor path
        "https://api.twilio.com/#",
        "https://me:pw@api.twilio.com",
        "https://api.twilio.com/2010-04-01",
    ],
)
def test_a_manager_cannot_point_twilio_anywhere_but_twilio(as_manager_a, tenant_a, url):
    account = tenant_a.twilio
    response = as_manager_a.post(change_url(account), twilio_data(account, api_base_url=url))
    assert response.status_code == 200
    assert "api_base_url" in errors(response)
    account.refresh_from_db()
    assert account.api_base_url == "https://api.twilio.com"


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("api_domain", "https://crm.attacker.example"),
        ("api_domain", "https://accounts.zoho.eu"),  # Zoho's, but an accounts server is no API domain
        ("accounts_url", "https://accounts.zoho.eu.attacker.example"),
        ("accounts_url", "http://accounts.zoho.eu"),
    ],
)
def test_a_manager_cannot_point_zoho_anywhere_but_zoho(as_manager_a, tenant_a, field, url):
    account = tenant_a.zoho
    before = (account.accounts_url, account.api_domain)
    response = as_manager_a.post(change_url(account), zoho_data(account, **{field: url}))
    assert response.status_code == 200
    assert field in errors(response)
    assert "only an operator" in str(errors(response)[field]) or "https" in str(errors(response)[field])
    account.refresh_from_db()
    assert (account.accounts_url, account.api_domain) == before


def test_a_manager_may_choose_another_zoho_data_centre(as_manager_a, tenant_a):
    account = tenant_a.zoho
    response = as_manager_a.post(
        change_url(account), zoho_data(account, accounts_url="accounts.zoho.in/", api_domain="https://www.zohoapis.in")
    )
    assert response.status_code == 302, errors(response)
    account.refresh_from_db()
    assert (account.accounts_url, account.api_domain) == ("https://accounts.zoho.in", "https://www.zohoapis.in")
    assert not account.custom_endpoints


def test_an_operator_may_point_an_account_at_an_emulator(as_operator, tenant_a, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    account = tenant_a.twilio
    data = twilio_data(
        account, api_base_url="https://twilio-emulator.example.org", organization=tenant_a.organization.pk
    )
    response = as_operator.post(change_url(account), data)
    assert response.status_code == 302, errors(response)
    account.refresh_from_db()
    assert account.api_base_url == "https://twilio-emulator.example.org"
    assert account.custom_endpoints

    # ... but not at an internal address while private hosts are off
    data["api_base_url"] = "https://10.1.2.3"
    response = as_operator.post(change_url(account), data)
    assert response.status_code == 200
    assert "private" in str(errors(response)["api_base_url"])


def test_a_manager_cannot_change_an_operator_set_url_to_anything_else(as_manager_a, tenant_a):
    """An operator pointed the account at an emulator; the manager may rename it, but any URL they type is
    checked against the vendor's own hosts (the operator's permission does not pass to the manager)."""
    account = tenant_a.twilio
    ProviderAccount.unscoped_objects.filter(pk=account.pk).update(
        api_base_url="https://twilio-emulator.example.org", custom_endpoints=True
    )
    account.refresh_from_db()

    renamed = as_manager_a.post(change_url(account), twilio_data(account, name="acme-twilio-2"))
    assert renamed.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.custom_endpoints) == ("acme-twilio-2", True)

    response = as_manager_a.post(change_url(account), twilio_data(account, api_base_url="https://evil.example"))
    assert response.status_code == 200
    assert "api_base_url" in errors(response)
    account.refresh_from_db()
    assert account.api_base_url == "https://twilio-emulator.example.org"


def test_the_model_refuses_a_private_address_even_for_an_operator_unless_allowed(tenant_a, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    account = tenant_a.twilio
    account.api_base_url = "http://127.0.0.1:8100"
    account.custom_endpoints = True
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert "api_base_url" in refused.value.message_dict
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    account.full_clean()
    assert account.api_base_url == "http://127.0.0.1:8100"


def document(url: str) -> dict:
    return {
        "organizations": [
            {
                "slug": "acme",
                "name": "Acme Fitness",
                "accounts": [
                    {"name": "acme-twilio", "kind": "twilio", "account_sid": "AC1", "api_base_url": url},
                ],
            }
        ]
    }


def test_the_tenants_file_may_set_other_hosts_but_private_ones_only_when_allowed(tenant_a, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    tenants_apply(raw=document("https://twilio-emulator.example.org"))
    account = ProviderAccount.unscoped_objects.get(organization=tenant_a.organization, name="acme-twilio")
    assert (account.api_base_url, account.custom_endpoints) == ("https://twilio-emulator.example.org", True)

    with pytest.raises(TenantsFileError) as refused:
        tenants_apply(raw=document("http://192.168.1.20:8100"))
    assert any("api_base_url" in error and "private" in error for error in refused.value.errors)

    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    tenants_apply(raw=document("http://192.168.1.20:8100"))
    account.refresh_from_db()
    assert account.api_base_url == "http://192.168.1.20:8100"

    tenants_apply(raw=document("https://api.twilio.com"))
    account.refresh_from_db()
    assert (account.api_base_url, account.custom_endpoints) == ("https://api.twilio.com", False)
