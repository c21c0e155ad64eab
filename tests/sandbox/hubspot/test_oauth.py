"""HubSpot OAuth in the emulator: consent, code exchange, refresh in both answer shapes, token lifetime, token
info and revocation (docs/vendors/hubspot.md, Auth)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import requests

from tests.sandbox.hubspot.hs_support import SCOPES, control, error_body, new_hub, ok

REDIRECT = "http://127.0.0.1:9/crm/oauth/callback"


def _authorize(hub, **params):
    query = {
        "client_id": hub.app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "oauth crm.objects.contacts.read",
        "state": "s-123",
        **params,
    }
    return requests.get(f"{hub.base}/oauth/authorize", params=query, allow_redirects=False, timeout=10)


def _code(hub, **params) -> str:
    response = _authorize(hub, _sandbox_portal=hub.portal_id, _sandbox_user=700002, **params)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["s-123"]
    return query["code"][0]


def test_consent_page_lists_portals_and_users_and_its_form_installs(hub):
    response = _authorize(hub)
    assert response.status_code == 200
    assert "Emu Test Gyms" in response.text
    assert "owner.two@hub.test" in response.text
    assert "crm.objects.contacts.read" in response.text
    chosen = _authorize(hub, _sandbox_account=f"{hub.portal_id}:700003", _sandbox_go="1")
    assert chosen.status_code == 302
    code = parse_qs(urlsplit(chosen.headers["Location"]).query)["code"][0]
    body = ok(hub.token_call(grant_type="authorization_code", code=code, redirect_uri=REDIRECT))
    info = ok(requests.get(f"{hub.base}/oauth/v1/access-tokens/{body['access_token']}", timeout=10))
    assert info["user_id"] == 700003


def test_code_exchange_gives_snake_case_tokens_for_the_chosen_user(hub):
    code = _code(hub, optional_scope="crm.objects.deals.read")
    body = ok(hub.token_call(grant_type="authorization_code", code=code, redirect_uri=REDIRECT))
    assert set(body) == {"token_type", "refresh_token", "access_token", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    assert len(body["access_token"]) <= 300
    info = ok(requests.get(f"{hub.base}/oauth/v1/access-tokens/{body['access_token']}", timeout=10))
    assert info["hub_id"] == hub.portal_id
    assert info["user_id"] == 700002
    assert info["user"] == "owner.two@hub.test"
    assert info["app_id"] == int(hub.app["app_id"])
    assert info["token_type"] == "access"
    assert info["scopes"] == ["oauth", "crm.objects.contacts.read", "crm.objects.deals.read"]
    assert 1790 <= info["expires_in"] <= 1800
    refresh = ok(requests.get(f"{hub.base}/oauth/v1/refresh-tokens/{body['refresh_token']}", timeout=10))
    assert refresh["client_id"] == hub.app["client_id"]
    assert refresh["hub_id"] == hub.portal_id
    assert refresh["token_type"] == "refresh"


def test_a_code_works_once_and_only_with_its_redirect_uri(hub):
    code = _code(hub)
    wrong = hub.token_call(grant_type="authorization_code", code=code, redirect_uri="http://elsewhere/cb")
    assert wrong.status_code == 400
    assert wrong.json()["status"] == "BAD_REDIRECT_URI"
    code = _code(hub)
    ok(hub.token_call(grant_type="authorization_code", code=code, redirect_uri=REDIRECT))
    again = hub.token_call(grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["status"] == "BAD_AUTH_CODE"
    assert again.json()["error"] == "invalid_grant"


def test_denied_consent_redirects_with_the_error(hub):
    response = _authorize(hub, _sandbox_deny="1")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": ["s-123"]}


def test_apps_refuse_unknown_redirect_uris_and_missing_required_scopes(hs_server):
    hub = new_hub(hs_server, app={"redirect_uris": [REDIRECT], "scopes": ["oauth", "crm.objects.contacts.read"]})
    assert _authorize(hub, redirect_uri="http://evil.test/cb").status_code == 400
    assert _authorize(hub, scope="oauth").status_code == 400
    assert _authorize(hub).status_code == 200


def test_refresh_on_the_date_versioned_path_answers_camel_case(hub):
    body = ok(
        hub.token_call("/oauth/2026-03/token", grant_type="refresh_token", refresh_token=hub.install["refresh_token"])
    )
    assert set(body) == {"tokenType", "refreshToken", "accessToken", "expiresIn", "hubId", "userId", "scopes"}
    assert body["refreshToken"] == hub.install["refresh_token"]  # HubSpot refresh tokens do not rotate
    assert body["hubId"] == hub.portal_id
    assert body["expiresIn"] == 1800
    assert ok(hub.api("GET", "/crm/v3/objects/contacts", token=body["accessToken"]))["results"] == []
    assert hub.token_call("/oauth/2019-01/token", grant_type="refresh_token").status_code == 404


def test_bad_refresh_tokens_and_client_credentials(hub):
    response = hub.token_call(grant_type="refresh_token", refresh_token="na1-nope")
    assert response.status_code == 400
    assert response.json()["status"] == "BAD_REFRESH_TOKEN"
    assert response.json()["error"] == "invalid_grant"
    response = requests.post(
        f"{hub.base}/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "client_id": hub.app["client_id"],
            "client_secret": "wrong",
            "refresh_token": hub.install["refresh_token"],
        },
        timeout=10,
    )
    assert response.json()["status"] == "BAD_CLIENT_SECRET"
    assert hub.token_call(grant_type="password").json()["status"] == "BAD_GRANT_TYPE"


def test_access_tokens_expire_after_thirty_minutes(hub):
    assert hub.api("GET", "/crm/v3/objects/contacts").status_code == 200
    ok(requests.post(f"{hub.server.url}/_sandbox/clock", json={"advance_seconds": 1801}, timeout=10))
    body = error_body(hub.api("GET", "/crm/v3/objects/contacts"), 401, "EXPIRED_AUTHENTICATION")
    assert "expired" in body["message"]
    fresh = ok(hub.token_call(grant_type="refresh_token", refresh_token=hub.install["refresh_token"]))
    assert hub.api("GET", "/crm/v3/objects/contacts", token=fresh["access_token"]).status_code == 200


def test_ttl_knob_and_unknown_tokens(hs_server):
    ok(requests.patch(f"{hs_server.url}/_sandbox/config", json={"hs_access_token_ttl_seconds": 60}, timeout=10))
    hub = new_hub(hs_server)
    body = ok(hub.token_call(grant_type="refresh_token", refresh_token=hub.install["refresh_token"]))
    assert body["expires_in"] == 60
    error_body(hub.api("GET", "/crm/v3/objects/contacts", token="not-a-token"), 401, "INVALID_AUTHENTICATION")
    error_body(hub.api("GET", "/crm/v3/objects/contacts", token=""), 401, "INVALID_AUTHENTICATION")
    assert requests.get(f"{hub.base}/oauth/v1/access-tokens/nope", timeout=10).status_code == 404


def test_deleting_a_refresh_token_revokes_the_install(hub):
    token = hub.install["refresh_token"]
    assert requests.delete(f"{hub.base}/oauth/v1/refresh-tokens/{token}", timeout=10).status_code == 204
    assert hub.token_call(grant_type="refresh_token", refresh_token=token).json()["status"] == "BAD_REFRESH_TOKEN"
    error_body(hub.api("GET", "/crm/v3/objects/contacts"), 401, "INVALID_AUTHENTICATION")
    assert requests.get(f"{hub.base}/oauth/v1/refresh-tokens/{token}", timeout=10).status_code == 404


def test_control_revoke_and_expire(hub):
    ok(control(hub.server, "POST", "/tokens/expire"))
    error_body(hub.api("GET", "/crm/v3/objects/contacts"), 401, "EXPIRED_AUTHENTICATION")
    fresh = ok(hub.token_call(grant_type="refresh_token", refresh_token=hub.install["refresh_token"]))
    ok(control(hub.server, "POST", "/tokens/revoke", json={}))
    error_body(hub.api("GET", "/crm/v3/objects/contacts", token=fresh["access_token"]), 401, "INVALID_AUTHENTICATION")


def test_the_demo_install_refreshes_with_the_product_demo_app(sandbox):
    from sandbox import worlds

    response = requests.post(
        f"{sandbox.url}/hubspot/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "client_id": worlds.DEMO_HS_CLIENT_ID,
            "client_secret": worlds.DEMO_HS_CLIENT_SECRET,
            "refresh_token": worlds.DEMO_HS_REFRESH_TOKEN,
        },
        timeout=10,
    )
    token = ok(response)["access_token"]
    info = ok(requests.get(f"{sandbox.url}/hubspot/oauth/v1/access-tokens/{token}", timeout=10))
    assert info["hub_id"] == worlds.DEMO_HS_PORTAL_ID
    assert info["user_id"] == worlds.DEMO_HS_OWNERS[0]["userId"]
    assert str(info["app_id"]) == worlds.DEMO_HS_APP_ID
    assert set(SCOPES) <= set(info["scopes"])


def test_legacy_sunsets_on_the_sandbox_clock_when_asked(hub):
    refresh = {"grant_type": "refresh_token", "refresh_token": hub.install["refresh_token"]}
    requests.patch(f"{hub.server.url}/_sandbox/config", json={"hs_legacy_sunsets": True}, timeout=10)
    clock = hub.server.state.clock
    clock.freeze(datetime(2027, 2, 15, 12, tzinfo=UTC))
    assert hub.token_call(**refresh).status_code == 200
    clock.freeze(datetime(2027, 2, 16, 12, tzinfo=UTC))
    assert hub.token_call(**refresh).status_code == 404
    token = ok(hub.token_call("/oauth/2026-03/token", **refresh))["accessToken"]
    assert hub.api("GET", "/crm/v3/objects/contacts", token=token).status_code == 200
    clock.freeze(datetime(2027, 9, 1, 12, tzinfo=UTC))
    token = ok(hub.token_call("/oauth/2026-03/token", **refresh))["accessToken"]
    error_body(hub.api("GET", "/crm/v3/objects/contacts", token=token), 404, "OBJECT_NOT_FOUND")
    error_body(hub.api("GET", "/crm/v4/associations/contacts/companies/labels", token=token), 404, "OBJECT_NOT_FOUND")
    assert hub.api("GET", "/crm/objects/2026-03/contacts", token=token).status_code == 200
