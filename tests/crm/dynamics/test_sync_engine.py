"""The Dynamics provider under the shared sync engine (sync.delta.sync_run, which takes sync/tracked.py's path for a
table Dataverse tracks changes of), against the emulator over real HTTP: a delta link with creates, updates and
deletes; an expired change token read again in full with nothing lost or doubled; service protection's 429s with a
growing Retry-After each waited out before the next request (the emulator's own counters say none came early); the
environment's request slots never exceeded by parallel runs; a back-dated modifiedon caught by change tracking; and
randomized edits, deletes and faults after which the mirror equals what Dataverse holds, record by record."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest

from django.core.cache import cache
from django.db import connection as db_connection

from crm.providers.dynamics.models import DynamicsConnection
from crm.registry import provider_for
from sandbox.kit.faults import FaultAction
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from tests.crm.dynamics.conftest import sandbox_config
from tests.crm.harness_dynamics import leads_path
from tests.crm.harness_hubspot import control

# The run reads in a background thread (sync/prefetch.py) with its own database connection: committed data only.
pytestmark = pytest.mark.django_db(transaction=True)

LEAD = "lead"
PHONE_FORMATS = ("(415) 555-{:04d}", "+1 415-555-{:04d}", "415555{:04d}", "+44 20 7946 {:04d}")
EXPIRE_ACTION = "eng_dv_expire_change_tokens"
EDIT_ACTION = "dv_edit_records"  # the emulator's own: people edit rows while a sync pages
THROTTLED = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}


def run(organization, account, sleep, object: str = LEAD) -> SyncRun:
    done = sync_run(organization=organization, object=object, provider=provider_for(account, sleep=sleep))
    done.refresh_from_db()
    return done


def ok(done: SyncRun) -> SyncRun:
    assert done.status == SyncRun.Status.OK, done.error
    return done


def mirrored(account, object: str = LEAD) -> dict[str, CrmRecord]:
    rows = CrmRecord.objects.unscoped().filter(connection=account, object=object, deleted_at__isnull=True)
    return {row.external_id: row for row in rows}


def state_of(account, object: str = LEAD) -> SyncState:
    return SyncState.objects.unscoped().get(connection=account, object=object)


def limits_of(dv) -> dict[str, Any]:
    """Service protection's counters for Leadline's application user in the environment."""
    summary = control(dv.server, "GET", f"dynamics/environments/{dv.name}/limits")
    return summary.get(dv.application_user_id.lower()) or {}


def expire_change_tokens(dv) -> None:
    """Every delta token issued so far expires (the emulator's control: tokens read from now on are valid)."""
    control(dv.server, "POST", f"dynamics/environments/{dv.name}/expire-change-tokens")


def expire_tokens_action(dv) -> FaultAction:
    """Dataverse forgets the changes every delta token stands for (the org's retention passed) just as a call comes;
    what the control API does, from inside the emulator's request."""

    def expire(rule: Any) -> None:
        environment = dv.environment
        with environment.lock:
            environment.token_floor_version = environment.next_version()

    return FaultAction(EXPIRE_ACTION, expire, {})


def test_a_delta_link_brings_creates_updates_and_deletes(dv, dv_account, organization, sleeps):
    ids = dv.seed(LEAD, 120)
    first = ok(run(organization, dv_account, sleeps))
    assert (first.inserted, first.updated, first.deleted) == (120, 0, 0)
    assert sorted(mirrored(dv_account)) == sorted(ids)
    token = state_of(dv_account).change_token
    assert "$deltatoken=" in token

    dv.advance(5)
    created = [dv.create(LEAD, {"firstname": "Nia", "lastname": f"New {index}"}) for index in range(3)]
    for record_id in ids[:4]:
        dv.update(LEAD, record_id, {"jobtitle": "Front desk"})
    for record_id in ids[4:6]:
        dv.delete(LEAD, record_id)
    before = limits_of(dv).get("requests", 0)
    second = ok(run(organization, dv_account, sleeps))
    assert (second.inserted, second.updated, second.deleted) == (3, 4, 2)
    assert limits_of(dv)["requests"] - before <= 3  # the delta link's one page (and the metadata once at most)
    rows = mirrored(dv_account)
    assert sorted(rows) == sorted([*ids[6:], *ids[:4], *created]) == dv.ids(LEAD)
    assert {rows[record_id].fields.get("job_title") for record_id in ids[:4]} == {"Front desk"}
    gone = CrmRecord.objects.unscoped().filter(connection=dv_account, object=LEAD, external_id__in=ids[4:6])
    assert all(row.deleted_at is not None for row in gone)
    assert state_of(dv_account).change_token not in ("", token)
    # Nothing changed since: the next delta is empty and writes nothing.
    third = ok(run(organization, dv_account, sleeps))
    assert (third.inserted, third.updated, third.deleted) == (0, 0, 0)


def test_a_delta_larger_than_a_page_follows_its_next_links(dv, dv_server, dv_account, organization, sleeps, settings):
    settings.SYNC_TRACKED_PAGE_SIZE = 40
    ids = dv.seed(LEAD, 100)
    ok(run(organization, dv_account, sleeps))
    dv.advance(5)
    for record_id in ids[:90]:
        dv.update(LEAD, record_id, {"jobtitle": "Paged"})
    for record_id in ids[90:95]:
        dv.delete(LEAD, record_id)
    after = ok(run(organization, dv_account, sleeps))
    assert (after.updated, after.deleted) == (90, 5)
    rows = mirrored(dv_account)
    assert sorted(rows) == dv.ids(LEAD)
    assert sum(1 for row in rows.values() if row.fields.get("job_title") == "Paged") == 90


@pytest.mark.parametrize("how", ["control", "age"])
def test_an_expired_change_token_is_read_again_in_full_nothing_lost_nothing_doubled(
    dv, dv_server, dv_account, organization, sleeps, how
):
    ids = dv.seed(LEAD, 150)
    ok(run(organization, dv_account, sleeps))
    dv.advance(5)
    created = [dv.create(LEAD, {"lastname": f"While away {index}"}) for index in range(5)]
    for record_id in ids[:5]:
        dv.update(LEAD, record_id, {"jobtitle": "Changed while away"})
    for record_id in ids[5:10]:
        dv.delete(LEAD, record_id)
    if how == "control":
        expire_change_tokens(dv)
    else:  # the token is older than the organization keeps changes
        sandbox_config(dv_server, dv_change_tracking_days=1)
        dv.advance(2 * 86_400)
    resynced = ok(run(organization, dv_account, sleeps))
    assert "change tracking expired: full resync" in resynced.error
    assert "5 marked deleted" in resynced.error
    assert (resynced.inserted, resynced.updated, resynced.deleted) == (5, 5, 5)
    rows = mirrored(dv_account)
    assert sorted(rows) == sorted([*ids[10:], *ids[:5], *created]) == dv.ids(LEAD)
    everything = CrmRecord.objects.unscoped().filter(connection=dv_account, object=LEAD)
    assert everything.count() == 155  # one row per record, the deleted ones kept as deleted
    assert {rows[record_id].fields.get("job_title") for record_id in ids[:5]} == {"Changed while away"}
    # The full read's token works: the next run is a delta again.
    dv.advance(5)
    dv.update(LEAD, ids[20], {"jobtitle": "After the resync"})
    again = ok(run(organization, dv_account, sleeps))
    assert (again.inserted, again.updated, again.deleted) == (0, 1, 0)
    assert "resync" not in again.error


def test_service_protections_429s_are_waited_out_before_the_next_request(
    dv, dv_server, dv_account, organization, sleeps, settings
):
    """Dataverse's own limit (five requests in 30 seconds here): every 429's Retry-After is waited in full before the
    client asks again, so the emulator never saw a request from a blocked user (which would grow the wait)."""
    settings.SYNC_TRACKED_PAGE_SIZE = 25
    ids = dv.seed(LEAD, 300)
    sandbox_config(dv_server, dv_requests_per_window=5, dv_window_seconds=30, dv_retry_after_seconds=5)
    done = ok(run(organization, dv_account, sleeps))
    assert sorted(mirrored(dv_account)) == sorted(ids)
    counters = limits_of(dv)
    assert counters["refused_requests"] >= 2, counters
    assert counters["sent_while_blocked"] == 0, counters
    # Each Retry-After the emulator sent was slept in full (the client may add a hair for rounding).
    waits = list(sleeps.waits)
    for seconds in counters["retry_after"]:
        matching = [wait for wait in waits if seconds <= wait <= seconds + 1]
        assert matching, (seconds, waits)
        waits.remove(matching[0])
    assert done.inserted == 300


def test_a_growing_retry_after_is_honoured_each_time(dv, dv_server, dv_account, organization, sleeps, monkeypatch):
    """429s whose Retry-After grows (1, 2, 4, 8 s: what a client that kept sending would be told): the emulator
    notes when each refusal and every later request arrived on its clock (which only the client's waits move), and
    no request came before the Retry-After it was last given had passed."""
    import sandbox.dynamics.limits as emulated_limits

    clock = dv_server.state.clock
    arrivals: list[tuple[float, float]] = []  # (sandbox time, the Retry-After sent: 0 for a request let through)

    def refused(rule: Any) -> None:
        arrivals.append((clock.timestamp(), float(rule.headers["Retry-After"])))

    admit = emulated_limits.request_admit

    def admitted(call):
        arrivals.append((clock.timestamp(), 0.0))
        return admit(call)

    monkeypatch.setattr(emulated_limits, "request_admit", admitted)
    dv_server.state.faults.register(FaultAction("eng_dv_throttled", refused, {}))
    ids = dv.seed(LEAD, 60)
    path = leads_path(dv)
    for seconds in (1, 2, 4, 8):
        rule = {"path": path, "method": "GET", "status": 429, "body": THROTTLED, "times": 1}
        rule.update(headers={"Retry-After": str(seconds)}, action="eng_dv_throttled")
        control(dv_server, "POST", "faults", rule)
    done = ok(run(organization, dv_account, sleeps))
    assert sorted(mirrored(dv_account)) == sorted(ids)
    assert done.inserted == 60
    assert [rule["fired"] for rule in control(dv_server, "GET", "faults")] == [1, 1, 1, 1]
    assert [seconds for _, seconds in arrivals if seconds] == [1, 2, 4, 8]
    for index, (moment, seconds) in enumerate(arrivals):
        if seconds:
            after = [when for when, _ in arrivals[index + 1 :]]
            assert after, arrivals  # the client asked again
            assert min(after) >= moment + seconds, (index, arrivals)  # never before the Retry-After had passed
    assert [round(wait) for wait in sleeps.waits if wait >= 1][:4] == [1, 2, 4, 8], sleeps.waits


def test_a_retry_after_longer_than_a_run_may_wait_ends_it_and_nothing_is_sent_before_it(
    dv, dv_server, dv_account, organization, sleeps, settings, monkeypatch
):
    """A Retry-After of 15 minutes: the run stops (what it wrote stays), the block is shown on the connection, and
    a run started meanwhile sends nothing; once the block is over the next run completes the mirror."""
    import sandbox.dynamics.limits as emulated_limits

    settings.SYNC_TRACKED_PAGE_SIZE = 20
    ids = dv.seed(LEAD, 100)
    arrivals: list[str] = []
    admit = emulated_limits.request_admit

    def admitted(call):
        arrivals.append(call.request.path)
        return admit(call)

    monkeypatch.setattr(emulated_limits, "request_admit", admitted)
    rule = {"path": leads_path(dv), "method": "GET", "status": 429, "body": THROTTLED, "times": 1, "after": 2}
    control(dv_server, "POST", "faults", {**rule, "headers": {"Retry-After": "900"}})
    stopped = run(organization, dv_account, sleeps)
    assert stopped.status != SyncRun.Status.OK
    assert "CrmRateLimited" in stopped.error
    assert "0x80072322" in stopped.error
    assert 20 <= len(mirrored(dv_account)) < 100  # the pages read before the 429 are kept
    connection = DynamicsConnection.objects.unscoped().get(account=dv_account)
    assert connection.limit_blocked_until is not None
    assert all(wait < 900 for wait in sleeps.waits)  # nobody sat out the 15 minutes inline
    arrivals.clear()
    meanwhile = run(organization, dv_account, sleeps)
    assert meanwhile.status != SyncRun.Status.OK
    assert arrivals == []  # not one request while the block lasts
    # Fifteen minutes later (the shared block, kept in the cache, is over).
    dv.advance(900)
    cache.clear()
    DynamicsConnection.objects.unscoped().filter(pk=connection.pk).update(limit_blocked_until=None)
    SyncState.objects.unscoped().filter(connection=dv_account, object=LEAD).update(paused_until=None)
    ok(run(organization, dv_account, sleeps))
    assert sorted(mirrored(dv_account)) == sorted(ids)


def test_parallel_runs_never_exceed_the_environments_request_slots(
    dv, dv_server, dv_account, organization, settings, monkeypatch
):
    """Four objects mirrored at once from four threads (each with its own page prefetcher): the requests in flight
    at the emulator never pass the connection's slots, so Dataverse's concurrency limit (set to the same number) is
    never hit."""
    import sandbox.dynamics.limits as emulated_limits

    slots = 3
    settings.DYNAMICS_CONCURRENCY = slots
    settings.SYNC_TRACKED_PAGE_SIZE = 20
    sandbox_config(dv_server, dv_concurrent_requests=slots)
    answered = emulated_limits.request_done

    def slow_answer(call, elapsed_ms, response):  # a busy environment: each request stays in flight a while
        threading.Event().wait(0.03)
        answered(call, elapsed_ms, response)

    monkeypatch.setattr(emulated_limits, "request_done", slow_answer)
    objects = {"lead": "lead", "contact": "contact", "account": "account", "deal": "opportunity"}
    seeded = {name: dv.seed(table, 80) for name, table in objects.items()}
    outcomes: dict[str, SyncRun] = {}
    failures: list[BaseException] = []

    def mirror(name: str) -> None:
        try:
            outcomes[name] = run(organization, dv_account, None, object=name)
        except BaseException as exc:
            failures.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=mirror, args=(name,)) for name in objects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    for name, ids in seeded.items():
        ok(outcomes[name])
        assert sorted(mirrored(dv_account, name)) == sorted(ids), name
    counters = limits_of(dv)
    assert counters["refused_concurrency"] == 0, counters
    assert 2 <= counters["max_in_flight"] <= slots, counters


