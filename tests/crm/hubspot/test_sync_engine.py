"""The HubSpot provider under the shared sync engine (sync.delta.sync_run), against the emulator over real HTTP:
12,000 contacts sharing one lastmodifieddate (HubSpot's month-end batch update) mirrored once each, the runs ending;
a search cap far below the data (windows slid, nothing missed); a 429 of each policy waited out as its body says
(the daily one pauses the object); archived contacts marked deleted; and randomized edits, archives and faults after
which the mirror equals what the provider reads from HubSpot record by record."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from django.core.cache import cache

from crm.providers.hubspot.models import HubSpotConnection
from crm.registry import provider_for
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from tests.crm.harness import SleepRecorder
from tests.crm.harness_hubspot import SEARCH_PATH, control, sandbox_advance, sandbox_now
from tests.crm.hubspot.conftest import sandbox_config

# The run reads in a background thread (sync/prefetch.py) whose own database connection writes what the client
# learns (the allowance seen, a daily block) to the connection row: committed data, so no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

LEAD = "lead"
CONTACTS = "contacts"
PHONE_FORMATS = ("(415) 555-{:04d}", "+1 415 555 {:04d}", "415.555.{:04d}", "4155550{:03d}")
TEN_SECONDLY_429 = {
    "status": "error",
    "message": "You have reached your ten_secondly_rolling limit.",
    "errorType": "RATE_LIMIT",
    "correlationId": "c0ffee00-0000-4000-8000-000000000001",
    "policyName": "TEN_SECONDLY_ROLLING",
    "requestId": "r-1",
}
DAILY_429 = {**TEN_SECONDLY_429, "message": "You have reached your daily limit.", "policyName": "DAILY"}
SECONDLY_429 = {
    "status": "error",
    "message": "You have reached your secondly limit.",
    "category": "RATE_LIMITS",
    "correlationId": "c0ffee00-0000-4000-8000-000000000002",
}


class SandboxSleep(SleepRecorder):
    """A recorded wait that also moves the sandbox's clock (its rate windows with it)."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def __call__(self, seconds: float) -> None:
        super().__call__(seconds)
        sandbox_advance(self.server, seconds)


@pytest.fixture
def sandbox_sleep(empty_sandbox) -> SandboxSleep:
    return SandboxSleep(empty_sandbox)


@pytest.fixture
def fast_search(empty_sandbox, settings):
    """Search's five a second is the limit tests' (and one test below): elsewhere it would only slow the pages."""
    sandbox_config(empty_sandbox, hs_search_requests_per_second=1000)
    settings.HUBSPOT_SEARCH_PER_SECOND = 1000


def run(organization, account, sleep) -> SyncRun:
    return sync_run(organization=organization, object=LEAD, provider=provider_for(account, sleep=sleep))


def mirrored(account) -> dict[str, CrmRecord]:
    rows = CrmRecord.objects.unscoped().filter(connection=account, object=LEAD, deleted_at__isnull=True)
    return {row.external_id: row for row in rows}


def state_of(account) -> SyncState:
    return SyncState.objects.unscoped().get(connection=account, object=LEAD)


def searches(server) -> int:
    counters = control(server, "GET", "counters")
    return sum(count for name, count in counters.items() if name.endswith("search_objects"))


def test_twelve_thousand_contacts_at_one_timestamp_are_mirrored_once_each_and_every_run_ends(
    empty_sandbox, hs, hs_account, organization, sleeps, fast_search
):
    moment = sandbox_now(empty_sandbox).replace(microsecond=0) + timedelta(seconds=5)
    hs.seed(150)
    hs.seed(12_000, same_modified=moment.isoformat())  # HubSpot's month-end batch update
    sandbox_advance(empty_sandbox, 10)
    hs.seed(50)
    before = searches(empty_sandbox)
    first = run(organization, hs_account, sleeps)
    assert first.status == SyncRun.Status.OK, first.error
    assert (first.inserted, first.updated) == (12_200, 0)
    assert len(mirrored(hs_account)) == 12_200
    assert CrmRecord.objects.unscoped().filter(connection=hs_account, object=LEAD).count() == 12_200
    used = searches(empty_sandbox) - before
    assert used <= 12_200 // 200 + 5, used  # one search a page: never restarted, never looped
    assert state_of(hs_account).watermark == moment  # the newest: the 50 seeded after were modified before it
    # The next run re-reads the overlap (the batch is within a minute of the watermark) and ends too.
    again = run(organization, hs_account, sleeps)
    assert again.status == SyncRun.Status.OK, again.error
    assert again.inserted == 0
    assert searches(empty_sandbox) - before - used <= 12_050 // 200 + 5
    assert len(mirrored(hs_account)) == 12_200


