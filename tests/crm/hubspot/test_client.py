"""The HubSpot client's transport without the emulator: scripted answers (test_client_fakes.py) check what each call
sends, how each failure is retried or turned into a typed error, and the batch shapes."""

from __future__ import annotations

import pytest
import requests

from crm.errors import CrmAuthError, CrmQuotaExhausted, CrmRateLimited, CrmUnavailable
from crm.providers.hubspot import limits
from crm.providers.hubspot.client import BATCH_MAX, HubSpotClient
from crm.providers.hubspot.errors import (
    HubSpotAuthError,
    HubSpotDailyLimit,
    HubSpotMissingScopes,
    HubSpotNotFound,
    HubSpotRateLimited,
    HubSpotSearchCapReached,
    HubSpotUnavailable,
    translate,
)
from crm.records import Priority
from tests.crm.harness import SleepRecorder
from tests.crm.hubspot.test_client_fakes import (  # noqa: F401 (fixtures)
    API,
    answer,
    clean_cache_fixture,
    fake_fixture,
    hs_account_fixture,
    window,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def client_of(account, fake, sleeps, **kwargs) -> HubSpotClient:
    return HubSpotClient(account, session=fake, sleep=sleeps, **kwargs)


# --- paths and what every call carries -------------------------------------------------------------------------------
def test_date_versioned_paths_by_default_and_v3_by_setting(hs_account, fake, sleeps, settings):
    client = client_of(hs_account, fake, sleeps)
    client.objects_page("contacts", properties=("email", "phone"), after="50")
    client.properties("contacts")
    client.associations_read("contacts", "companies", ["1"])
    client.owners()
    settings.HUBSPOT_API_VERSION = "v3"
    legacy = client_of(hs_account, fake, sleeps)
    legacy.objects_page("contacts")
    legacy.associations_read("deals", "contacts", ["2"])
    legacy.owners()
    urls = [call["url"] for call in fake.calls]
    assert urls == [
        f"{API}/crm/objects/2026-03/contacts",
        f"{API}/crm/properties/2026-03/contacts",
        f"{API}/crm/associations/2026-03/contacts/companies/batch/read",
        f"{API}/crm/owners/2026-03/",
        f"{API}/crm/v3/objects/contacts",
        f"{API}/crm/v4/associations/deals/contacts/batch/read",
        f"{API}/crm/v3/owners/",
    ]
    assert fake.calls[0]["params"] == {"limit": 100, "archived": "false", "after": "50", "properties": "email,phone"}


def test_an_unknown_api_version_is_refused(hs_account, fake, sleeps, settings):
    settings.HUBSPOT_API_VERSION = "v9"
    with pytest.raises(ValueError, match="HUBSPOT_API_VERSION"):
        client_of(hs_account, fake, sleeps)


def test_every_call_carries_the_bearer_token_and_is_counted(hs_account, fake, sleeps):
    client = client_of(hs_account, fake, sleeps)
    client.object_get("contacts", "101", properties=("email",))
    client.search("contacts", {"limit": 200})
    assert fake.bearer_tokens == ["Bearer at-1", "Bearer at-1"]
    assert len(fake.token_calls) == 1  # one refresh, then the cached token
    assert fake.token_calls[0]["data"] == {
        "grant_type": "refresh_token",
        "client_id": "client-1",
        "client_secret": "secret-1",
        "refresh_token": "rt-1",
    }
    assert client.calls == 2


def test_a_long_property_list_goes_in_a_post_body(hs_account, fake, sleeps):
    names = tuple(f"custom_property_number_{n}" for n in range(400))  # > 8,000 bytes in a URL
    fake.queue(
        answer(200, {"results": [{"id": "1", "properties": {}}], "paging": {"next": {"after": "2"}}}),
        answer(200, {"status": "COMPLETE", "results": [{"id": "1", "properties": {"custom_property_number_7": "x"}}]}),
    )
    page = client_of(hs_account, fake, sleeps).objects_page("contacts", properties=names)
    assert "properties" not in fake.calls[0]["params"]
    assert fake.calls[1]["url"].endswith("/contacts/batch/read")
    assert fake.calls[1]["json"]["properties"] == list(names)
    assert page.results[0]["properties"] == {"custom_property_number_7": "x"}
    assert page.after == "2"


# --- tokens on the way --------------------------------------------------------------------------------------------
def test_a_401_refreshes_once_and_repeats(hs_account, fake, sleeps):
    fake.queue(
        answer(401, {"status": "error", "category": "EXPIRED_AUTHENTICATION", "message": "expired"}),
        answer(200, {"id": "101", "properties": {}}),
    )
    record = client_of(hs_account, fake, sleeps).object_get("contacts", "101")
    assert record["id"] == "101"
    assert fake.bearer_tokens == ["Bearer at-1", "Bearer at-2"]
    assert sleeps.waits == []


def test_a_fresh_token_refused_again_needs_a_person(hs_account, fake, sleeps):
    from crm.providers.hubspot.models import HubSpotConnection

    refused = {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}
    fake.queue(answer(401, refused), answer(401, refused))
    with pytest.raises(HubSpotAuthError) as caught:
        client_of(hs_account, fake, sleeps).object_get("contacts", "101")
    assert isinstance(translate(caught.value), CrmAuthError)
    assert HubSpotConnection.unscoped_objects.get(account=hs_account).state == "needs_reauth"


def test_a_missing_scope_is_an_auth_error_naming_it(hs_account, fake, sleeps):
    fake.queue(
        answer(
            403,
            {
                "status": "error",
                "category": "MISSING_SCOPES",
                "message": "This app hasn't been granted all required scopes",
                "errors": [{"message": "missing", "context": {"requiredScopes": ["crm.objects.owners.read"]}}],
            },
        )
    )
    with pytest.raises(HubSpotMissingScopes) as caught:
        client_of(hs_account, fake, sleeps).owners()
    assert caught.value.scopes == ["crm.objects.owners.read"]
    assert translate(caught.value).details["missing_scopes"] == ["crm.objects.owners.read"]


# --- 429s by policy -------------------------------------------------------------------------------------------
TEN_SECONDLY = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "policyName": "TEN_SECONDLY_ROLLING",
}


