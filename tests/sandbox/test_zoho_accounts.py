"""Zoho Accounts in the sandbox: the consent page, code exchange, refresh, limits and revocation, over HTTP."""

from urllib.parse import parse_qs, urlsplit

import requests

from sandbox import worlds

CALLBACK = worlds.DEMO_REDIRECT_URIS[0]
ANA = worlds.DEMO_USERS[1]["id"]
MORGAN = worlds.DEMO_USERS[0]["id"]


def authorize(url, **params):
    query = {
        "client_id": worlds.DEMO_CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "ZohoCRM.users.READ,ZohoCRM.org.READ",
        "access_type": "offline",
        "prompt": "consent",
        "state": "s-123",
    }
    query.update(params)
    query = {key: value for key, value in query.items() if value is not None}
    return requests.get(f"{url}/oauth/v2/auth", params=query, allow_redirects=False, timeout=5)


def redirect_params(response):
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def grant_code(url, user=ANA, **params):
    return redirect_params(authorize(url, _sandbox_user=user, **params))["code"]


def token_call(url, *, as_query=False, **params):
    if as_query:
        return requests.post(f"{url}/oauth/v2/token", params=params, timeout=5)
    return requests.post(f"{url}/oauth/v2/token", data=params, timeout=5)


def exchange(url, code, **overrides):
    params = {
        "grant_type": "authorization_code",
        "client_id": worlds.DEMO_CLIENT_ID,
        "client_secret": worlds.DEMO_CLIENT_SECRET,
        "redirect_uri": CALLBACK,
        "code": code,
    }
    params.update(overrides)
    return token_call(url, **params)


def refresh(url, refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN, **overrides):
    params = {
        "grant_type": "refresh_token",
        "client_id": worlds.DEMO_CLIENT_ID,
        "client_secret": worlds.DEMO_CLIENT_SECRET,
        "refresh_token": refresh_token,
    }
    params.update(overrides)
    return token_call(url, **params)


def current_user(url, access_token, scheme="Zoho-oauthtoken"):
    return requests.get(
        f"{url}/crm/v8/users",
        params={"type": "CurrentUser"},
        headers={"Authorization": f"{scheme} {access_token}"},
        timeout=5,
    )


def advance(url, seconds):
    requests.post(f"{url}/_sandbox/clock", json={"advance_seconds": seconds}, timeout=5)


