"""The Salesforce provider under the shared sync engine (sync.delta.sync_run), against the emulator over real HTTP:
a late commit behind the cursor caught by the overlap, getDeleted no longer reaching back (ids reconciled), the
org's allocation used up mid-run (paused, resumed from the checkpoint), and randomized edits, deletes and faults
after which the mirror equals Salesforce field by field."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from django.core.cache import cache
from django.utils import timezone

from crm.providers.salesforce.models import SalesforceConnection
from crm.records import Cursor
from crm.registry import provider_for
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from tests.crm.harness_salesforce import QUERY_PATH, control

# The run reads in a background thread (sync/prefetch.py) whose own database connection writes what the client
# learns (the allocation seen, a 403 block) to the connection row: committed data, so no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

LEAD = "lead"
PHONE_FORMATS = ("(415) 555-{:04d}", "+1 415 555 {:04d}", "415.555.{:04d}", "4155550{:03d}")


def tick(server, seconds: float = 1.01) -> None:
    """SystemModstamp has whole seconds: the emulator's clock moves so the next write lands after what was read."""
    control(server, "POST", "clock", {"advance_seconds": seconds})


def run(organization, account, sleeps) -> SyncRun:
    return sync_run(organization=organization, object=LEAD, provider=provider_for(account, sleep=sleeps))


def mirrored(account) -> dict[str, CrmRecord]:
    rows = CrmRecord.objects.unscoped().filter(connection=account, object=LEAD, deleted_at__isnull=True)
    return {row.external_id: row for row in rows}


def state_of(account) -> SyncState:
    return SyncState.objects.unscoped().get(connection=account, object=LEAD)


def test_a_late_commit_behind_the_cursor_is_caught_by_the_overlap(sf, sf_account, organization, empty_sandbox, sleeps):
    ids = sf.seed("Lead", 40)
    assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK
    tick(empty_sandbox, 5)
    sf.update("Lead", [ids[0]], {"Title": "Edited on time"})
    assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK
    watermark = state_of(sf_account).watermark
    # A long transaction commits now what it stamped 20 seconds ago: behind the watermark.
    late = sf.update("Lead", [ids[1]], {"Title": "Committed late"}, late_seconds=20)
    assert late < watermark
    provider = provider_for(sf_account, sleep=sleeps)
    exact = provider.changed_since(object=LEAD, cursor=Cursor(modified_time=watermark, record_id=ids[0]))
    assert ids[1] not in [record.id for record in exact.records]  # a cursor without overlap misses it
    after = run(organization, sf_account, sleeps)
    assert after.status == SyncRun.Status.OK
    assert mirrored(sf_account)[ids[1]].fields["title"] == "Committed late"


def test_deletions_past_the_getdeleted_history_are_found_by_reconciling_ids(
    sf, sf_account, organization, empty_sandbox, sleeps
):
    ids = sf.seed("Lead", 25)
    assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK
    sf.delete("Lead", ids[0])
    assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK
    assert ids[0] not in mirrored(sf_account)
    assert state_of(sf_account).deleted_watermark is not None
    tick(empty_sandbox, 120)
    sf.delete("Lead", ids[1])
    tick(empty_sandbox, 120)
    # Salesforce purged its delete log (it does when the log grows): earliestDateAvailable is now after the last
    # run, and ids[1]'s deletion is no longer listed.
    sf.call("POST", "/deleted-log/purge", {"before": control(empty_sandbox, "GET", "clock")["now"]})
    after = run(organization, sf_account, sleeps)
    assert after.status == SyncRun.Status.OK, after.error
    assert ids[1] not in mirrored(sf_account)
    assert len(mirrored(sf_account)) == len(ids) - 2
    assert "reconciled" in after.error


def test_the_allocation_used_up_mid_run_pauses_it_and_the_next_run_resumes(
    sf, sf_account, organization, empty_sandbox, sleeps, settings
):
    settings.SALESFORCE_BACKGROUND_SHARE = 1.0  # background may use it all: Salesforce's 403 stops the run
    settings.SYNC_BATCH_SIZE = 100  # the mirror commits every 100 records
    ids = sf.seed("Lead", 1000)  # the wide Lead: pages of 200
    # Other integrations of the org use up the rest of its allocation while the run reads its third page.
    control(empty_sandbox, "POST", "faults", {"path": QUERY_PATH, "after": 2, "status": 403, "times": 0})
    paused = run(organization, sf_account, sleeps)
    assert paused.status == SyncRun.Status.PAUSED, paused.error
    assert "allocation" in paused.error
    held = mirrored(sf_account)
    assert 0 < len(held) < len(ids)  # what was read before the limit is kept
    connection = SalesforceConnection.objects.unscoped().get(account=sf_account)
    assert connection.limit_blocked_until is not None  # shown in the admin; background work waits for it
    assert state_of(sf_account).paused_until is not None
    again = run(organization, sf_account, sleeps)  # still blocked: no call is made, the run pauses again
    assert again.status == SyncRun.Status.PAUSED
    # Hours later the rolling window has room again.
    control(empty_sandbox, "DELETE", "faults")
    SalesforceConnection.objects.unscoped().filter(pk=connection.pk).update(limit_blocked_until=None)
    cache.clear()
    resumed = run(organization, sf_account, sleeps)
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert sorted(mirrored(sf_account)) == sorted(ids)