def test_ten_secondly_429_waits_for_the_window_then_goes(hs_account, fake, sleeps):
    fake.queue(answer(429, TEN_SECONDLY, window(0)), answer(200, {"id": "1"}, window(40)))
    assert client_of(hs_account, fake, sleeps).object_get("contacts", "1") == {"id": "1"}
    assert sleeps.waits == [10.0]  # the interval (no Retry-After), within the SDK's 10 s x attempt


def test_ten_secondly_429_honours_retry_after(hs_account, fake, sleeps):
    fake.queue(answer(429, TEN_SECONDLY, {**window(0), "Retry-After": "3"}), answer(200, {"id": "1"}))
    client_of(hs_account, fake, sleeps, priority=Priority.INTERACTIVE).object_get("contacts", "1")
    assert sleeps.waits == [3.0]


def test_ten_secondly_429_forever_is_rate_limited_after_the_retries(hs_account, fake, sleeps, settings):
    settings.HUBSPOT_RETRY_ATTEMPTS = 3
    fake.route = lambda *_: answer(429, TEN_SECONDLY, {**window(0), "Retry-After": "2"})
    client = client_of(hs_account, fake, sleeps, priority=Priority.INTERACTIVE)
    with pytest.raises(HubSpotRateLimited) as caught:
        client.object_get("contacts", "1")
    assert caught.value.policy == "TEN_SECONDLY_ROLLING"
    assert client.calls == 4
    assert sleeps.waits == [2.0, 2.0, 2.0]  # what its Retry-After said, each time
    crm_error = translate(caught.value)
    assert isinstance(crm_error, CrmRateLimited)
    assert not isinstance(crm_error, CrmQuotaExhausted)
    assert crm_error.retry_after == 2.0


def test_daily_429_is_not_retried_and_blocks_background_work_until_midnight(hs_account, fake, sleeps):
    daily = {**TEN_SECONDLY, "policyName": "DAILY", "message": "You have reached your daily limit."}
    fake.queue(answer(429, daily))
    background = client_of(hs_account, fake, sleeps)
    with pytest.raises(HubSpotDailyLimit) as caught:
        background.object_get("contacts", "1")
    crm_error = translate(caught.value)
    assert isinstance(crm_error, CrmQuotaExhausted)
    assert 0 < crm_error.retry_after <= 3600  # the portal's zone unknown: the next whole hour
    assert background.calls == 1
    assert sleeps.waits == []
    with pytest.raises(HubSpotDailyLimit):  # refused before calling
        background.object_get("contacts", "1")
    assert background.calls == 1
    # A person's call still tries; its success lifts the block.
    interactive = client_of(hs_account, fake, sleeps, priority=Priority.INTERACTIVE)
    interactive.object_get("contacts", "1")
    background.object_get("contacts", "1")
    assert background.calls == 2


def test_search_secondly_429_waits_one_second(hs_account, fake, sleeps):
    secondly = {"status": "error", "message": "You have reached your secondly limit.", "category": "RATE_LIMITS"}
    fake.queue(answer(429, secondly), answer(200, {"total": 0, "results": []}))
    page = client_of(hs_account, fake, sleeps).search("contacts", {"limit": 10})
    assert page.total == 0
    assert 1.0 in sleeps.waits


