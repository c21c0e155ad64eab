"""The emulator's Entra ID: msal's own client obtains tokens from it unmodified (over the HTTPS listener, with the
sandbox's certificate), the token's audience is the environment URL, and consent, secrets, tenants and sign-in
answer as Entra does."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
import requests

from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID, DEMO_DV_CLIENT_SECRET
from tests.sandbox.dynamics.dv_support import TIMEOUT, new_env, ok, token_for


@pytest.fixture(autouse=True)
def _only_the_sandbox_certificate(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override a session's verify (psf/requests#3829), so msal's verify= would be
    # ignored on machines that set it; the product's client runs where it is not set.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def msal_app(server, tenant_id, *, secret=DEMO_DV_CLIENT_SECRET):
    return msal.ConfidentialClientApplication(
        DEMO_DV_CLIENT_ID,
        client_credential=secret,
        authority=f"{server.tls_url}/{tenant_id}",
        instance_discovery=False,
        verify=server.ca_path,
        timeout=TIMEOUT,
    )


def test_msal_client_credentials_token_works_on_the_environment(dv_server, env):
    result = msal_app(dv_server, env.environment.tenant_id).acquire_token_for_client(scopes=[f"{env.url}/.default"])
    assert result.get("token_type") == "Bearer", result
    who = ok(env.api("GET", "WhoAmI", token=result["access_token"]))
    assert who["UserId"] == env.application_user_id
    assert who["OrganizationId"] == env.environment.organization_id

    keys = ok(requests.get(f"{dv_server.tls_url}/common/discovery/keys", verify=dv_server.ca_path, timeout=TIMEOUT))
    key = jwt.PyJWK(keys["keys"][0])
    claims = jwt.decode(result["access_token"], key.key, algorithms=["RS256"], audience=env.url)
    assert claims["tid"] == env.environment.tenant_id
    assert claims["appid"] == DEMO_DV_CLIENT_ID


def test_msal_is_refused_without_consent(dv_server):
    unconsented = new_env(dv_server, "fabrikam", consent=False)
    result = msal_app(dv_server, unconsented.environment.tenant_id).acquire_token_for_client(
        scopes=[f"{unconsented.url}/.default"]
    )
    assert result["error"] == "invalid_client"
    assert 7000229 in result["error_codes"]
    assert "missing service principal" in result["error_description"]


def test_wrong_secret_unknown_tenant_and_foreign_environment(dv_server, env):
    wrong = token_for(dv_server, env.environment.tenant_id, env.url, secret="nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_codes"] == [7000215]

    unknown = token_for(dv_server, "11111111-2222-4333-8444-555555555555", env.url)
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]

    other = new_env(dv_server, "northwind")
    foreign = token_for(dv_server, env.environment.tenant_id, other.url)
    assert foreign.status_code == 400
    assert foreign.json()["error_codes"] == [500011]


def test_token_of_another_environment_or_expired_is_refused(dv_server, env):
    other = new_env(dv_server, "northwind")
    refused = env.api("GET", "WhoAmI", token=other.token)
    assert refused.status_code == 401
    assert "resource_id=" in refused.headers["WWW-Authenticate"]
    assert env.api("GET", "WhoAmI", token="not-a-token").status_code == 401

    dv_server.state.clock.advance(dv_server.state.config.dv_access_token_ttl_seconds + 1)
    assert env.api("GET", "WhoAmI").status_code == 401


def test_admin_consent_page_grants_for_the_admins_tenant(dv_server):
    target = new_env(dv_server, "adventure", consent=False)
    tenant = dv_server.state.dynamics.tenant(target.environment.tenant_id)
    admin = tenant.admins()[0]
    person = next(user for user in tenant.users.values() if not user.admin)
    params = {
        "client_id": DEMO_DV_CLIENT_ID,
        "scope": f"{target.url}/.default",
        "state": "s-1",
        "redirect_uri": "http://127.0.0.1:8000/crm/dynamics/consent/",
    }
    consent_url = f"{dv_server.url}/entra/organizations/v2.0/adminconsent"

    page = requests.get(consent_url, params=params, timeout=TIMEOUT)
    assert page.status_code == 200
    assert f'value="{admin.object_id}"' in page.text
    assert f'value="{person.object_id}"' not in page.text  # only admins can accept

    refused = requests.post(
        consent_url, params=params, data={"person": person.object_id}, timeout=TIMEOUT, allow_redirects=False
    )
    assert refused.status_code == 400
    assert "AADSTS90094" in refused.text

    denied = requests.post(
        consent_url, params=params, data={"decision": "cancel"}, timeout=TIMEOUT, allow_redirects=False
    )
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]

    granted = requests.post(
        consent_url, params=params, data={"person": admin.object_id}, timeout=TIMEOUT, allow_redirects=False
    )
    answer = parse_qs(urlsplit(granted.headers["Location"]).query)
    assert answer["admin_consent"] == ["True"]
    assert answer["tenant"] == [tenant.tenant_id]
    assert answer["state"] == ["s-1"]
    assert answer["scope"] == [f"{target.url}/.default"]

    # Consent gives a token; without an application user in the environment Dataverse still refuses the caller.
    token = ok(token_for(dv_server, tenant.tenant_id, target.url))["access_token"]
    refused_user = target.api("GET", "WhoAmI", token=token)
    assert refused_user.status_code == 403
    assert refused_user.json()["error"]["code"] == "0x80072560"
    dv_server.state.dynamics.add_application_user(target.environment, DEMO_DV_CLIENT_ID)
    assert target.api("GET", "WhoAmI", token=token).status_code == 200


def test_msal_sign_in_with_the_authorization_code_flow(dv_server, env):
    app = msal_app(dv_server, "organizations")
    redirect_uri = "http://127.0.0.1:8000/accounts/microsoft/callback/"
    flow = app.initiate_auth_code_flow(["User.Read"], redirect_uri=redirect_uri)
    person = env.users[1]
    page = requests.get(flow["auth_uri"], timeout=TIMEOUT)
    assert page.status_code == 200
    assert person["azureactivedirectoryobjectid"] in page.text
    answer = requests.get(
        flow["auth_uri"],
        params={"_sandbox_user": person["azureactivedirectoryobjectid"]},
        timeout=TIMEOUT,
        allow_redirects=False,
    )
    location = answer.headers["Location"]
    assert location.startswith(redirect_uri)
    auth_response = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, auth_response)
    claims = result["id_token_claims"]
    assert claims["oid"] == person["azureactivedirectoryobjectid"]
    assert claims["tid"] == env.environment.tenant_id
    assert claims["aud"] == DEMO_DV_CLIENT_ID  # msal itself checked the nonce (it sends its hash)
    assert claims["name"] == person["fullname"]

    # The code works once.
    again = app.acquire_token_by_auth_code_flow(flow, auth_response)
    assert "error" in again


def test_discovery_on_the_plain_host_points_browsers_there(dv_server, env):
    config = ok(
        requests.get(
            f"{dv_server.url}/entra/{env.environment.tenant_id}/v2.0/.well-known/openid-configuration", timeout=TIMEOUT
        )
    )
    assert config["authorization_endpoint"].startswith(f"{dv_server.url}/entra/")
    assert config["token_endpoint"].startswith(dv_server.tls_url)
    assert config["issuer"].endswith(f"/{env.environment.tenant_id}/v2.0")


def test_revoking_every_token_by_fault_then_a_new_token_works(dv_server, env):
    rule = requests.post(
        f"{dv_server.url}/_sandbox/faults",
        json={"path": "/WhoAmI$", "action": "dv_revoke_tokens", "times": 1},
        timeout=TIMEOUT,
    )
    assert rule.status_code in (200, 201), rule.text
    assert env.api("GET", "WhoAmI").status_code == 401
    assert env.api("GET", "WhoAmI").status_code == 401
    fresh = ok(token_for(dv_server, env.environment.tenant_id, env.url))["access_token"]
    assert env.api("GET", "WhoAmI", token=fresh).status_code == 200


def test_the_certificate_is_made_once_and_reused(tmp_path):
    from sandbox.tls import certificate

    cert_path, key_path = certificate(tmp_path)
    first = open(cert_path, "rb").read()
    assert certificate(tmp_path) == (cert_path, key_path)
    assert open(cert_path, "rb").read() == first


def test_the_legacy_v1_endpoint_takes_a_resource(dv_server, env):
    answer = ok(
        requests.post(
            f"{dv_server.tls_url}/{env.environment.tenant_id}/oauth2/token",
            timeout=TIMEOUT,
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_DV_CLIENT_ID,
                "client_secret": DEMO_DV_CLIENT_SECRET,
                "resource": f"{env.url}/",
            },
            verify=dv_server.ca_path,
        )
    )
    assert answer["resource"] == f"{env.url}/"
    assert answer["expires_in"] == "3600"
    assert int(answer["expires_on"]) > int(answer["not_before"])
    assert env.api("GET", "WhoAmI", token=answer["access_token"]).status_code == 200


def test_a_revoked_consent_refuses_new_tokens(dv_server, env):
    dynamics = dv_server.state.dynamics
    assert dynamics.revoke_consent(env.environment.tenant_id, DEMO_DV_CLIENT_ID)
    refused = token_for(dv_server, env.environment.tenant_id, env.url)
    assert refused.status_code == 400
    assert refused.json()["error_codes"] == [7000229]
    assert env.api("GET", "WhoAmI").status_code == 200  # an issued token lives until it expires
