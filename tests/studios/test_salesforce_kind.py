"""The Salesforce kind of provider account: its fields, what it needs, and the hosts a manager may give it (the
login hosts and an org's My Domain; the instance only under *.my.salesforce.com)."""

from __future__ import annotations

import pytest

from django.core.exceptions import ValidationError

from studios.models import ProviderAccount
from studios.provider_kinds import CREDENTIALS_NEEDED, CRM_KINDS, DEFAULT_URLS, REQUIRED_FIELDS, ProviderKind


def salesforce(**values) -> ProviderAccount:
    return ProviderAccount(kind=ProviderKind.SALESFORCE, name="acme-sf", client_id="3MVG9x", **values)


def test_salesforce_is_a_crm_kind_with_its_login_host_by_default():
    assert ProviderKind.SALESFORCE == "salesforce"
    assert "salesforce" in CRM_KINDS
    assert DEFAULT_URLS["salesforce"] == {"accounts_url": "https://login.salesforce.com"}
    assert REQUIRED_FIELDS["salesforce"] == ("client_id", "accounts_url")
    assert CREDENTIALS_NEEDED["salesforce"] == ("client_secret", "refresh_token")
    account = salesforce()
    account.clean()
    assert account.accounts_url == "https://login.salesforce.com"
    assert account.api_domain == ""  # named by Salesforce at connect
    assert account.is_crm_connection
    assert not account.has_credentials


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("accounts_url", "https://test.salesforce.com"),
        ("accounts_url", "https://acme.my.salesforce.com"),
        ("accounts_url", "https://acme--uat.sandbox.my.salesforce.com/"),
        ("api_domain", "https://acme.my.salesforce.com"),
    ],
)
def test_a_manager_may_give_salesforces_own_hosts(field, url):
    account = salesforce(**{field: url})
    account.clean()
    assert getattr(account, field) == url.rstrip("/")
    assert account.endpoints_are_vendors_own()


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("accounts_url", "https://login.salesforce.com.evil.example"),
        ("accounts_url", "https://my.salesforce.com"),
        ("api_domain", "https://login.salesforce.com"),  # a login host is no instance
        ("api_domain", "https://acme.example"),
        ("accounts_url", "http://login.salesforce.com"),
    ],
)
def test_a_manager_may_not_give_another_host(field, url):
    with pytest.raises(ValidationError) as caught:
        salesforce(**{field: url}).clean()
    assert field in caught.value.message_dict


def test_an_operator_may_point_it_at_an_emulator(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    account = salesforce(
        accounts_url="http://127.0.0.1:8100", api_domain="http://localhost:8100", custom_endpoints=True
    )
    account.clean()
    assert account.api_domain == "http://localhost:8100"
    assert not account.endpoints_are_vendors_own()


def test_other_kinds_fields_stay_empty():
    with pytest.raises(ValidationError, match="Not used by a Salesforce account"):
        salesforce(api_base_url="https://api.twilio.com").clean()
    with pytest.raises(ValidationError, match="Required for a Salesforce account"):
        ProviderAccount(kind="salesforce", name="x").clean()