def test_search_past_ten_thousand_is_the_cap_error(hs_account, fake, sleeps):
    body = {"status": "error", "category": "VALIDATION_ERROR", "message": "Cannot page past 10000 results."}
    fake.queue(answer(400, body))
    with pytest.raises(HubSpotSearchCapReached):
        client_of(hs_account, fake, sleeps).search("contacts", {"after": "10000"})


# --- 5xx, 423, timeouts -----------------------------------------------------------------------------------------
def test_5xx_backs_off_growing_and_bounded(hs_account, fake, sleeps, settings):
    settings.HUBSPOT_RETRY_ATTEMPTS = 3
    fake.route = lambda *_: answer(502, {"status": "error", "message": "Bad gateway"})
    with pytest.raises(HubSpotUnavailable) as caught:
        client_of(hs_account, fake, sleeps).object_get("contacts", "1")
    assert isinstance(translate(caught.value), CrmUnavailable)
    assert len(sleeps.waits) == 3
    assert sleeps.waits[0] < sleeps.waits[1] < sleeps.waits[2] <= 2.0


def test_a_create_is_not_repeated_after_a_5xx(hs_account, fake, sleeps):
    fake.queue(answer(504, {"status": "error", "message": "timeout"}))
    client = client_of(hs_account, fake, sleeps)
    with pytest.raises(HubSpotUnavailable):
        client.object_create("tasks", {"hs_task_subject": "Call"})
    assert client.calls == 1


def test_locked_423_waits_two_seconds(hs_account, fake, sleeps):
    fake.queue(answer(423, {"status": "error", "message": "Locked"}), answer(200, {"id": "9"}))
    client_of(hs_account, fake, sleeps).object_update("contacts", "9", {"phone": ""})
    assert sleeps.waits == [2.0]
    assert fake.calls[-1]["json"] == {"properties": {"phone": ""}}


def test_a_connection_that_never_reached_is_retried_even_for_a_create(hs_account, fake, sleeps):
    fake.queue(requests.ConnectTimeout("no connection"), answer(201, {"id": "5"}))
    assert client_of(hs_account, fake, sleeps).object_create("tasks", {"a": "b"}) == {"id": "5"}


def test_a_timeout_of_a_create_is_not_repeated(hs_account, fake, sleeps):
    fake.queue(requests.ReadTimeout("slow"))
    with pytest.raises(HubSpotUnavailable):
        client_of(hs_account, fake, sleeps).object_create("tasks", {"a": "b"})


# --- the rate window between workers --------------------------------------------------------------------------------
def test_background_calls_yield_when_the_window_is_low_and_people_go(hs_account, fake, sleeps):
    fake.queue(answer(200, {"id": "1"}, window(5)))  # 5 of 100 left: below the 20% reserve
    people = client_of(hs_account, fake, sleeps, priority=Priority.INTERACTIVE)
    people.object_get("contacts", "1")
    people.object_get("contacts", "1")
    assert sleeps.waits == []
    client_of(hs_account, fake, sleeps).object_get("contacts", "1")
    assert len(sleeps.waits) == 1
    assert 9.5 < sleeps.waits[0] <= 10.0  # until the window surely frees


def test_background_gives_up_after_its_longest_wait(hs_account, fake, sleeps, settings):
    settings.HUBSPOT_BACKGROUND_WAIT_SECONDS = 0.5
    fake.queue(answer(200, {"id": "1"}, window(0)))
    client_of(hs_account, fake, sleeps, priority=Priority.INTERACTIVE).object_get("contacts", "1")
    with pytest.raises(HubSpotRateLimited) as caught:
        client_of(hs_account, fake, sleeps).object_get("contacts", "1")
    assert caught.value.category == "BACKGROUND_RESERVE"


def test_searches_are_spaced_by_the_portal_limit(hs_account, fake, sleeps, settings):
    settings.HUBSPOT_SEARCH_PER_SECOND = 4
    client = client_of(hs_account, fake, sleeps)
    for _ in range(9):
        client.search("contacts", {"limit": 1})
    # 9 searches take 9 slots of 0.25 s: the later ones wait, none twice in one slot.
    assert len(sleeps.waits) >= 7
    assert limits.SECONDLY == "SECONDLY"


