"""An object mirrored through its CRM's change tracking (sync/tracked.py), against an in-memory CRM with versioned
rows (tracked_double.py): a paged first load that announces nothing, deltas with creates, updates and deletes,
a killed first load that resumes at its page, and a delta whose paging link died. Expiry and resync are in
test_tracked_resync.py."""

from __future__ import annotations

import pytest

from crm.registry import connection_kinds
from studios.models import ProviderAccount
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from tests.sync.tracked_double import Killed, TrackingCrm

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(organization):
    """A CRM connection of the organization; the CRM behind it is the test's double, whatever its kind says."""
    return ProviderAccount.objects.create(
        organization=organization, name="tracking-crm", kind=connection_kinds()[0], is_default=True
    )


@pytest.fixture
def crm(connection, settings):
    settings.SYNC_TRACKED_PAGE_SIZE = 40
    settings.SYNC_BATCH_SIZE = 15  # several batches per page: the token moves only with a page's last one
    return TrackingCrm(connection)


@pytest.fixture
def announced(monkeypatch):
    from crm import hooks

    calls: list[dict] = []
    monkeypatch.setattr(hooks, "RECORDS_DISCOVERED_RECEIVERS", [lambda **kwargs: calls.append(kwargs)])
    return calls


def run(organization, crm, capture) -> SyncRun:
    with capture(execute=True):
        return sync_run(organization=organization, object="lead", provider=crm)


def state_of(organization) -> SyncState:
    return SyncState.objects.for_organization(organization).get(object="lead")


def mirror(organization) -> dict[str, CrmRecord]:
    return {row.external_id: row for row in CrmRecord.objects.for_organization(organization).filter(object="lead")}


def assert_mirror_equals(organization, crm: TrackingCrm) -> None:
    """Every live row of the CRM once, as it is now; every other mirror row marked deleted."""
    rows = mirror(organization)
    live = crm.live()
    assert {rid for rid, row in rows.items() if row.deleted_at is None} == set(live)
    for record_id, record in live.items():
        assert (rows[record_id].name, rows[record_id].modified_time) == (record.name, record.modified_time)
    phones = CrmPhone.objects.for_organization(organization).filter(object="lead")
    assert set(phones.values_list("external_id", flat=True)) == set(live)


def test_the_first_load_reads_every_page_stores_the_token_and_announces_nothing(
    organization, crm, announced, django_capture_on_commit_callbacks
):
    crm.create(130)
    first = run(organization, crm, django_capture_on_commit_callbacks)
    assert first.status == SyncRun.Status.OK, first.error
    assert (first.inserted, first.updated, first.deleted, first.error) == (130, 0, 0, "")
    assert crm.asked[0] == ""
    assert len(crm.asked) == 4  # pages of 40: 40, 40, 40, 10
    assert_mirror_equals(organization, crm)
    state = state_of(organization)
    assert (state.change_token, state.checkpoint_token) == (f"delta:{crm.version}", "")
    assert state.watermark == max(record.modified_time for record in crm.live().values())
    assert first.watermark_after == state.watermark
    assert announced == []  # old records
    assert crm.ids_listed == 0  # a whole full read reconciles with the ids it saw


def test_a_delta_writes_creates_updates_and_deletes_and_announces_only_the_new(
    organization, crm, announced, django_capture_on_commit_callbacks
):
    ids = crm.create(60)
    run(organization, crm, django_capture_on_commit_callbacks)
    token = state_of(organization).change_token
    for record_id in ids[:5]:
        crm.write(record_id, name=f"Edited {record_id}")
    for record_id in ids[50:53]:
        crm.delete(record_id)
    new = crm.create(2, prefix="N")

    delta = run(organization, crm, django_capture_on_commit_callbacks)
    assert delta.status == SyncRun.Status.OK, delta.error
    assert (delta.inserted, delta.updated, delta.deleted, delta.error) == (2, 5, 3, "")
    assert crm.asked[-1] == token  # one page of ten changes from the stored token
    assert_mirror_equals(organization, crm)
    [call] = announced
    assert sorted(record.id for record in call["records"]) == new
    assert state_of(organization).watermark == max(record.modified_time for record in crm.live().values())

    quiet = run(organization, crm, django_capture_on_commit_callbacks)  # nothing changed: nothing written
    assert (quiet.inserted, quiet.updated, quiet.deleted) == (0, 0, 0)
    assert len(announced) == 1


def test_a_deleted_record_that_comes_back_is_live_again(organization, crm, django_capture_on_commit_callbacks):
    ids = crm.create(10)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.delete(ids[0])
    assert run(organization, crm, django_capture_on_commit_callbacks).deleted == 1
    crm.write(ids[0], name="Restored")  # the CRM's recycle bin gives the same id back
    restored = run(organization, crm, django_capture_on_commit_callbacks)
    assert restored.updated == 1
    assert mirror(organization)[ids[0]].deleted_at is None
    assert_mirror_equals(organization, crm)


