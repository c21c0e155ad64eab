"""The Salesforce client against the emulator over real HTTP: tokens (rotation, invalid_grant, one refresh for many
workers, instance_url), the session-bound query locators, retries, the allocation budget, typed errors."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
import requests

from django.core.cache import cache
from django.db import connection, transaction

from core.http import make_session
from crm.errors import CrmAuthError, CrmNotFound, CrmQuotaExhausted, CrmRejected, CrmUnavailable
from crm.providers.salesforce import limits, tokens
from crm.providers.salesforce.client import SalesforceClient
from crm.providers.salesforce.errors import (
    SalesforceAuthError,
    SalesforceLimitExceeded,
    SalesforceLocatorLost,
    SalesforceNotFound,
    SalesforceRejected,
    SalesforceUnavailable,
    SalesforceUriTooLong,
    to_crm_error,
)
from crm.providers.salesforce.limits import Priority
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.transport import backoff_delays
from sandbox.salesforce import seed
from sandbox.salesforce.oauth import APP_SCOPES
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory


# --- helpers ------------------------------------------------------------------------------------------------------
class Sleeps(list):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def control(server: Any, method: str, path: str, body: Any = None) -> Any:
    """The sandbox's control API (`/_sandbox/<path>`)."""
    response = requests.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=60)
    assert response.status_code < 400, response.text
    return response.json() if response.content else None


def sf_org(
    server: Any, *, rotation: bool | None = None, instance_host: str = "", daily_api_requests: int | None = None
) -> dict[str, Any]:
    """A new org in the emulator (made in its state; every call of the client goes over HTTP), with its app's client
    id/secret and a ready refresh token of its admin. `instance_host="localhost"`: its instance is its own host."""
    state = server.state.salesforce
    number = len(state.orgs) + 1
    instance_url = server.url.replace("127.0.0.1", instance_host) if instance_host else None
    org = state.create_org(
        name=f"Acme Fitness {number}",
        users=[{"first_name": "Ada", "last_name": "Admin", "email": f"ada{number}@acme.test"}],
        redirect_uris=["https://app.leadline.test/crm/oauth/callback"],
        rotation=rotation,
        instance_url=instance_url,
    )
    org.daily_api_requests = daily_api_requests
    grant = state.new_grant(org, org.admin_user_id, APP_SCOPES)
    return {
        "org_id": org.org_id,
        "instance_url": instance_url or server.url,
        "login_url": server.url,
        "client_id": org.app.client_id,
        "client_secret": org.app.client_secret,
        "refresh_token": grant.refresh_token,
        "users": [{"id": org.admin_user_id}],
        "org": org,
        "grant": grant,
    }


def sessions_end(server: Any, org: dict[str, Any]) -> None:
    """Every session of the org ends (an admin's "revoke sessions", or their timeout)."""
    org["org"].end_sessions(reason="revoked")


def grant_revoke(server: Any, org: dict[str, Any]) -> None:
    server.state.salesforce.revoke_grant(org["org"], org["grant"])


def sf_account(organization: Any, org: dict[str, Any], **overrides: Any) -> ProviderAccount:
    """A salesforce account on the emulator's org (an operator's account: custom endpoints), connected."""
    values = {
        "organization": organization,
        "name": "acme-salesforce",
        "kind": "salesforce",
        "client_id": org["client_id"],
        "client_secret": org["client_secret"],
        "refresh_token": org["refresh_token"],
        "accounts_url": org["login_url"],
        "api_domain": org["instance_url"],
        "custom_endpoints": True,
    }
    values.update(overrides)
    account = ProviderAccount.unscoped_objects.create(**values)
    SalesforceConnection.unscoped_objects.create(
        organization=organization, account=account, state=SalesforceConnection.State.CONNECTED
    )
    return ProviderAccount.unscoped_objects.get(pk=account.pk)  # secrets as loaded from the database


def counter(server: Any, name: str) -> int:
    return int(server.state.counters[name])


def refreshes(server: Any, org: dict[str, Any]) -> int:
    return counter(server, f"salesforce.token:refresh_token:{org['org_id']}")


