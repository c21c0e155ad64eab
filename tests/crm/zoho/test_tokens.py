import threading
import time

import pytest
import requests

from django.db import connection

from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.tokens import (
    ZohoReauthRequired,
    ZohoTokenUnavailable,
    access_token_get,
    access_token_info_get,
    access_token_invalidate,
)
from sandbox import worlds
from tests.crm.zoho.conftest import control, crm_account, minted


def crm_get(server, token, path="/crm/v8/users?type=CurrentUser"):
    return requests.get(f"{server.url}{path}", headers={"Authorization": f"Zoho-oauthtoken {token}"}, timeout=10)


def test_access_token_is_cached_and_works_against_the_crm(account, sandbox):
    first = access_token_get(account=account)
    second = access_token_get(account=account)
    assert first == second
    assert minted(sandbox) == 1
    assert crm_get(sandbox, first).status_code == 200
    info = access_token_info_get(account=account)
    assert info.api_domain == sandbox.url


def test_invalidate_forces_exactly_one_refresh_and_only_for_the_stale_token(account, sandbox):
    stale = access_token_get(account=account)
    access_token_invalidate(account=account, token="some-other-token")
    assert access_token_get(account=account) == stale
    access_token_invalidate(account=account, token=stale)
    fresh = access_token_get(account=account)
    assert fresh != stale
    access_token_invalidate(account=account, token=stale)  # a second worker that saw the same 401
    assert access_token_get(account=account) == fresh
    assert minted(sandbox) == 2


def test_token_is_refreshed_before_zoho_says_it_expires(account, sandbox, settings):
    control(sandbox, "PATCH", "config", {"access_token_ttl_seconds": 200})
    settings.ZOHO_TOKEN_EXPIRY_MARGIN_SECONDS = 199
    first = access_token_get(account=account)
    assert access_token_get(account=account) == first
    # expires_in 200 minus a margin of 199 leaves 1 s: the token is not used beyond that
    time.sleep(1.1)
    assert access_token_get(account=account) != first
    assert minted(sandbox) == 2


def test_voice_accounts_use_the_same_broker(organization, sandbox):
    voice = crm_account(
        organization,
        sandbox,
        name="demo-voice",
        kind="zoho_voice",
        refresh_token=worlds.DEMO_VOICE_REFRESH_TOKEN,
        api_domain="",
        api_base_url=sandbox.url,
        is_default=True,
    )
    token = access_token_get(account=voice)
    assert sandbox.state.accounts.resolve(token).scopes == ("ZohoVoice.sms.CREATE", "ZohoVoice.sms.READ")


def test_revoked_refresh_token_requires_reauth_marks_the_connection_and_is_not_retried(account, sandbox):
    sandbox.state.accounts.revoke_refresh_token(worlds.DEMO_CRM_REFRESH_TOKEN)
    calls_before = sandbox.state.counters["zoho_accounts.tokens.token"]
    with pytest.raises(ZohoReauthRequired, match="revoked"):
        access_token_get(account=account)
    with pytest.raises(ZohoReauthRequired):
        access_token_get(account=account)
    assert sandbox.state.counters["zoho_accounts.tokens.token"] == calls_before + 1
    connection = ZohoConnection.objects.unscoped().get(account=account)
    assert connection.state == ZohoConnection.State.NEEDS_REAUTH
    assert "revoked" in connection.last_error


def test_account_without_refresh_token_requires_reauth(organization, sandbox):
    account = crm_account(organization, sandbox, refresh_token="")
    with pytest.raises(ZohoReauthRequired, match="not connected"):
        access_token_get(account=account)


def test_throttled_answer_with_http_200_is_unavailable_and_cools_down(account, sandbox):
    control(sandbox, "PATCH", "config", {"access_tokens_per_refresh_per_window": 1})
    first = access_token_get(account=account)
    access_token_invalidate(account=account, token=first)
    with pytest.raises(ZohoTokenUnavailable, match="throttling") as caught:
        access_token_get(account=account)
    assert caught.value.retry_after > 0
    calls = sandbox.state.counters["zoho_accounts.tokens.token"]
    with pytest.raises(ZohoTokenUnavailable):
        access_token_get(account=account)
    assert sandbox.state.counters["zoho_accounts.tokens.token"] == calls  # the cooldown spared Zoho
    assert ZohoConnection.objects.unscoped().get(account=account).state == ZohoConnection.State.CONNECTED


def test_our_own_refresh_budget_stops_before_zohos(account, sandbox, settings):
    settings.ZOHO_TOKEN_REFRESHES_PER_WINDOW = 3
    for _ in range(3):
        access_token_invalidate(account=account, token=access_token_get(account=account))
    with pytest.raises(ZohoTokenUnavailable, match="budget"):
        access_token_get(account=account)
    assert minted(sandbox) == 3


def test_accounts_server_down_is_unavailable(account, sandbox):
    control(sandbox, "POST", "faults", {"path": "^/oauth/v2/token$", "status": 503})
    with pytest.raises(ZohoTokenUnavailable, match="503"):
        access_token_get(account=account)
    assert access_token_get(account=account)  # next time it works


def test_accounts_server_timeout_is_unavailable(account, sandbox, settings):
    settings.ZOHO_ACCOUNTS_TIMEOUT_SECONDS = 0.3
    from crm.providers.zoho import tokens

    tokens._session = None
    control(sandbox, "POST", "faults", {"path": "^/oauth/v2/token$", "delay": 1.0})
    try:
        with pytest.raises(ZohoTokenUnavailable, match="unreachable"):
            access_token_get(account=account)
    finally:
        tokens._session = None


def test_wrong_data_centre_is_reported_as_such(organization, sandbox, empty_sandbox):
    other = control(sandbox, "POST", "zoho/orgs", {"name": "Elsewhere Fitness"})
    # The client exists in the first sandbox's "data centre"; the account points at another one.
    account = crm_account(
        organization,
        empty_sandbox,
        client_id=other["client_id"],
        client_secret=other["client_secret"],
        refresh_token=other["refresh_token"],
    )
    with pytest.raises(ZohoReauthRequired, match="wrong data centre"):
        access_token_get(account=account)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_workers_refresh_once_and_never_exceed_zohos_limit(sandbox):
    from tests.factories import OrganizationFactory

    account = crm_account(OrganizationFactory(slug="concurrent"), sandbox)
    errors: list[BaseException] = []
    tokens: list[str] = []
    start = threading.Barrier(20)

    def worker(rounds: int) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                token = access_token_get(account=account)
                tokens.append(token)
                if crm_get(sandbox, token).status_code == 401:
                    access_token_invalidate(account=account, token=token)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=worker, args=(5,)) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(tokens)) == 1
    assert minted(sandbox) == 1

    # Tokens revoked mid-run, several times: each round every worker sees a 401, and one refresh happens.
    for _ in range(4):
        sandbox.state.accounts.revoke_all()
        start = threading.Barrier(20)
        threads = [threading.Thread(target=worker, args=(2,)) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
    assert minted(sandbox) <= 10
    assert minted(sandbox) == 5
