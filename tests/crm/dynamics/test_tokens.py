"""Entra tokens through msal against a scripted authority over HTTPS: one msal app (and token cache) per tenant,
the scope of the environment, the CA bundle setting, the refusals a person must fix typed apart from outages, and
the shared cool-down after the endpoint failed."""

from __future__ import annotations

import pytest

from crm.errors import CrmAuthError, CrmUnavailable
from crm.providers.dynamics import errors, tokens
from crm.providers.dynamics.errors import DataverseAuthError, DataverseUnavailable
from tests.crm.dynamics.client_support import (  # noqa: F401 (fixtures)
    OTHER_TENANT,
    TENANT,
    clean_state_fixture,
    dv_account_fixture,
    dv_cert_dir_fixture,
    fake_fixture,
)

pytestmark = pytest.mark.django_db


def test_a_token_comes_from_the_tenants_authority_for_the_environment(fake, dv_account):
    token = tokens.access_token_get(dv_account)
    assert (token.token, token.tenant_id, token.environment) == ("at-1", TENANT, fake.environment)
    assert token.expires_at > 0
    [asked] = fake.token_requests
    assert asked["tenant"] == TENANT
    assert asked["scope"] == f"{fake.environment}/.default"
    assert asked["client_id"] == "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
    assert asked["client_secret"] == "demo-dynamics-client-secret-not-secret"


def test_msal_answers_from_its_cache_until_the_token_ages(fake, dv_account):
    assert tokens.token_for(dv_account) == "at-1"
    assert tokens.token_for(dv_account.dynamics_connection) == "at-1"
    assert len(fake.token_requests) == 1


def test_each_tenant_has_its_own_app_and_tokens(fake, dv_account):
    first = tokens.token_for(dv_account)
    other = tokens.token_for(dv_account, tenant_id=OTHER_TENANT, environment=fake.environment)
    assert (first, other) == ("at-1", "at-2")
    assert [asked["tenant"] for asked in fake.token_requests] == [TENANT, OTHER_TENANT]
    assert tokens.token_for(dv_account, tenant_id=OTHER_TENANT, environment=fake.environment) == "at-2"
    assert len(tokens._apps) == 2


def test_the_connect_flow_names_tenant_and_environment_without_a_connection(fake, dv_account):
    dv_account.dynamics_connection.delete()
    account = type(dv_account).unscoped_objects.get(pk=dv_account.pk)
    with pytest.raises(DataverseAuthError, match="no Entra tenant"):
        tokens.token_for(account)
    assert tokens.token_for(account, tenant_id=TENANT, environment=fake.environment) == "at-1"


def test_an_invalidated_token_is_asked_for_again(fake, dv_account):
    token = tokens.access_token_get(dv_account)
    tokens.access_token_invalidate(token)
    assert tokens.token_for(dv_account) == "at-2"


def test_a_token_closer_to_expiry_than_the_margin_is_renewed(fake, dv_account, settings):
    fake.expires_in = 900
    assert tokens.token_for(dv_account) == "at-1"
    settings.DYNAMICS_TOKEN_REFRESH_MARGIN_SECONDS = 1000
    assert tokens.token_for(dv_account) == "at-2"


def test_a_tenant_that_never_consented_needs_consent(fake, dv_account):
    fake.token_answers.append(
        (
            401,
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000229: The client application is missing service principal in the "
                "tenant.",
                "error_codes": [7000229],
            },
        )
    )
    with pytest.raises(DataverseAuthError) as raised:
        tokens.token_for(dv_account)
    assert raised.value.code == "consent_required"
    assert "admin consent" in raised.value.message
    crm_error = errors.translate(raised.value)
    assert isinstance(crm_error, CrmAuthError)
    assert crm_error.code == "consent_required"


def test_a_wrong_secret_is_invalid_client(fake, dv_account):
    description = "AADSTS7000215: Invalid client secret provided."
    fake.token_answers.append(
        (401, {"error": "invalid_client", "error_description": description, "error_codes": [7000215]})
    )
    with pytest.raises(DataverseAuthError) as raised:
        tokens.token_for(dv_account)
    assert raised.value.code == "invalid_client"


def test_an_unknown_tenant_is_refused(fake, dv_account):
    fake.discovery_status = 400
    with pytest.raises(DataverseAuthError) as raised:
        tokens.token_for(dv_account)
    assert raised.value.code == "tenant_not_found"


def test_an_endpoint_outage_cools_every_worker_down(fake, dv_account):
    fake.token_answers.append((503, {"error": "temporarily_unavailable", "error_description": "AADSTS90033"}))
    with pytest.raises(DataverseUnavailable) as raised:
        tokens.token_for(dv_account)
    assert raised.value.retry_after
    assert raised.value.retry_after >= 1
    assert isinstance(errors.translate(raised.value), CrmUnavailable)
    asked = len(fake.token_requests)
    with pytest.raises(DataverseUnavailable, match="could not issue"):
        tokens.token_for(dv_account)  # the cool-down answers; Entra is not asked again
    assert len(fake.token_requests) == asked


def test_an_untrusted_certificate_is_refused(fake, dv_account, settings):
    settings.DYNAMICS_CA_BUNDLE = ""  # the system's CAs do not know the fake's self-signed certificate
    with pytest.raises(DataverseUnavailable, match="SSLError"):
        tokens.token_for(dv_account)


def test_no_app_configured(fake, dv_account, settings):
    settings.DYNAMICS_CLIENT_SECRET = ""
    with pytest.raises(DataverseAuthError, match="DYNAMICS_CLIENT_ID"):
        tokens.token_for(dv_account)


def test_a_missing_ca_bundle_falls_back_to_the_systems_cas(fake, dv_account, settings, tmp_path):
    settings.DYNAMICS_CA_BUNDLE = str(tmp_path / "absent.pem")
    with pytest.raises(DataverseUnavailable, match="SSLError"):  # a typed outage, not requests' OSError
        tokens.token_for(dv_account)