def test_a_back_dated_modifiedon_is_caught_by_change_tracking(dv, dv_account, organization, sleeps):
    """An import rewrites a lead and stamps a modifiedon older than anything the mirror holds: a modifiedon
    watermark would never see it; the delta link does (the row has a new version)."""
    ids = dv.seed(LEAD, 40)
    ok(run(organization, dv_account, sleeps))
    watermark = state_of(dv_account).watermark
    long_ago = dv.now() - timedelta(days=400)
    dv.advance(5)
    dv.update(LEAD, ids[0], {"jobtitle": "Imported", "telephone1": "(415) 555-0199"}, at=long_ago)
    dv.backdate(LEAD, ids[1:3], long_ago)  # only the stamp: Dataverse gives the rows a new version all the same
    after = ok(run(organization, dv_account, sleeps))
    assert after.updated >= 1
    row = mirrored(dv_account)[ids[0]]
    assert row.fields.get("job_title") == "Imported"
    assert row.modified_time == long_ago.replace(microsecond=0)
    phones = dict(
        CrmPhone.objects.unscoped().filter(connection=dv_account, external_id=ids[0]).values_list("field", "e164")
    )
    assert phones.get("telephone1") == "+14155550199"
    assert state_of(dv_account).watermark == watermark  # the watermark never moves back