def test_a_search_cap_far_below_the_data_slides_the_windows_and_misses_nothing(
    empty_sandbox, hs, hs_account, organization, sleeps, fast_search, settings
):
    sandbox_config(empty_sandbox, hs_search_max_results=50, hs_search_page_max=20)
    settings.SYNC_COQL_PAGE_SIZE = 20
    moment = sandbox_now(empty_sandbox).replace(microsecond=0) + timedelta(seconds=5)
    hs.seed(120)
    hs.seed(130, same_modified=moment.isoformat())  # a one-timestamp batch larger than any query may page
    first = run(organization, hs_account, sleeps)
    assert first.status == SyncRun.Status.OK, first.error
    assert sorted(mirrored(hs_account), key=int) == hs.ids()
    assert first.inserted == 250
    sandbox_advance(empty_sandbox, 10)
    edited = hs.ids()[::3]
    hs.edit(CONTACTS, edited, {"jobtitle": "Slid"}, at=sandbox_advance(empty_sandbox, 1))
    for index in range(7):
        hs.create(CONTACTS, {"lastname": f"Newer {index}"})
    after = run(organization, hs_account, sleeps)
    assert after.status == SyncRun.Status.OK, after.error
    rows = mirrored(hs_account)
    assert sorted(rows, key=int) == hs.ids()
    assert {rows[record_id].fields.get("job_title") for record_id in edited} == {"Slid"}


def test_a_ten_secondly_429_is_waited_out_as_its_window_says(
    empty_sandbox, hs, hs_account, organization, sandbox_sleep, fast_search
):
    ids = hs.seed(450)
    rule = {"path": SEARCH_PATH, "status": 429, "body": TEN_SECONDLY_429, "times": 2, "after": 1}
    control(empty_sandbox, "POST", "faults", {**rule, "headers": {"Retry-After": "3"}})
    done = run(organization, hs_account, sandbox_sleep)
    assert done.status == SyncRun.Status.OK, done.error
    assert sorted(mirrored(hs_account), key=int) == ids
    assert sandbox_sleep.waits.count(3.0) == 2  # what HubSpot said, each time
    # Without a Retry-After: the window's interval, never more than HubSpot's SDKs' 10 s a try.
    sandbox_sleep.waits.clear()
    sandbox_advance(empty_sandbox, 5)
    hs.edit(CONTACTS, ids[:300], {"jobtitle": "Windowed"}, at=sandbox_advance(empty_sandbox, 1))
    control(empty_sandbox, "POST", "faults", {**rule, "times": 1})
    again = run(organization, hs_account, sandbox_sleep)
    assert again.status == SyncRun.Status.OK, again.error
    # The retry waits the whole interval, and the run's other calls wait for the window the 429 said was full.
    assert sandbox_sleep.waits[0] == 10.0
    assert max(sandbox_sleep.waits) <= 10.0
    assert {mirrored(hs_account)[record_id].fields.get("job_title") for record_id in ids[:300]} == {"Windowed"}


def test_search_s_own_secondly_429_waits_one_second(empty_sandbox, hs, hs_account, organization, sandbox_sleep):
    ids = hs.seed(300)
    control(empty_sandbox, "POST", "faults", {"path": SEARCH_PATH, "status": 429, "body": SECONDLY_429, "times": 2})
    done = run(organization, hs_account, sandbox_sleep)
    assert done.status == SyncRun.Status.OK, done.error
    assert sorted(mirrored(hs_account), key=int) == ids
    assert 1.0 in sandbox_sleep.waits  # 1 s, then longer
    assert 2.0 in sandbox_sleep.waits


def test_the_daily_429_pauses_the_object_and_a_later_run_resumes(
    empty_sandbox, hs, hs_account, organization, sandbox_sleep, fast_search, settings
):
    settings.SYNC_BATCH_SIZE = 200  # the mirror commits every 200 records
    ids = hs.seed(1000)
    control(empty_sandbox, "POST", "faults", {"path": SEARCH_PATH, "status": 429, "body": DAILY_429, "after": 2})
    paused = run(organization, hs_account, sandbox_sleep)
    assert paused.status == SyncRun.Status.PAUSED, paused.error
    held = mirrored(hs_account)
    assert 0 < len(held) < len(ids)  # what was read before the limit is kept
    connection = HubSpotConnection.objects.unscoped().get(account=hs_account)
    assert connection.limit_blocked_until is not None  # the portal's midnight: background work waits for it
    assert state_of(hs_account).paused_until is not None
    assert run(organization, hs_account, sandbox_sleep).status == SyncRun.Status.PAUSED  # still blocked
    # After the portal's midnight the day has room again.
    control(empty_sandbox, "DELETE", "faults")
    HubSpotConnection.objects.unscoped().filter(pk=connection.pk).update(limit_blocked_until=None)
    SyncState.objects.unscoped().filter(connection=hs_account, object=LEAD).update(paused_until=None)
    cache.clear()
    resumed = run(organization, hs_account, sandbox_sleep)
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert sorted(mirrored(hs_account), key=int) == ids