def token_post(server: Any, org: dict[str, Any], refresh_token: str) -> requests.Response:
    return requests.post(
        f"{org['login_url']}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": org["client_id"],
            "client_secret": org["client_secret"],
            "refresh_token": refresh_token,
        },
        timeout=10,
    )


def connection_of(account: ProviderAccount) -> SalesforceConnection:
    return SalesforceConnection.unscoped_objects.get(account=account)


def fault(server: Any, **rule: Any) -> None:
    control(server, "POST", "faults", rule)


# --- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def organization(db):
    return OrganizationFactory(slug="acme-sf", name="Acme Fitness")


@pytest.fixture
def org(empty_sandbox) -> dict[str, Any]:
    """An org whose instance is its own host (localhost): a client that ignored instance_url would be refused."""
    return sf_org(empty_sandbox, instance_host="localhost")


@pytest.fixture
def account(organization, org) -> ProviderAccount:
    return sf_account(organization, org)


@pytest.fixture
def client(account, sleeps) -> SalesforceClient:
    return SalesforceClient(account, sleep=sleeps, rng=random.Random(7))


# --- every call ---------------------------------------------------------------------------------------------------
def test_calls_go_to_the_instance_with_the_bearer_the_client_name_and_a_timeout(client, org, empty_sandbox, settings):
    assert org["instance_url"].startswith("http://localhost:")
    limits_body = client.limits()
    assert "DailyApiRequests" in limits_body
    assert client.instance_url == org["instance_url"]
    assert client.identity_url.endswith(f"/id/{org['org_id']}/{org['users'][0]['id']}")
    assert counter(empty_sandbox, "salesforce.client:leadline") == 1

    settings.SALESFORCE_CLIENT_NAME = "leadline-eu"
    response = client.get("limits", headers={"Sforce-Call-Options": "defaultNamespace=ll"})
    assert response.status == 200
    assert counter(empty_sandbox, "salesforce.client:leadline-eu") == 1

    settings.SALESFORCE_TIMEOUT = (0.5, 0.2)
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/limits", delay=1.0, times=0)
    with pytest.raises(SalesforceUnavailable, match="did not answer"):
        client.limits()


def test_the_api_version_is_a_setting(client, settings):
    settings.SALESFORCE_API_VERSION = "64.0"
    assert client.data_path == "/services/data/v64.0/"
    assert client.get("limits").url.endswith("/services/data/v64.0/limits")


def test_a_url_over_the_cap_is_refused_before_it_is_sent(client, empty_sandbox, settings):
    settings.SALESFORCE_URI_MAX_BYTES = 2000
    calls = counter(empty_sandbox, "salesforce.client:leadline")
    soql = "SELECT Id FROM Lead WHERE Id IN (" + ",".join(f"'00Q{n:015d}'" for n in range(200)) + ")"  # noqa: S608
    with pytest.raises(SalesforceUriTooLong):
        list(client.query_batches(soql))
    assert counter(empty_sandbox, "salesforce.client:leadline") == calls
    assert client.uri_budget() < 2000


# --- tokens -------------------------------------------------------------------------------------------------------
def test_the_token_is_shared_until_salesforce_refuses_it_then_refreshed_once(client, account, org, empty_sandbox):
    client.limits()
    SalesforceClient(account).limits()
    assert refreshes(empty_sandbox, org) == 1
    sessions_end(empty_sandbox, org)
    assert client.limits()  # 401 INVALID_SESSION_ID -> one refresh, the call repeated
    assert refreshes(empty_sandbox, org) == 2
    connection = connection_of(account)
    assert connection.state == SalesforceConnection.State.CONNECTED
    assert connection.last_refreshed_at is not None


def test_userinfo_with_an_ended_session_refreshes_once_too(client, org, empty_sandbox):
    client.limits()
    sessions_end(empty_sandbox, org)  # userinfo says so with 403 Bad_OAuth_Token, not 401
    claims = client.get("/services/oauth2/userinfo").json()
    assert claims["organization_id"] == org["org_id"]
    assert refreshes(empty_sandbox, org) == 2