def test_a_table_without_change_tracking_is_read_by_modifiedon_and_reconciled(
    dv, dv_server, dv_account, organization, sleeps, settings
):
    """Change tracking off for leads (an admin's choice): runs read by (modifiedon, leadid) with the overlap, a bulk
    edit stamping one modifiedon on more rows than a page included; deletions are found by the reconciliation."""
    from sync.reconcile import reconcile_run

    settings.SYNC_COQL_PAGE_SIZE = 20
    control(dv_server, "POST", f"dynamics/environments/{dv.name}/tables/lead/change-tracking", {"enabled": False})
    ids = dv.seed(LEAD, 90)
    first = ok(run(organization, dv_account, sleeps))
    assert first.inserted == 90
    assert state_of(dv_account).change_token == ""  # the modifiedon path: no token
    moment = dv.advance(5).replace(microsecond=0)
    body = {"table": LEAD, "ids": ids[:50], "at": moment.isoformat()}
    control(dv_server, "POST", f"dynamics/environments/{dv.name}/stamp", body)  # one modifiedon for 50 rows
    for record_id in ids[50:55]:
        dv.update(LEAD, record_id, {"jobtitle": "Same second"}, at=moment)
    created = dv.create(LEAD, {"lastname": "After the batch"}, at=moment)
    second = ok(run(organization, dv_account, sleeps))
    assert second.inserted == 1
    rows = mirrored(dv_account)
    assert sorted(rows) == dv.ids(LEAD)
    assert {rows[record_id].fields.get("job_title") for record_id in ids[50:55]} == {"Same second"}
    assert rows[created].modified_time == moment
    for record_id in ids[:3]:
        dv.delete(LEAD, record_id)
    ok(run(organization, dv_account, sleeps))
    reconciled = reconcile_run(organization=organization, object=LEAD, provider=provider_for(dv_account, sleep=sleeps))
    assert reconciled.status == SyncRun.Status.OK, reconciled.error
    assert sorted(mirrored(dv_account)) == dv.ids(LEAD)