def test_archived_contacts_are_marked_deleted_and_a_restored_one_comes_back(
    empty_sandbox, hs, hs_account, organization, sleeps, fast_search
):
    ids = hs.seed(30)
    assert run(organization, hs_account, sleeps).status == SyncRun.Status.OK
    sandbox_advance(empty_sandbox, 5)
    hs.archive(CONTACTS, ids[0])
    hs.archive(CONTACTS, ids[1])
    after = run(organization, hs_account, sleeps)
    assert after.status == SyncRun.Status.OK, after.error
    assert after.deleted == 2
    assert sorted(mirrored(hs_account), key=int) == ids[2:]
    gone = CrmRecord.objects.unscoped().get(connection=hs_account, object=LEAD, external_id=ids[0])
    assert gone.deleted_at is not None
    sandbox_advance(empty_sandbox, 5)
    hs.call("POST", "/restore", {"object_type": CONTACTS, "id": ids[0]})
    back = run(organization, hs_account, sleeps)
    assert back.status == SyncRun.Status.OK, back.error
    assert sorted(mirrored(hs_account), key=int) == [ids[0], *ids[2:]]


@pytest.mark.parametrize("seed", [16])
def test_randomized_edits_archives_and_faults_leave_the_mirror_equal_to_hubspot(
    empty_sandbox, hs, hs_account, organization, sandbox_sleep, fast_search, seed
):
    rng = random.Random(seed)
    live = set(hs.seed(240, seed=seed))
    owners = [str(owner["id"]) for owner in hs.owners()]
    for round_number in range(5):
        sandbox_advance(empty_sandbox, 2)
        chosen = rng.sample(sorted(live), 24)
        stage = rng.choice(["lead", "marketingqualifiedlead", "customer"])
        values = {"jobtitle": f"round {round_number}", "lifecyclestage": stage}
        hs.edit(CONTACTS, chosen[:8], values, at=sandbox_now(empty_sandbox))
        phone = rng.choice(PHONE_FORMATS).format(rng.randrange(100, 999))
        for record_id in chosen[8:14]:
            hs.update(CONTACTS, record_id, {"mobilephone": phone, "leadline_sms_opt_out": rng.random() < 0.5})
        for record_id in chosen[14:18]:
            hs.update(CONTACTS, record_id, {"hubspot_owner_id": rng.choice(owners)})
        # HubSpot's own batch: one modified time for many, nothing else changed.
        hs.stamp(CONTACTS, chosen[18:21], at=sandbox_advance(empty_sandbox, 1))
        for record_id in chosen[21:24]:
            hs.archive(CONTACTS, record_id)
            live.discard(record_id)
        for index in range(3):
            created = hs.create(CONTACTS, {"lastname": f"New {round_number}-{index}", "phone": phone})
            live.add(str(created["id"]))
        fault = ("503", "expire", "edit", "none")[(round_number + seed) % 4]  # each kind at least once
        if fault == "503":
            control(empty_sandbox, "POST", "faults", {"path": SEARCH_PATH, "status": 503, "times": 1})
        elif fault == "expire":
            control(empty_sandbox, "POST", "faults", {"path": SEARCH_PATH, "times": 1, "action": "hs_expire_tokens"})
        elif fault == "edit":  # people edit contacts while the pages are read
            rule = {"path": SEARCH_PATH, "times": 1, "after": 1, "action": "hs_edit_records", "count": 5}
            control(empty_sandbox, "POST", "faults", rule)
        outcome = run(organization, hs_account, sandbox_sleep)
        if outcome.status != SyncRun.Status.OK:  # a fault the client's retries did not absorb: the next run does
            assert run(organization, hs_account, sandbox_sleep).status == SyncRun.Status.OK
    fired = {rule["action"] or str(rule["status"]) for rule in control(empty_sandbox, "GET", "faults") if rule["fired"]}
    assert fired >= {"503", "hs_expire_tokens", "hs_edit_records"}, fired
    control(empty_sandbox, "DELETE", "faults")
    sandbox_advance(empty_sandbox, 2)
    assert run(organization, hs_account, sandbox_sleep).status == SyncRun.Status.OK

    mirror = mirrored(hs_account)
    assert sorted(mirror, key=int) == sorted(live, key=int) == hs.ids()
    provider = provider_for(hs_account, sleep=sandbox_sleep)
    phones: dict[str, dict[str, str]] = {}
    for row in CrmPhone.objects.unscoped().filter(connection=hs_account, object=LEAD):
        phones.setdefault(row.external_id, {})[row.field] = row.e164
    for expected in provider.records(object=LEAD, record_ids=sorted(live, key=int)):
        row = mirror[expected.id]
        assert row.modified_time == expected.modified_time, expected.id
        assert (row.name, row.email, row.owner_id) == (expected.name, expected.email, expected.owner_id), expected.id
        assert row.fields == expected.fields, expected.id
        assert row.custom_fields == expected.custom_fields, expected.id
        assert phones.get(expected.id, {}) == dict(expected.phones), expected.id