def test_a_killed_first_load_resumes_at_the_page_after_the_last_one_written(
    organization, crm, announced, django_capture_on_commit_callbacks
):
    crm.create(200)
    crm.crash_after = 3  # pages 1-3 are read; the worker dies asking for page 4
    with pytest.raises(Killed), django_capture_on_commit_callbacks(execute=True):
        sync_run(organization=organization, object="lead", provider=crm)
    state = state_of(organization)
    written = len(mirror(organization))
    assert 80 <= written <= 120  # the prefetch thread read page 3 while page 2 was written
    assert state.checkpoint_token.startswith("page:full:")
    assert state.change_token == ""
    # Meanwhile people work: a lead already loaded is deleted, another edited, one created.
    loaded = sorted(mirror(organization))
    crm.delete(loaded[0])
    crm.write(loaded[1], name="Edited during the crash")
    crm.create(1, prefix="N")
    SyncState.objects.for_organization(organization).update(lease_expires_at=state.locked_by.started_at)

    resumed = run(organization, crm, django_capture_on_commit_callbacks)
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed
    assert crm.asked[4] == state.checkpoint_token  # not from the start
    assert resumed.inserted == 200 + 1 - written
    # The resumed read did not see the first pages' ids: every id was listed, and only the deleted lead is gone.
    assert crm.ids_listed == 1
    assert resumed.deleted == 1
    assert announced == []  # still the first load
    follow_up = run(organization, crm, django_capture_on_commit_callbacks)  # the edit and the new lead come now
    assert follow_up.status == SyncRun.Status.OK, follow_up.error
    assert_mirror_equals(organization, crm)
    assert CrmRecord.objects.for_organization(organization).count() == 201  # nothing doubled
    dead = SyncRun.objects.for_organization(organization).order_by("pk").first()
    assert dead.status == SyncRun.Status.FAILED
    assert "lease expired" in dead.error


def test_a_killed_delta_resumes_and_a_dead_paging_link_reads_the_changes_again(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(100)
    run(organization, crm, django_capture_on_commit_callbacks)
    token = state_of(organization).change_token
    for record_id in ids:
        crm.write(record_id, name=f"Edited {record_id}")
    crm.delete(ids[0])
    crm.crash_after = crm.pages_served + 2
    with pytest.raises(Killed):
        sync_run(organization=organization, object="lead", provider=crm)
    state = state_of(organization)
    assert state.change_token == token
    assert state.checkpoint_token.startswith("page:delta:")
    SyncState.objects.for_organization(organization).update(lease_expires_at=state.locked_by.started_at)
    crm.dead_links = {state.checkpoint_token}  # the crashed run's paging link is no longer served

    resumed = run(organization, crm, django_capture_on_commit_callbacks)
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert "a paging link expired; the changes were read again" in resumed.error
    assert crm.asked[-4:-2] == [state.checkpoint_token, token]  # then the delta's next two pages
    assert crm.ids_listed == 0  # a delta read again, not a full read
    assert_mirror_equals(organization, crm)
    assert state_of(organization).change_token == f"delta:{crm.version}"


def test_an_object_the_crm_does_not_track_is_read_by_modified_time(
    organization, crm, django_capture_on_commit_callbacks
):
    crm.tracking = False
    crm.create(30)
    first = run(organization, crm, django_capture_on_commit_callbacks)
    assert first.status == SyncRun.Status.OK, first.error
    assert crm.asked == []
    assert_mirror_equals(organization, crm)
    assert state_of(organization).change_token == ""


def test_tracking_turned_off_reads_by_modified_time_and_turned_on_again_starts_with_a_full_read(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(30)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.tracking = False
    crm.write(ids[0], name="Edited while untracked")
    off = run(organization, crm, django_capture_on_commit_callbacks)
    assert off.status == SyncRun.Status.OK, off.error
    assert off.error == "change tracking is off at the CRM for this object: read by modified time from now on"
    assert off.updated == 1
    assert (state_of(organization).change_token, state_of(organization).checkpoint_token) == ("", "")
    assert run(organization, crm, django_capture_on_commit_callbacks).error == ""  # said once

    crm.tracking = True
    crm.delete(ids[1])
    on = run(organization, crm, django_capture_on_commit_callbacks)
    assert on.status == SyncRun.Status.OK, on.error
    assert crm.asked == ["", ""]  # the first load, then a full read again (one page), reconciled with its ids
    assert on.error == "change tracking: full read, 1 mirror rows not in the CRM marked deleted"
    assert_mirror_equals(organization, crm)