def test_rotation_stores_the_new_refresh_token_encrypted_and_the_old_one_is_dead(organization, empty_sandbox):
    org = sf_org(empty_sandbox, rotation=True)
    account = sf_account(organization, org)
    first = org["refresh_token"]
    SalesforceClient(account).limits()
    stored = tokens.reveal(ProviderAccount.unscoped_objects.get(pk=account.pk).refresh_token)
    assert stored
    assert stored != first
    assert tokens.reveal(account.refresh_token) == stored  # the caller's instance too
    with connection.cursor() as cursor:
        cursor.execute("SELECT refresh_token FROM studios_provideraccount WHERE id = %s", [account.pk])
        raw = cursor.fetchone()[0]
    assert stored not in raw
    assert first not in raw
    old = token_post(empty_sandbox, org, first)
    assert old.status_code == 400
    assert old.json()["error"] == "invalid_grant"

    # The next refresh (another process, holding a stale account) uses the stored token, not its own copy.
    stale = ProviderAccount.unscoped_objects.get(pk=account.pk)
    stale.refresh_token = first
    sessions_end(empty_sandbox, org)
    SalesforceClient(stale).limits()
    third = tokens.reveal(ProviderAccount.unscoped_objects.get(pk=account.pk).refresh_token)
    assert third not in (first, stored)
    assert refreshes(empty_sandbox, org) == 2
    assert connection_of(account).state == SalesforceConnection.State.CONNECTED


@pytest.mark.django_db(transaction=True)
def test_a_rotated_refresh_token_survives_the_callers_rollback(empty_sandbox):
    org = sf_org(empty_sandbox, rotation=True)
    account = sf_account(OrganizationFactory(slug="rollback-sf"), org)

    class Boom(Exception):
        pass

    def view() -> None:  # a view under ATOMIC_REQUESTS that fails after the call
        with transaction.atomic():
            SalesforceClient(account, priority=Priority.INTERACTIVE).limits()
            raise Boom

    with pytest.raises(Boom):
        view()
    stored = tokens.reveal(ProviderAccount.unscoped_objects.get(pk=account.pk).refresh_token)
    assert stored != org["refresh_token"]
    assert token_post(empty_sandbox, org, stored).status_code == 200


def test_invalid_grant_needs_reauth_once_and_is_crm_auth_error(client, account, org, empty_sandbox):
    grant_revoke(empty_sandbox, org)
    with pytest.raises(SalesforceAuthError, match="reconnect Salesforce") as caught:
        client.limits()
    assert caught.value.error_code == "invalid_grant"
    assert isinstance(to_crm_error(caught.value), CrmAuthError)
    connection = connection_of(account)
    assert connection.state == SalesforceConnection.State.NEEDS_REAUTH
    assert "invalid_grant" in connection.last_error
    refused = counter(empty_sandbox, f"salesforce.token:invalid_grant:{org['org_id']}")
    with pytest.raises(SalesforceAuthError):
        SalesforceClient(account).limits()
    assert counter(empty_sandbox, f"salesforce.token:invalid_grant:{org['org_id']}") == refused  # not asked again


def test_a_fresh_token_refused_again_needs_reauth(client, account, empty_sandbox):
    body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/limits", status=401, body=body, times=2)
    with pytest.raises(SalesforceAuthError, match="fresh access token"):
        client.limits()
    assert connection_of(account).state == SalesforceConnection.State.NEEDS_REAUTH


def test_a_foreign_instance_url_is_refused_and_never_called(organization, empty_sandbox):
    org = sf_org(empty_sandbox, instance_host="localhost")
    # A manager's account (no custom endpoints): the login host is trusted, the instance it names is not Salesforce.
    account = sf_account(organization, org, api_domain="", custom_endpoints=False)
    with pytest.raises(SalesforceAuthError, match="not a Salesforce host") as caught:
        SalesforceClient(account).limits()
    assert caught.value.error_code == "INSTANCE_URL_REFUSED"
    assert counter(empty_sandbox, "salesforce.client:leadline") == 0
    assert connection_of(account).state == SalesforceConnection.State.NEEDS_REAUTH
    assert ProviderAccount.unscoped_objects.get(pk=account.pk).api_domain == ""
    assert tokens.access_token_peek(account=account) is None