def test_the_consent_page_offers_every_zoho_user_and_keeps_the_request(sandbox):
    page = authorize(sandbox.url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    for user in worlds.DEMO_USERS:
        assert f'value="{user["id"]}"' in page.text
    assert 'name="state" value="s-123"' in page.text
    assert 'name="_sandbox_deny"' in page.text


def test_a_person_who_accepts_is_sent_back_with_code_state_location_and_accounts_server(sandbox):
    params = redirect_params(authorize(sandbox.url, _sandbox_user=ANA))
    assert params["code"].startswith("1000.")
    assert params["state"] == "s-123"
    assert params["location"] == "us"
    assert params["accounts-server"] == sandbox.url


def test_a_person_who_rejects_is_sent_back_with_access_denied(sandbox):
    params = redirect_params(authorize(sandbox.url, _sandbox_deny="1"))
    assert params == {"error": "access_denied", "state": "s-123"}


def test_an_unknown_client_or_an_unregistered_redirect_gets_an_error_page_not_a_redirect(sandbox):
    bad_client = authorize(sandbox.url, client_id="1000.NOPE", _sandbox_user=ANA)
    assert bad_client.status_code == 400
    assert 'data-error="invalid_client"' in bad_client.text
    bad_redirect = authorize(sandbox.url, redirect_uri="https://evil.example/cb", _sandbox_user=ANA)
    assert bad_redirect.status_code == 400
    assert "Location" not in bad_redirect.headers
    assert 'data-error="invalid_redirect_uri"' in bad_redirect.text


def test_a_wrong_response_type_or_scope_comes_back_to_the_client_as_an_error(sandbox):
    assert redirect_params(authorize(sandbox.url, response_type="token"))["error"] == "unsupported_response_type"
    assert redirect_params(authorize(sandbox.url, scope="Nonsense"))["error"] == "invalid_scope"
    assert redirect_params(authorize(sandbox.url, scope=None))["error"] == "invalid_scope"


def test_the_code_exchange_answers_zohos_token_fields_and_the_token_is_the_consenting_users(sandbox):
    response = exchange(sandbox.url, grant_code(sandbox.url))
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token", "refresh_token", "scope", "api_domain", "token_type", "expires_in"]
    assert body["scope"] == "ZohoCRM.users.READ ZohoCRM.org.READ"
    assert body["api_domain"] == sandbox.url
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    me = current_user(sandbox.url, body["access_token"])
    assert me.status_code == 200
    assert me.json()["users"][0]["id"] == ANA


def test_token_parameters_may_come_in_the_query_string_too(sandbox):
    params = {
        "grant_type": "authorization_code",
        "client_id": worlds.DEMO_CLIENT_ID,
        "client_secret": worlds.DEMO_CLIENT_SECRET,
        "redirect_uri": CALLBACK,
        "code": grant_code(sandbox.url),
    }
    assert "access_token" in token_call(sandbox.url, as_query=True, **params).json()


def test_a_grant_code_works_once(sandbox):
    code = grant_code(sandbox.url)
    assert "access_token" in exchange(sandbox.url, code).json()
    again = exchange(sandbox.url, code)
    assert again.status_code == 200
    assert again.json() == {"error": "invalid_code"}


def test_a_grant_code_expires_after_three_minutes(sandbox):
    code = grant_code(sandbox.url)
    advance(sandbox.url, 181)
    assert exchange(sandbox.url, code).json() == {"error": "invalid_code"}


def test_token_errors_answer_http_200_with_an_error_key(sandbox):
    code = grant_code(sandbox.url)
    cases = {
        "invalid_client": {"client_id": "1000.UNKNOWN"},
        "invalid_client_secret": {"client_secret": "wrong"},
        "invalid_redirect_uri": {"redirect_uri": "http://127.0.0.1:8000/elsewhere/"},
        "unsupported_grant_type": {"grant_type": "password"},
    }
    for expected, overrides in cases.items():
        response = exchange(sandbox.url, code, **overrides)
        assert response.status_code == 200
        assert response.json() == {"error": expected}
    assert exchange(sandbox.url, "1000.not-a-code").json() == {"error": "invalid_code"}
    assert refresh(sandbox.url, "1000.not-a-refresh-token").json() == {"error": "invalid_code"}


def test_a_refresh_answers_the_same_fields_without_a_refresh_token(sandbox):
    body = refresh(sandbox.url).json()
    assert list(body) == ["access_token", "scope", "api_domain", "token_type", "expires_in"]
    assert "ZohoCRM.modules.ALL" in body["scope"].split()
    assert body["api_domain"] == sandbox.url


def test_online_access_gives_no_refresh_token(sandbox):
    body = exchange(sandbox.url, grant_code(sandbox.url, access_type="online")).json()
    assert "refresh_token" not in body
    assert current_user(sandbox.url, body["access_token"]).status_code == 200


def test_a_refresh_token_comes_only_on_a_first_consent_or_with_prompt_consent(sandbox):
    first = exchange(sandbox.url, grant_code(sandbox.url, prompt=None)).json()
    assert "refresh_token" in first  # Ana never consented before
    again = exchange(sandbox.url, grant_code(sandbox.url, prompt=None)).json()
    assert "refresh_token" not in again
    forced = exchange(sandbox.url, grant_code(sandbox.url, prompt="consent")).json()
    assert forced["refresh_token"] != first["refresh_token"]
    # The demo admin consented when the demo org was connected.
    assert "refresh_token" not in exchange(sandbox.url, grant_code(sandbox.url, MORGAN, prompt=None)).json()


def test_the_eleventh_access_token_within_ten_minutes_is_access_denied_with_http_200(sandbox):
    for _ in range(10):
        assert "access_token" in refresh(sandbox.url).json()
    throttled = refresh(sandbox.url)
    assert throttled.status_code == 200
    assert throttled.json() == {
        "error": "Access Denied",
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "status": "failure",
    }
    advance(sandbox.url, 601)
    assert "access_token" in refresh(sandbox.url).json()


def test_the_sixteenth_live_access_token_evicts_the_oldest(sandbox):
    tokens = [refresh(sandbox.url).json()["access_token"] for _ in range(10)]
    advance(sandbox.url, 601)
    tokens += [refresh(sandbox.url).json()["access_token"] for _ in range(6)]
    oldest = current_user(sandbox.url, tokens[0])
    assert oldest.status_code == 401
    assert oldest.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    assert all(current_user(sandbox.url, token).status_code == 200 for token in tokens[1:])


def test_an_access_token_lives_one_hour(sandbox):
    token = refresh(sandbox.url).json()["access_token"]
    advance(sandbox.url, 3599)
    assert current_user(sandbox.url, token).status_code == 200
    advance(sandbox.url, 2)
    assert current_user(sandbox.url, token).json()["code"] == "INVALID_TOKEN"


def test_revoking_a_refresh_token_ends_it_and_its_access_tokens(sandbox):
    body = exchange(sandbox.url, grant_code(sandbox.url)).json()
    revoked = requests.post(f"{sandbox.url}/oauth/v2/token/revoke", params={"token": body["refresh_token"]}, timeout=5)
    assert revoked.status_code == 200
    assert revoked.json() == {"status": "success"}
    assert current_user(sandbox.url, body["access_token"]).json()["code"] == "INVALID_TOKEN"
    assert refresh(sandbox.url, body["refresh_token"]).json() == {"error": "invalid_code"}


def test_the_control_api_revokes_every_access_token_mid_run(sandbox):
    token = refresh(sandbox.url).json()["access_token"]
    revoked = requests.post(f"{sandbox.url}/_sandbox/zoho/revoke-tokens", json={}, timeout=5).json()
    assert revoked["revoked"] >= 1
    assert current_user(sandbox.url, token).json()["code"] == "INVALID_TOKEN"
    assert current_user(sandbox.url, refresh(sandbox.url).json()["access_token"]).status_code == 200


def test_serverinfo_names_this_sandbox_as_the_us_accounts_server(sandbox):
    body = requests.get(f"{sandbox.url}/oauth/serverinfo", timeout=5).json()
    assert body == {"result": "success", "locations": {"us": sandbox.url}}


def test_api_domain_and_accounts_server_follow_the_host_the_sandbox_is_reached_on(sandbox):
    other = f"http://localhost:{sandbox.port}"
    assert refresh(other).json()["api_domain"] == other
    assert redirect_params(authorize(other, _sandbox_user=ANA))["accounts-server"] == other


def test_client_credentials_give_an_org_token_without_a_refresh_token(sandbox):
    body = token_call(
        sandbox.url,
        grant_type="client_credentials",
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        scope="ZohoCRM.users.READ",
        soid=f"ZohoCRM.{worlds.DEMO_ZOHO_ORG_ID}",
    ).json()
    assert "refresh_token" not in body
    assert current_user(sandbox.url, body["access_token"]).json()["users"][0]["id"] == MORGAN


def test_more_than_ten_code_exchanges_per_client_in_ten_minutes_are_access_denied(sandbox):
    for _ in range(10):
        assert "access_token" in exchange(sandbox.url, grant_code(sandbox.url)).json()
    assert exchange(sandbox.url, grant_code(sandbox.url)).json() == {"error": "access_denied"}
    advance(sandbox.url, 601)
    assert "access_token" in exchange(sandbox.url, grant_code(sandbox.url)).json()


def test_the_twenty_first_refresh_token_of_a_user_deletes_the_oldest_and_its_access_tokens(sandbox):
    issued = []
    for number in range(21):
        if number and number % 10 == 0:
            advance(sandbox.url, 601)  # past the code-exchange throttle
        issued.append(exchange(sandbox.url, grant_code(sandbox.url)).json())
    assert refresh(sandbox.url, issued[0]["refresh_token"]).json() == {"error": "invalid_code"}
    assert current_user(sandbox.url, issued[0]["access_token"]).json()["code"] == "INVALID_TOKEN"
    assert "access_token" in refresh(sandbox.url, issued[1]["refresh_token"]).json()
    assert current_user(sandbox.url, issued[20]["access_token"]).status_code == 200