def test_background_work_stops_before_the_org_allocation_does(sf, sf_account, organization, sleeps, settings):
    settings.SALESFORCE_BACKGROUND_SHARE = 0.8
    sf.seed("Lead", 600)
    sf.settings(daily_api_requests=1000, api_usage=797)
    paused = run(organization, sf_account, sleeps)
    assert paused.status == SyncRun.Status.PAUSED, paused.error
    assert "background" in paused.error
    org = next(org for org in control(sf.server, "GET", "salesforce/orgs") if org["org_id"] == sf.org_id)
    assert org["api_usage"] < 1000  # people still have the rest of the allocation


@pytest.mark.parametrize("seed", [15])
def test_randomized_edits_deletes_and_faults_leave_the_mirror_equal_to_salesforce(
    sf, sf_account, organization, empty_sandbox, sleeps, seed
):
    rng = random.Random(seed)
    control(empty_sandbox, "PATCH", "config", {"sf_query_batch_size_long_text": 50})  # answers smaller than asked
    live = set(sf.seed("Lead", 120, seed=seed))
    untouched = set(live)  # seeded days ago: a late commit stamps them behind the cursor, never behind themselves
    for round_number in range(5):
        tick(empty_sandbox)
        chosen = rng.sample(sorted(live), 21)
        untouched -= set(chosen)
        sf.update("Lead", chosen[:8], {"Rating": rng.choice(["Hot", "Warm", "Cold"]), "Title": f"round {round_number}"})
        phone = rng.choice(PHONE_FORMATS).format(rng.randrange(100, 999))
        sf.update("Lead", chosen[8:16], {"MobilePhone": phone, "SMS_Opt_Out__c": rng.random() < 0.5})
        late = rng.sample(sorted(untouched), 2)
        untouched -= set(late)
        sf.update("Lead", late, {"Description": f"late in round {round_number}"}, late_seconds=15)
        for record_id in chosen[18:21]:
            sf.delete("Lead", record_id)
            live.discard(record_id)
        live.update(
            sf.insert(
                "Lead",
                [
                    {"LastName": f"New {round_number}-{index}", "Company": "Fuzz Co", "MobilePhone": phone}
                    for index in range(3)
                ],
            )
        )
        fault = rng.choice(["503", "revoke", "none"])
        if fault == "503":
            control(empty_sandbox, "POST", "faults", {"path": QUERY_PATH, "status": 503, "times": 1})
        elif fault == "revoke":
            control(empty_sandbox, "POST", "faults", {"path": QUERY_PATH, "times": 1, "action": "sf_revoke_sessions"})
        outcome = run(organization, sf_account, sleeps)
        if outcome.status != SyncRun.Status.OK:  # a fault the client's retries did not absorb: the next run does
            assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK
    control(empty_sandbox, "DELETE", "faults")
    assert run(organization, sf_account, sleeps).status == SyncRun.Status.OK

    mirror = mirrored(sf_account)
    assert sorted(mirror) == sorted(live)
    provider = provider_for(sf_account, sleep=sleeps)
    columns = set(provider._mapping("Lead").by_name)
    phones = {}
    for row in CrmPhone.objects.unscoped().filter(connection=sf_account, object=LEAD):
        phones.setdefault(row.external_id, {})[row.field] = row.e164
    for record_id in sorted(live):
        held = {name: value for name, value in sf.read("Lead", record_id).items() if name in columns}
        expected = provider.to_canonical(object=LEAD, record=held)
        row = mirror[record_id]
        assert row.modified_time == expected.modified_time, record_id
        assert (row.name, row.email, row.owner_id) == (expected.name, expected.email, expected.owner_id)
        assert row.fields == expected.fields, record_id
        assert row.custom_fields == expected.custom_fields, record_id
        assert phones.get(record_id, {}) == dict(expected.phones), record_id
    assert timezone.now() - state_of(sf_account).watermark < timedelta(days=1)


def test_a_first_load_by_bulk_export_then_deltas_from_its_request_time(
    sf, sf_account, organization, empty_sandbox, sleeps, monkeypatch
):
    from sync import backfill

    monkeypatch.setattr(backfill, "POLL_FIRST_SECONDS", 0.05)
    control(empty_sandbox, "PATCH", "config", {"sf_bulk_seconds_per_state": 0})
    ids = sf.seed("Lead", 150)
    loaded = backfill.backfill_run(
        organization=organization, object=LEAD, provider=provider_for(sf_account, sleep=sleeps)
    )
    assert loaded.status == SyncRun.Status.OK, loaded.error
    assert sorted(mirrored(sf_account)) == sorted(ids)
    tick(empty_sandbox)
    sf.update("Lead", [ids[3]], {"Title": "After the export"})
    after = run(organization, sf_account, sleeps)
    assert after.status == SyncRun.Status.OK, after.error
    assert mirrored(sf_account)[ids[3]].fields["title"] == "After the export"
    assert after.inserted == 0
