"""The Salesforce emulator's login host: the web server flow, refresh with and without rotation, invalid_grant,
sessions ended by a refresh, client credentials, revoke, userinfo and identity URLs (fact sheet §1.1)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox import worlds
from sandbox.salesforce import ids
from tests.sandbox.salesforce.emu_support import TIMEOUT, new_org

REDIRECT = "http://127.0.0.1:9/callback"


def authorize(server, org, *, user=None, **params):
    query = {
        "response_type": "code",
        "client_id": org.info["client_id"],
        "redirect_uri": REDIRECT,
        "state": "s1",
        **params,
    }
    if user:
        query["_sandbox_user"] = user
    return requests.get(f"{server.url}/services/oauth2/authorize", params=query, allow_redirects=False, timeout=TIMEOUT)


def code_from(response):
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


def test_web_server_flow_issues_a_refresh_token_and_the_documented_answer(empty_sandbox):
    org = new_org(empty_sandbox)
    page = authorize(empty_sandbox, org)
    assert page.status_code == 200
    assert "Allow Access?" in page.text
    assert org.users[0]["email"] in page.text
    params = code_from(authorize(empty_sandbox, org, user=org.users[1]["id"]))
    assert params["state"] == ["s1"]
    answer = org.token_call(grant_type="authorization_code", code=params["code"][0], redirect_uri=REDIRECT)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {
        "access_token",
        "refresh_token",
        "signature",
        "scope",
        "id_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    } <= set(body)
    assert body["token_type"] == "Bearer"
    assert body["issued_at"].isdigit()
    assert body["id"] == f"{empty_sandbox.url}/id/{org.org_id}/{org.users[1]['id']}"
    assert body["instance_url"] == empty_sandbox.url
    assert body["access_token"].startswith(org.org_id[:15] + "!")
    # a code works once
    again = org.token_call(grant_type="authorization_code", code=params["code"][0], redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_without_the_refresh_token_scope_no_refresh_token_is_issued(empty_sandbox):
    org = new_org(empty_sandbox)
    params = code_from(authorize(empty_sandbox, org, user=org.users[0]["id"], scope="api id"))
    body = org.token_call(grant_type="authorization_code", code=params["code"][0], redirect_uri=REDIRECT).json()
    assert "refresh_token" not in body
    assert "id_token" not in body
    assert body["scope"] == "api id"


def test_pkce_code_verifier_is_checked(empty_sandbox):
    org = new_org(empty_sandbox)
    verifier = "a" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = code_from(
        authorize(empty_sandbox, org, user=org.users[0]["id"], code_challenge=challenge, code_challenge_method="S256")
    )
    wrong = org.token_call(
        grant_type="authorization_code", code=params["code"][0], redirect_uri=REDIRECT, code_verifier="b" * 64
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_grant",
        "error_description": "invalid code verifier",
    }
    right = org.token_call(
        grant_type="authorization_code", code=params["code"][0], redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert right.status_code == 200, right.text


def test_authorize_refuses_unknown_clients_and_redirect_uris_and_reports_a_denial(empty_sandbox):
    org = new_org(empty_sandbox)
    unknown = requests.get(
        f"{empty_sandbox.url}/services/oauth2/authorize",
        params={"response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT},
        timeout=TIMEOUT,
    )
    assert unknown.status_code == 400
    assert "invalid_client_id" in unknown.text
    mismatch = authorize(empty_sandbox, org, redirect_uri="http://evil.test/cb")
    assert mismatch.status_code == 400
    assert "redirect_uri_mismatch" in mismatch.text
    denied = code_from(authorize(empty_sandbox, org, _sandbox_deny="1"))
    assert denied["error"] == ["access_denied"]
    assert denied["state"] == ["s1"]


def test_token_errors_are_the_documented_json(empty_sandbox):
    org = new_org(empty_sandbox)
    url = f"{empty_sandbox.url}/services/oauth2/token"
    missing = requests.post(url, data={}, timeout=TIMEOUT)
    assert missing.status_code == 400
    assert missing.json() == {"error": "invalid_request", "error_description": "grant type is missing"}
    assert requests.post(url, data={"grant_type": "password"}, timeout=TIMEOUT).json()["error"] == (
        "unsupported_grant_type"
    )
    unknown = requests.post(
        url, data={"grant_type": "refresh_token", "client_id": "x", "refresh_token": "y"}, timeout=TIMEOUT
    )
    assert unknown.json() == {"error": "invalid_client_id", "error_description": "client identifier invalid"}
    bad_secret = org.token_call(
        grant_type="refresh_token", refresh_token=org.info["refresh_token"], client_secret="wrong"
    )
    assert bad_secret.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    bad_grant = org.token_call(grant_type="refresh_token", refresh_token="5Aep861-not-a-token")
    assert bad_grant.status_code == 400
    assert bad_grant.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


def test_refresh_without_rotation_keeps_the_refresh_token_and_ends_the_old_session(empty_sandbox):
    org = new_org(empty_sandbox)
    first = org.refresh()
    assert org.call("GET", "limits").status_code == 200
    second = org.refresh()
    assert "refresh_token" not in second
    old = org.call("GET", "limits", token=first["access_token"])
    assert old.status_code == 401
    assert old.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert org.call("GET", "limits").status_code == 200
    org.refresh()  # the same refresh token still works


def test_refresh_may_keep_the_old_session_when_the_org_does_not_end_it(empty_sandbox):
    requests.patch(f"{empty_sandbox.url}/_sandbox/config", json={"sf_refresh_ends_session": False}, timeout=TIMEOUT)
    org = new_org(empty_sandbox)
    first = org.refresh()
    org.refresh()
    assert org.call("GET", "limits", token=first["access_token"]).status_code == 200


def test_rotation_issues_a_new_refresh_token_and_the_old_one_answers_invalid_grant(empty_sandbox):
    org = new_org(empty_sandbox, rotation=True)
    first = org.refresh()
    rotated = first["refresh_token"]
    assert rotated != org.info["refresh_token"]
    reused = org.token_call(grant_type="refresh_token", refresh_token=org.info["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    second = org.refresh(rotated)
    assert second["refresh_token"] not in (rotated, org.info["refresh_token"])
    assert org.call("GET", "limits", token=first["access_token"]).status_code == 401


def test_rotation_can_be_switched_per_org(empty_sandbox):
    org = new_org(empty_sandbox)
    assert "refresh_token" not in org.refresh()
    org.patch_settings(rotation=True)
    assert "refresh_token" in org.refresh()


def test_client_credentials_only_with_a_run_as_user_and_without_a_refresh_token(empty_sandbox):
    org = new_org(empty_sandbox)
    refused = org.token_call(grant_type="client_credentials")
    assert refused.json() == {"error": "invalid_grant", "error_description": "no client credentials user enabled"}
    org.patch_settings(client_credentials_user=org.users[2]["id"])
    body = org.token_call(grant_type="client_credentials").json()
    assert "refresh_token" not in body
    assert body["id"].endswith(org.users[2]["id"])
    assert org.call("GET", "limits", token=body["access_token"]).status_code == 200


def test_revoke_ends_a_session_or_a_whole_grant(empty_sandbox):
    org = new_org(empty_sandbox)
    url = f"{empty_sandbox.url}/services/oauth2/revoke"
    session = org.refresh()["access_token"]
    assert requests.post(url, data={"token": session}, timeout=TIMEOUT).status_code == 200
    assert org.call("GET", "limits", token=session).status_code == 401
    session = org.refresh()["access_token"]
    assert requests.post(url, data={"token": org.info["refresh_token"]}, timeout=TIMEOUT).status_code == 200
    assert org.call("GET", "limits", token=session).status_code == 401
    assert org.token_call(grant_type="refresh_token", refresh_token=org.info["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    unknown = requests.post(url, data={"token": "nope"}, timeout=TIMEOUT)
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "unsupported_token_type"


def test_userinfo_and_the_identity_url_name_the_org_and_user(empty_sandbox):
    org = new_org(empty_sandbox)
    body = org.refresh()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    info = requests.get(f"{empty_sandbox.url}/services/oauth2/userinfo", headers=headers, timeout=TIMEOUT).json()
    user = org.users[0]
    assert info["organization_id"] == org.org_id
    assert info["user_id"] == user["id"]
    assert info["email"] == user["email"]
    assert info["sub"] == body["id"]
    assert info["active"] is True
    identity = requests.get(body["id"], headers=headers, timeout=TIMEOUT).json()
    assert identity["organization_id"] == org.org_id
    assert identity["username"] == user["username"]
    assert identity["urls"]["rest"] == f"{empty_sandbox.url}/services/data/v{{version}}/"
    bad = requests.get(
        f"{empty_sandbox.url}/services/oauth2/userinfo", headers={"Authorization": "Bearer x"}, timeout=TIMEOUT
    )
    assert bad.status_code == 403
    assert bad.text == "Bad_OAuth_Token"


def test_the_demo_org_has_fixed_ids_and_a_ready_grant(empty_sandbox):
    assert ids.is_valid(worlds.DEMO_SF_ORG_ID)
    assert len(worlds.DEMO_SF_ORG_ID) == 18
    assert all(ids.is_valid(user["id"]) and user["id"].startswith("005") for user in worlds.DEMO_SF_USERS)
    answer = requests.post(
        f"{empty_sandbox.url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": worlds.DEMO_SF_REFRESH_TOKEN,
            "client_id": worlds.DEMO_SF_CLIENT_ID,
            "client_secret": worlds.DEMO_SF_CLIENT_SECRET,
        },
        timeout=TIMEOUT,
    ).json()
    assert answer["id"].endswith(f"/id/{worlds.DEMO_SF_ORG_ID}/{worlds.DEMO_SF_USERS[0]['id']}")


def test_ids_have_the_documented_checksum():
    assert ids.to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"  # Salesforce's own example
    assert ids.normalize("001A0000006Vm9rIAC".lower()[:15]) != "001A0000006Vm9rIAC"
    assert ids.normalize("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"
    assert ids.normalize("001A0000006Vm9riac") == "001A0000006Vm9rIAC"  # the suffix is case-insensitive
    assert not ids.is_valid("001A0000006Vm9rXXX")
    assert not ids.is_valid("short")
