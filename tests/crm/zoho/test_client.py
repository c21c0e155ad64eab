"""The CRM client against the sandbox over real HTTP: tokens mid-run, retries, limits, typed errors, methods."""

import logging
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest

from django.db import connection

from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoBudgetExceeded,
    ZohoCreditsExhausted,
    ZohoRateLimited,
    ZohoRecordError,
    ZohoRequestError,
    ZohoScopeError,
    ZohoUnavailable,
)
from crm.providers.zoho.limits import Priority, credits_used
from crm.providers.zoho.models import ZohoConnection
from crm.providers.zoho.transport import backoff_delays
from sandbox import worlds
from tests.crm.zoho.conftest import control, crm_account, minted
from tests.factories import OrganizationFactory
from tests.log_events import logged_events


class Sleeps(list):
    """An injected sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(account, sleeps):
    return ZohoClient(account=account, sleep=sleeps, rng=random.Random(7))


def assert_schedule(delays, jitter=0.25):
    """1, 2, 4, 8, 16 s, each stretched by at most `jitter` of itself, and not all exactly on the powers."""
    assert len(delays) <= 5
    for n, delay in enumerate(delays):
        assert 2**n <= delay <= 2**n * (1 + jitter), delays
    assert any(delay != 2**n for n, delay in enumerate(delays))


# --- basics ---------------------------------------------------------------------------------------------------
def test_current_user_org_users_and_fields(client):
    me = client.user_current()
    assert me["id"] == worlds.DEMO_USERS[0]["id"]
    assert client.org_get()["id"] == worlds.DEMO_ZOHO_ORG_ID
    assert {user["id"] for user in client.users_list()} == {user["id"] for user in worlds.DEMO_USERS}
    names = {field["api_name"] for field in client.fields_get(module="Leads")}
    assert {"Last_Name", "Mobile", "Owner"} <= names


def test_every_call_sends_the_zoho_oauthtoken_header_and_a_timeout(client, account):
    seen = {}
    original = client.session.request

    def spy(method, url, **kwargs):
        seen.update(kwargs)
        return original(method, url, **kwargs)

    client.session.request = spy
    try:
        client.org_get()
    finally:
        client.session.request = original
    assert seen["headers"]["Authorization"].startswith("Zoho-oauthtoken 1000.")
    assert seen["timeout"] == (5.0, 30.0)


def test_wrong_api_domain_is_corrected_from_the_token_answer(organization, sandbox):
    # An operator pointed the account at the sandbox, so the sandbox's answer may name its own origin.
    account = crm_account(organization, sandbox, api_domain="https://www.zohoapis.eu", custom_endpoints=True)
    assert ZohoClient(account=account).org_get()["id"] == worlds.DEMO_ZOHO_ORG_ID
    account.refresh_from_db()
    assert account.api_domain == sandbox.url


def test_a_voice_account_is_not_a_crm_client(organization, sandbox):
    voice = crm_account(organization, sandbox, kind="zoho_voice", api_domain="", api_base_url=sandbox.url)
    with pytest.raises(ValueError, match="not a Zoho CRM account"):
        ZohoClient(account=voice)


# --- tokens mid-run -------------------------------------------------------------------------------------------
def test_token_expiry_mid_run_refreshes_once_and_carries_on(client, sandbox, sleeps):
    client.org_get()
    control(sandbox, "POST", "clock", {"advance_seconds": 3700})  # Zoho's clock: the cached token has expired
    assert client.user_current()["id"] == worlds.DEMO_USERS[0]["id"]
    client.org_get()
    assert minted(sandbox) == 2
    assert sleeps == []


def test_tokens_revoked_mid_pagination_are_replaced_and_paging_continues(empty_account, empty_sandbox, sleeps):
    control(empty_sandbox, "POST", "zoho/seed", {"module": "Leads", "count": 1500, "seed": 3})
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "after": 2, "action": "revoke_tokens"})
    client = ZohoClient(account=empty_account, sleep=sleeps)
    ids = [record["id"] for record in client.coql_iter(module="Leads", fields=["Last_Name"], page_size=200)]
    assert len(ids) == len(set(ids)) == 1500
    assert minted(empty_sandbox) == 2


def test_revoked_refresh_token_mid_run_marks_needs_reauth(client, sandbox, caplog):
    client.org_get()
    sandbox.state.accounts.revoke_refresh_token(worlds.DEMO_CRM_REFRESH_TOKEN)
    with caplog.at_level(logging.ERROR), pytest.raises(ZohoAuthError, match="revoked"):
        client.org_get()
    connection_row = ZohoConnection.objects.unscoped().get(account=client.account)
    assert connection_row.state == ZohoConnection.State.NEEDS_REAUTH
    assert "zoho.connection.needs_reauth" in logged_events(caplog.records)


def test_a_second_401_after_a_fresh_token_marks_needs_reauth_and_alerts(client, sandbox, caplog):
    client.org_get()
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "status": 401, "times": 0})
    with caplog.at_level(logging.ERROR), pytest.raises(ZohoAuthError):
        client.org_get()
    assert sandbox.state.counters["fault:/crm/v8/org"] == 2  # the call and one retry with a fresh token
    assert minted(sandbox) == 2
    assert ZohoConnection.objects.unscoped().get(account=client.account).state == "needs_reauth"
    assert "zoho.connection.needs_reauth" in logged_events(caplog.records)


def test_scope_mismatch_is_not_retried_and_needs_reauth(organization, sandbox):
    other = control(sandbox, "POST", "zoho/orgs", {"name": "Narrow Scope Fitness"})
    refresh = sandbox.state.accounts.refresh_tokens[other["refresh_token"]]
    refresh.scopes = ("ZohoCRM.users.READ",)
    account = crm_account(
        organization,
        sandbox,
        client_id=other["client_id"],
        client_secret=other["client_secret"],
        refresh_token=other["refresh_token"],
    )
    with pytest.raises(ZohoScopeError):
        ZohoClient(account=account).org_get()
    assert minted(sandbox, other["refresh_token"]) == 1
    assert ZohoConnection.objects.unscoped().get(account=account).state == "needs_reauth"


# --- retries --------------------------------------------------------------------------------------------------
def test_backoff_schedule_is_1_2_4_8_16_seconds_with_jitter():
    delays = backoff_delays(attempts=5, base=1.0, jitter=0.25, rng=random.Random(1))
    assert_schedule(delays)
    assert len(delays) == 5
    assert backoff_delays(attempts=5, base=1.0, jitter=0.25, rng=random.Random(2)) != delays


def test_a_429_burst_is_retried_with_backoff_then_succeeds(client, sandbox, sleeps):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "status": 429, "times": 3})
    assert client.org_get()["id"] == worlds.DEMO_ZOHO_ORG_ID
    assert len(sleeps) == 3
    assert_schedule(sleeps)


def test_persistent_5xx_gives_up_after_five_retries_on_the_full_schedule(client, sandbox, sleeps):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "status": 500, "times": 0})
    with pytest.raises(ZohoUnavailable, match="500") as caught:
        client.org_get()
    assert not isinstance(caught.value, ZohoRateLimited)
    assert sandbox.state.counters["fault:/crm/v8/org"] == 6  # one call and five retries
    assert len(sleeps) == 5
    assert_schedule(sleeps)


def test_persistent_429_raises_rate_limited(client, sandbox, sleeps):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "status": 429, "times": 0})
    with pytest.raises(ZohoRateLimited):
        client.org_get()
    assert len(sleeps) == 5


def test_a_timeout_is_retried(client, sandbox, sleeps, settings):
    settings.ZOHO_HTTP_READ_TIMEOUT_SECONDS = 0.3
    client.org_get()  # the token is fetched before the fault applies
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "delay": 1.0, "times": 1})
    assert client.org_get()["id"] == worlds.DEMO_ZOHO_ORG_ID
    assert len(sleeps) == 1
    assert 1 <= sleeps[0] <= 1.25


def test_an_insert_is_not_repeated_after_a_5xx(client, sandbox, sleeps):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/Tasks", "method": "POST", "status": 500})
    with pytest.raises(ZohoUnavailable):
        client.task_create(subject="Call back")
    assert sleeps == []
    assert sandbox.state.counters["fault:/crm/v8/Tasks"] == 1


def test_an_insert_is_retried_after_a_429(client, sandbox, sleeps):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/Tasks", "method": "POST", "status": 429})
    assert client.task_create(subject="Call back")
    assert len(sleeps) == 1


def test_bad_requests_are_typed_and_not_retried(client, sleeps):
    with pytest.raises(ZohoRequestError) as caught:
        client.coql(query="select Nope from Leads where id is not null")
    assert caught.value.status == 400
    assert caught.value.code == "INVALID_QUERY"
    assert sleeps == []


# --- credits and concurrency ----------------------------------------------------------------------------------
def test_credit_budget_refuses_background_work_at_its_share_and_keeps_credits_for_interactive(
    account, sandbox, settings, sleeps
):
    settings.ZOHO_API_CREDITS_PER_DAY = 10
    settings.ZOHO_BACKGROUND_CREDIT_SHARE = 0.5
    background = ZohoClient(account=account, priority=Priority.BACKGROUND, sleep=sleeps)
    interactive = ZohoClient(account=account, priority=Priority.INTERACTIVE, sleep=sleeps)
    for _ in range(5):
        background.org_get()
    with pytest.raises(ZohoBudgetExceeded, match="background"):
        background.org_get()
    for _ in range(5):
        interactive.org_get()
    with pytest.raises(ZohoBudgetExceeded, match="interactive"):
        interactive.org_get()
    assert credits_used(organization_id=account.organization_id) == 10
    assert sandbox.state.counters[f"credits:{worlds.DEMO_ZOHO_ORG_ID}"] == 10
    assert sleeps == []


def test_calls_zoho_does_not_charge_are_not_counted(client, account, sandbox):
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "status": 500, "times": 2})
    client.org_get()
    assert credits_used(organization_id=account.organization_id) == 1


def test_coql_is_counted_at_its_price(client, account):
    client.coql(query="select Last_Name from Leads where id is not null limit 2000", limit=2000)
    assert credits_used(organization_id=account.organization_id) == 3


def test_the_connection_can_override_the_credit_pool(account, settings):
    from crm.providers.zoho.services import connection_for_account

    connection_row = connection_for_account(account=account)
    connection_row.credit_limit = 2
    connection_row.save()
    client = ZohoClient(account=account, priority=Priority.INTERACTIVE)
    client.org_get()
    client.org_get()
    with pytest.raises(ZohoBudgetExceeded):
        client.org_get()


def test_zohos_own_credit_exhaustion_is_not_retried(client, sandbox, sleeps):
    control(sandbox, "PATCH", "config", {"api_credits_per_day": 1})
    client.org_get()
    with pytest.raises(ZohoCreditsExhausted):
        client.org_get()
    assert sleeps == []


@pytest.mark.django_db(transaction=True)
def test_concurrency_cap_keeps_twenty_threads_within_the_per_organization_limit(sandbox, settings):
    settings.ZOHO_CONCURRENCY_PER_ORG = 3
    control(sandbox, "POST", "faults", {"path": "^/crm/v8/org", "delay": 0.15, "times": 0})
    account = crm_account(OrganizationFactory(slug="busy"), sandbox)
    ZohoClient(account=account).user_current()  # one token for everyone
    in_flight, peak, lock = [0], [0], threading.Lock()
    errors = []

    def worker():
        client = ZohoClient(account=account)
        original = client.session.request

        def counting(method, url, **kwargs):
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            try:
                return original(method, url, **kwargs)
            finally:
                with lock:
                    in_flight[0] -= 1

        client.session = type("Counting", (), {"request": staticmethod(counting)})()
        try:
            client.org_get()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert peak[0] == 3


# --- records --------------------------------------------------------------------------------------------------
def test_search_by_phone_finds_the_lead_in_any_typed_form(client, sandbox):
    control(
        sandbox,
        "POST",
        "zoho/leads",
        {"Last_Name": "Phoneson", "Mobile": "4155550177", "Owner": {"id": worlds.DEMO_USERS[1]["id"]}},
    )
    found = client.records_search_by_phone(module="Leads", phone="+14155550177")
    assert [record["Last_Name"] for record in found] == ["Phoneson"]
    assert client.records_search_by_phone(module="Leads", phone="+14155550999") == []


def test_record_get_task_and_note(client, sandbox):
    lead = control(sandbox, "POST", "zoho/leads", {"Last_Name": "Noted", "Mobile": "4155550178"})
    assert client.record_get(module="Leads", record_id=lead["id"])["Last_Name"] == "Noted"
    assert client.record_get(module="Leads", record_id="4150868999999999999") is None
    task_id = client.task_create(
        subject="Follow up",
        due_date="2026-12-01",
        owner_id=worlds.DEMO_USERS[1]["id"],
        what_id=lead["id"],
        what_module="Leads",
    )
    task = client.record_get(module="Tasks", record_id=task_id)
    assert task["What_Id"]["id"] == lead["id"]
    note_id = client.note_create(parent_module="Leads", parent_id=lead["id"], title="SMS", content="Hello")
    assert client.record_get(module="Notes", record_id=note_id)["Note_Content"] == "Hello"
    with pytest.raises(ZohoRecordError) as caught:
        client.records_insert(module="Tasks", records=[{"Status": "Not Started"}])
    assert caught.value.results[0]["code"] == "MANDATORY_NOT_FOUND"


def test_deleted_records(client, sandbox):
    lead = control(sandbox, "POST", "zoho/leads", {"Last_Name": "Gone"})
    control(sandbox, "DELETE", f"zoho/Leads/{lead['id']}")
    deleted = list(client.deleted_records(module="Leads"))
    assert lead["id"] in {entry["id"] for entry in deleted}
    later = datetime.now(UTC) + timedelta(days=1)
    assert list(client.deleted_records(module="Leads", since=later)) == []


def test_bulk_read_job_to_zip(client, sandbox):
    import io
    import zipfile

    job = client.bulk_read_create(module="Leads", fields=["Last_Name"])
    assert job["state"] == "ADDED"
    control(sandbox, "POST", f"zoho/bulk/{job['id']}/complete")
    assert client.bulk_read_get(job_id=job["id"])["state"] == "COMPLETED"
    archive = zipfile.ZipFile(io.BytesIO(client.bulk_read_download(job_id=job["id"])))
    header = archive.read(archive.namelist()[0]).decode().splitlines()[0]
    assert header.startswith('"id"') or header.startswith("id")


def test_notifications_enable_renew_disable(client, sandbox):
    expires = datetime.now(UTC) + timedelta(hours=6)
    arguments = {
        "channel_id": 1000000068001,
        "events": ["Leads.all"],
        "notify_url": "https://leadline.test/webhooks/zoho/notify/abc",
        "token": "per-tenant-secret",
    }
    enabled = client.watch_enable(**arguments, expires_at=expires)
    assert enabled["code"] == "SUCCESS"
    renewed = client.watch_renew(**arguments, expires_at=expires + timedelta(hours=6))
    assert renewed["status"] == "success"
    assert any(entry["channel_id"] == "1000000068001" for entry in client.watch_list())
    client.watch_disable(channel_ids=[1000000068001])
    assert client.watch_list() == []