def test_salesforce_instances_are_allowed_and_other_hosts_are_not(organization, empty_sandbox):
    org = sf_org(empty_sandbox)
    account = sf_account(organization, org, custom_endpoints=False)
    for url in ("https://acme.my.salesforce.com", "https://acme--uat.sandbox.my.salesforce.com"):
        assert tokens.instance_url_accepted(account=account, url=url) == url
    for url in ("https://evil.example", "https://my.salesforce.com.evil.example", "http://acme.my.salesforce.com"):
        with pytest.raises(SalesforceAuthError):
            tokens.instance_url_accepted(account=account, url=url)


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_workers_refresh_once(empty_sandbox):
    org = sf_org(empty_sandbox, rotation=True)
    account = sf_account(OrganizationFactory(slug="concurrent-sf"), org)
    errors: list[BaseException] = []

    def run_workers(rounds: int) -> None:
        start = threading.Barrier(20)

        def worker() -> None:
            try:
                mine = ProviderAccount.unscoped_objects.get(pk=account.pk)  # each process loads its own
                start.wait()
                for _ in range(rounds):
                    SalesforceClient(mine).limits()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()  # each thread has its own database connection

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors

    run_workers(2)
    assert refreshes(empty_sandbox, org) == 1
    # Sessions revoked mid-run: every worker sees a 401, and one refresh (one rotation) happens.
    sessions_end(empty_sandbox, org)
    run_workers(1)
    assert refreshes(empty_sandbox, org) == 2
    stored = tokens.reveal(ProviderAccount.unscoped_objects.get(pk=account.pk).refresh_token)
    assert token_post(empty_sandbox, org, stored).status_code == 200  # the stored token is the live one


def test_the_login_host_down_is_unavailable_and_asked_once_for_many(client, account, org, empty_sandbox):
    fault(empty_sandbox, path=r"^/services/oauth2/token$", status=503, times=0)
    with pytest.raises(SalesforceUnavailable, match="503") as caught:
        client.limits()
    assert caught.value.retry_after > 0
    assert isinstance(to_crm_error(caught.value), CrmUnavailable)
    with pytest.raises(SalesforceUnavailable):
        SalesforceClient(account).limits()  # the cooldown spares the login host
    assert connection_of(account).state == SalesforceConnection.State.CONNECTED
    control(empty_sandbox, "DELETE", "faults")
    tokens.token_cache_clear(account=account)
    assert client.limits()


def test_a_refresh_held_too_long_by_another_process_is_unavailable(client, account, settings):
    settings.SALESFORCE_TOKEN_LOCK_WAIT_SECONDS = 0.2
    cache.add(f"salesforce:token:{account.pk}:lock", "another-process", timeout=30)
    with pytest.raises(SalesforceUnavailable, match="another process"):
        client.limits()


def test_the_token_is_only_ever_sent_to_the_instance_or_the_login_host(client, org):
    with pytest.raises(SalesforceRejected, match="refused to send"):
        client.get("https://evil.example/services/data/v66.0/limits")
    assert client.get(f"{org['instance_url']}/services/data/v66.0/limits").status == 200


# --- queries and locators -----------------------------------------------------------------------------------------
def seed_leads(server: Any, org: dict[str, Any], count: int) -> list[str]:
    return seed.seed(org["org"], "Lead", count)


def test_query_batches_follow_the_locator(client, org, empty_sandbox):
    ids = seed_leads(empty_sandbox, org, 450)
    batches = list(client.query_batches("SELECT Id, LastName FROM Lead ORDER BY Id", batch_size=200))
    assert [len(batch) for batch in batches] == [200, 200, 50]
    assert [record["Id"] for batch in batches for record in batch] == sorted(ids)
    assert client.query_records("SELECT Id FROM Lead WHERE LastName != null LIMIT 10")


def test_a_refresh_kills_the_locator_and_the_caller_restarts(client, account, org, empty_sandbox):
    seed_leads(empty_sandbox, org, 450)
    pages = client.query_batches("SELECT Id FROM Lead ORDER BY Id", batch_size=200)
    first = next(pages)
    old = tokens.access_token_peek(account=account)
    # Another process refreshes (its session had expired): ours ends, and so does our locator.
    tokens.access_token_invalidate(account=account, token=old.token)
    SalesforceClient(account).limits()
    before = refreshes(empty_sandbox, org)
    with pytest.raises(SalesforceLocatorLost):
        next(pages)
    assert refreshes(empty_sandbox, org) == before  # the other process's token was live: no second refresh
    # The caller restarts from its own keyset with a live token.
    rest = client.query_records(f"SELECT Id FROM Lead WHERE Id > '{first[-1]['Id']}' ORDER BY Id")  # noqa: S608
    assert len(first) + len(rest) == 450