@pytest.mark.parametrize("seed", [17])
def test_randomized_edits_deletes_and_faults_leave_the_mirror_equal_to_dataverse(
    dv, dv_server, dv_account, organization, sleeps, settings, seed
):
    settings.SYNC_TRACKED_PAGE_SIZE = 30
    dv_server.state.faults.register(expire_tokens_action(dv))
    rng = random.Random(seed)
    live = set(dv.seed(LEAD, 200, seed=seed))
    owners = [str(user["systemuserid"]) for user in dv.users]
    path = leads_path(dv)
    faults = ("503", "429", "expire", "edit", "none")
    for round_number in range(6):
        dv.advance(2)
        chosen = rng.sample(sorted(live), 24)
        for record_id in chosen[:8]:
            values = {"jobtitle": f"round {round_number}", "leadsourcecode": rng.choice([1, 2, 3])}
            dv.update(LEAD, record_id, values)
        phone = rng.choice(PHONE_FORMATS).format(rng.randrange(100, 9999))
        for record_id in chosen[8:14]:
            dv.update(LEAD, record_id, {"mobilephone": phone, "lh_smsoptout": rng.random() < 0.5})
        for record_id in chosen[14:18]:
            dv.update(LEAD, record_id, {"ownerid": rng.choice(owners), "ownerid@table": "systemuser"})
        # An import: values and a modifiedon long past.
        dv.update(LEAD, chosen[18], {"companyname": f"Imported {round_number}"}, at=dv.now() - timedelta(days=90))
        for record_id in chosen[19:23]:
            dv.delete(LEAD, record_id)
            live.discard(record_id)
        for index in range(3):
            live.add(dv.create(LEAD, {"lastname": f"New {round_number}-{index}", "telephone1": phone}))
        fault = faults[(round_number + seed) % len(faults)]  # each kind at least once
        if fault == "503":
            control(dv_server, "POST", "faults", {"path": path, "method": "GET", "status": 503, "times": 1})
        elif fault == "429":
            rule = {"path": path, "method": "GET", "status": 429, "body": THROTTLED, "times": 1}
            control(dv_server, "POST", "faults", {**rule, "headers": {"Retry-After": "3"}})
        elif fault == "expire":
            control(dv_server, "POST", "faults", {"path": path, "method": "GET", "times": 1, "action": EXPIRE_ACTION})
        elif fault == "edit":  # people edit leads while the pages are read
            rule = {"path": path, "method": "GET", "times": 1, "action": EDIT_ACTION, "table": LEAD, "count": 5}
            control(dv_server, "POST", "faults", rule)
        outcome = run(organization, dv_account, sleeps)
        if outcome.status != SyncRun.Status.OK:  # a fault the client's retries did not absorb: the next run does
            ok(run(organization, dv_account, sleeps))
    fired = {rule["action"] or str(rule["status"]) for rule in control(dv_server, "GET", "faults") if rule["fired"]}
    assert fired >= {"503", "429", EXPIRE_ACTION, EDIT_ACTION}, fired
    control(dv_server, "DELETE", "faults")
    dv.advance(2)
    ok(run(organization, dv_account, sleeps))

    mirror = mirrored(dv_account)
    assert sorted(mirror) == sorted(live) == dv.ids(LEAD)
    provider = provider_for(dv_account, sleep=sleeps)
    phones: dict[str, dict[str, str]] = {}
    for row in CrmPhone.objects.unscoped().filter(connection=dv_account, object=LEAD):
        phones.setdefault(row.external_id, {})[row.field] = row.e164
    for expected in provider.records(object=LEAD, record_ids=sorted(live)):
        row = mirror[expected.id]
        assert row.modified_time == expected.modified_time, expected.id
        assert (row.name, row.email, row.owner_id) == (expected.name, expected.email, expected.owner_id), expected.id
        assert row.fields == expected.fields, expected.id
        assert row.custom_fields == expected.custom_fields, expected.id
        assert phones.get(expected.id, {}) == dict(expected.phones), expected.id