# --- batches, associations, owners, token info -----------------------------------------------------------------------
def test_batch_read_splits_ids_and_keeps_per_item_errors(hs_account, fake, sleeps):
    ids = [str(n) for n in range(1, BATCH_MAX + 6)]
    missing = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found", "context": {"ids": ["7"]}}
    fake.queue(
        answer(
            207,
            {"status": "COMPLETE", "results": [{"id": n} for n in ids[:BATCH_MAX] if n != "7"], "errors": [missing]},
        ),
        answer(200, {"status": "COMPLETE", "results": [{"id": n} for n in ids[BATCH_MAX:]]}),
    )
    batch = client_of(hs_account, fake, sleeps).batch_read("contacts", ids, properties=("email",), archived=True)
    assert len(batch.results) == len(ids) - 1
    assert list(batch.error_ids()) == ["7"]
    assert [len(call["json"]["inputs"]) for call in fake.calls] == [BATCH_MAX, 5]
    assert fake.calls[0]["params"] == {"archived": "true"}


def test_batch_writes_take_one_batch_and_report_item_errors(hs_account, fake, sleeps):
    client = client_of(hs_account, fake, sleeps)
    with pytest.raises(ValueError, match="at most 100 inputs"):
        client.batch_create("communications", [{"properties": {}}] * (BATCH_MAX + 1))
    fake.queue(
        answer(
            207,
            {
                "status": "COMPLETE",
                "results": [{"id": "1", "new": True}],
                "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "bad", "id": "x@y"}],
                "numErrors": 1,
            },
        )
    )
    upsert = client.batch_upsert("contacts", [{"id": "a@b", "idProperty": "email", "properties": {}}] * 2)
    assert upsert.results == [{"id": "1", "new": True}]
    assert upsert.error_ids() == {"x@y": upsert.errors[0]}
    assert fake.calls[-1]["url"].endswith("/crm/objects/2026-03/contacts/batch/upsert")


def test_associations_follow_each_ids_paging(hs_account, fake, sleeps):
    fake.queue(
        answer(
            207,
            {
                "results": [
                    {"from": {"id": "1"}, "to": [{"toObjectId": 11}], "paging": {"next": {"after": "p2"}}},
                    {"from": {"id": "2"}, "to": [{"toObjectId": 21}, {"toObjectId": 22}]},
                ],
                "errors": [{"category": "OBJECT_NOT_FOUND", "context": {"fromObjectId": ["3"]}}],
            },
        ),
        answer(200, {"results": [{"from": {"id": "1"}, "to": [{"toObjectId": 12}]}]}),
    )
    found = client_of(hs_account, fake, sleeps).associations_read("contacts", "companies", ["1", "2", "3"])
    assert found == {"1": ["11", "12"], "2": ["21", "22"], "3": []}
    assert fake.calls[1]["json"] == {"inputs": [{"id": "1", "after": "p2"}]}


def test_owners_pages_and_owner_by_user_id(hs_account, fake, sleeps):
    fake.queue(
        answer(200, {"results": [{"id": "o1"}], "paging": {"next": {"after": "1"}}}),
        answer(200, {"results": [{"id": "o2"}]}),
        answer(200, {"id": "o2", "userId": 77}),
        answer(404, {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "no owner"}),
    )
    client = client_of(hs_account, fake, sleeps)
    assert [owner["id"] for owner in client.owners()] == ["o1", "o2"]
    assert client.owner_by_user_id(77) == {"id": "o2", "userId": 77}
    assert fake.calls[2]["url"].endswith("/crm/owners/2026-03/77")
    assert fake.calls[2]["params"] == {"idProperty": "userId"}
    assert client.owner_by_user_id(78) is None


def test_not_found_and_archive(hs_account, fake, sleeps):
    fake.queue(answer(404, {"category": "OBJECT_NOT_FOUND", "message": "gone"}), answer(204), answer(404, {}))
    client = client_of(hs_account, fake, sleeps)
    with pytest.raises(HubSpotNotFound):
        client.object_get("contacts", "404")
    assert client.object_archive("contacts", "1") is True
    assert client.object_archive("contacts", "1") is False


def test_token_info_sends_no_bearer(hs_account, fake, sleeps):
    fake.queue(answer(200, {"hub_id": 62515, "user_id": 77, "token": "at-1"}))
    info = client_of(hs_account, fake, sleeps).token_info()
    assert info["hub_id"] == 62515
    assert fake.calls[0]["url"] == f"{API}/oauth/v1/access-tokens/at-1"
    assert "Authorization" not in fake.calls[0]["headers"]


def test_a_paging_link_elsewhere_never_gets_the_token(hs_account, fake, sleeps):
    from crm.providers.hubspot.errors import HubSpotRejected

    with pytest.raises(HubSpotRejected):
        client_of(hs_account, fake, sleeps).get("https://evil.example/crm/v3/objects/contacts")
    assert fake.calls == []