def test_a_session_revoked_under_the_locator_refreshes_before_it_says_lost(client, account, org, empty_sandbox):
    seed_leads(empty_sandbox, org, 300)
    pages = client.query_batches("SELECT Id FROM Lead ORDER BY Id", batch_size=200)
    next(pages)
    old = tokens.access_token_peek(account=account)
    sessions_end(empty_sandbox, org)
    with pytest.raises(SalesforceLocatorLost):
        next(pages)
    fresh = tokens.access_token_peek(account=account)
    assert fresh is not None
    assert fresh.token != old.token


def test_an_evicted_locator_is_lost_too(client, org, empty_sandbox):
    seed_leads(empty_sandbox, org, 250)
    first = client.query_batches("SELECT Id FROM Lead ORDER BY Id", batch_size=200)
    next(first)
    others = [client.query_batches("SELECT Id FROM Lead ORDER BY Id", batch_size=200) for _ in range(10)]
    for pages in others:
        next(pages)  # ten more open cursors for the same user evict the first
    with pytest.raises(SalesforceLocatorLost) as caught:
        next(first)
    assert isinstance(to_crm_error(caught.value), CrmUnavailable)


def test_query_records_restarts_a_lost_query_from_the_start(account, org, empty_sandbox, sleeps):
    seed_leads(empty_sandbox, org, 250)
    session = make_session("salesforce-test", timeout=(5.0, 30.0))
    ended: list[str] = []

    def end_sessions_after_the_first_batch(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/query?" in response.url and not ended:  # a refresh elsewhere ends the session of our locator
            ended.append(response.url)
            sessions_end(empty_sandbox, org)

    session.hooks["response"].append(end_sessions_after_the_first_batch)
    client = SalesforceClient(account, sleep=sleeps, session=session)
    records = client.query_records("SELECT Id FROM Lead ORDER BY Id", batch_size=200)
    assert ended
    assert len(records) == 250
    assert len({record["Id"] for record in records}) == 250


# --- retries ------------------------------------------------------------------------------------------------------
def assert_schedule(delays: list[float], jitter: float = 0.25) -> None:
    for n, delay in enumerate(delays):
        assert 2**n <= delay <= 2**n * (1 + jitter), delays


def test_backoff_schedule():
    delays = backoff_delays(attempts=4, base=1.0, jitter=0.25, rng=random.Random(3))
    assert_schedule(delays)
    assert len(delays) == 4


def test_a_5xx_burst_is_retried_with_backoff(client, empty_sandbox, sleeps):
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/limits", status=503, times=2)
    assert client.limits()
    assert len(sleeps) == 2
    assert_schedule(sleeps)


def test_persistent_5xx_gives_up_on_the_full_schedule_as_unavailable(client, empty_sandbox, sleeps):
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/limits", status=500, times=0)
    with pytest.raises(SalesforceUnavailable) as caught:
        client.limits()
    assert len(sleeps) == 4
    assert_schedule(sleeps)
    assert isinstance(to_crm_error(caught.value), CrmUnavailable)


def test_a_create_is_not_repeated_after_a_500_but_is_after_a_lock(client, empty_sandbox, sleeps):
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/sobjects/Lead", method="POST", status=500, times=1)
    with pytest.raises(SalesforceUnavailable):
        client.post("sobjects/Lead", json={"LastName": "Once", "Company": "Acme"})
    assert sleeps == []
    locked = [{"message": "unable to obtain exclusive access to this record", "errorCode": "UNABLE_TO_LOCK_ROW"}]
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/sobjects/Lead", method="POST", status=400, body=locked)
    created = client.post("sobjects/Lead", json={"LastName": "Twice", "Company": "Acme"})
    assert created.status == 201
    assert created.json()["success"]
    assert len(sleeps) == 1


def test_the_concurrent_long_request_limit_is_waited_out_not_a_block(client, account, empty_sandbox, sleeps):
    busy = [{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fault(empty_sandbox, path=r"/services/data/v[\d.]+/limits", status=403, body=busy, times=1)
    assert client.limits()
    assert len(sleeps) == 1
    assert connection_of(account).limit_blocked_until is None


def test_errors_are_typed_and_translated(client, org, empty_sandbox):
    with pytest.raises(SalesforceNotFound) as caught:
        client.get("sobjects/Lead/00Q000000000000AAA")
    assert isinstance(to_crm_error(caught.value), CrmNotFound)
    with pytest.raises(SalesforceRejected) as caught:
        client.query_records("SELECT Nope__c FROM Lead")
    assert caught.value.error_code in ("INVALID_FIELD", "MALFORMED_QUERY")
    assert isinstance(to_crm_error(caught.value), CrmRejected)
    with pytest.raises(SalesforceRejected) as caught:
        client.post("sobjects/Lead", json={"LastName": "X", "Company": "Acme", "Bogus__c": 1})
    crm_error = to_crm_error(caught.value)
    assert isinstance(crm_error, CrmRejected)
    assert crm_error.provider == "salesforce"


# --- the allocation -----------------------------------------------------------------------------------------------
def test_background_stops_at_its_share_interactive_goes_on_and_a_403_blocks(organization, empty_sandbox, sleeps):
    org = sf_org(empty_sandbox, daily_api_requests=10)
    account = sf_account(organization, org)
    background = SalesforceClient(account, sleep=sleeps)
    interactive = SalesforceClient(account, priority=Priority.INTERACTIVE, sleep=sleeps)
    for _ in range(8):
        background.limits()
    with pytest.raises(SalesforceLimitExceeded) as caught:
        background.limits()  # 8 of 10 used: the background share (0.8) is spent
    assert caught.value.error_code == "BUDGET_EXCEEDED"
    quota = to_crm_error(caught.value)
    assert isinstance(quota, CrmQuotaExhausted)
    assert quota.retry_after > 0
    connection = connection_of(account)
    assert (connection.api_usage, connection.api_limit) == (1, 10)  # written once a minute at most: the first

    interactive.limits()
    interactive.limits()
    with pytest.raises(SalesforceLimitExceeded) as caught:
        interactive.limits()  # Salesforce's own 403 REQUEST_LIMIT_EXCEEDED
    assert caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert caught.value.retry_after == 3600  # SALESFORCE_LIMIT_BLOCK_SECONDS
    blocked = connection_of(account).limit_blocked_until
    assert blocked is not None
    refused = counter(empty_sandbox, f"salesforce.limit_exceeded:{org['org_id']}")

    org["org"].set_api_usage(0)
    with pytest.raises(SalesforceLimitExceeded, match="waits until"):
        background.limits()  # blocked: not even asked
    assert counter(empty_sandbox, f"salesforce.limit_exceeded:{org['org_id']}") == refused
    interactive.limits()  # a person may try; it works, so the block is lifted
    assert connection_of(account).limit_blocked_until is None
    background.limits()


def test_usage_is_parsed_from_the_header():
    assert limits.limit_info_parse("api-usage=18/15000") == (18, 15000)
    assert limits.limit_info_parse("api-usage=25/5000, per-app-api-usage=17/250(appName=sample)") == (25, 5000)
    assert limits.limit_info_parse("per-app-api-usage=17/250(appName=sample)") is None


# --- translation --------------------------------------------------------------------------------------------------
def test_every_salesforce_error_translates_to_one_crm_error():
    rejected = to_crm_error(SalesforceRejected("bad", error_code="INVALID_FIELD", fields=["Email"], status=400))
    assert isinstance(rejected, CrmRejected)
    assert rejected.field_errors == {"Email": "bad"}
    limit = to_crm_error(SalesforceLimitExceeded("used up", retry_after=60))
    assert isinstance(limit, CrmQuotaExhausted)
    assert limit.retry_after == 60
    assert isinstance(to_crm_error(SalesforceUnavailable("down", status=429)), CrmUnavailable)
    assert isinstance(to_crm_error(ValueError("x")), type(to_crm_error(ValueError("y"))))
