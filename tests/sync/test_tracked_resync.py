"""When a CRM's change tracking lapses (an expired token, a dead paging link) the tracked mirror reads every record
again and reconciles, says so in the run's notes, the dashboard and `manage.py sync status`; a used-up allocation
pauses it; the backfill and the reconciliation job keep the token; back-dated records are caught. Against the
in-memory CRM of tracked_double.py."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest

from django.core import mail
from django.core.management import call_command

from sync.backfill import TRACKED_LOAD, backfill_due, backfill_run
from sync.models import CrmRecord, SyncRun, SyncState
from sync.reconcile import reconcile_run
from tests.sync.test_tracked import announced, assert_mirror_equals, connection, crm, mirror, run, state_of
from tests.sync.tracked_double import START

pytestmark = pytest.mark.django_db
__all__ = ["announced", "connection", "crm"]  # fixtures


def test_an_expired_token_reads_every_record_again_and_marks_the_missing_deleted(
    organization, crm, announced, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = ""
    settings.SYNC_ALERT_EMAILS = ["ops@leadline.test"]
    ids = crm.create(120)
    run(organization, crm, django_capture_on_commit_callbacks)
    old_token = state_of(organization).change_token
    for record_id in ids[:4]:
        crm.delete(record_id)
    for record_id in ids[10:13]:
        crm.write(record_id, name=f"Edited {record_id}")
    new = crm.create(2, prefix="N")
    crm.floor = crm.version  # the CRM no longer holds the changes since the token

    resync = run(organization, crm, django_capture_on_commit_callbacks)
    assert resync.status == SyncRun.Status.OK, resync.error
    assert resync.error == "change tracking expired: full resync, 118 re-read, 4 marked deleted"
    assert (resync.inserted, resync.updated, resync.deleted) == (2, 3, 4)
    assert crm.asked[3:5] == [old_token, ""]  # after the first load's three pages
    assert_mirror_equals(organization, crm)
    assert CrmRecord.objects.for_organization(organization).count() == 122  # nothing doubled
    state = state_of(organization)
    assert (state.change_token, state.checkpoint_token) == (f"delta:{crm.version}", "")
    [alert] = mail.outbox  # operators hear of it once
    assert alert.subject == f"Leadline sync: {organization.name} lead full resync"
    assert resync.error in alert.body
    [call] = announced  # the object loaded before: what is new to the mirror now is new at the CRM
    assert sorted(record.id for record in call["records"]) == new

    crm.delete(ids[20])
    after = run(organization, crm, django_capture_on_commit_callbacks)  # a delta again, from the new token
    assert (after.deleted, after.error) == (1, "")
    assert len(mail.outbox) == 1
    assert crm.asked[-1] == state.change_token


def test_a_resync_whose_paging_links_keep_dying_fails_visibly_and_the_next_run_reads_again(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(100)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.write(ids[0], name="Edited")
    crm.floor = crm.version
    crm.dead_links = True

    failed = run(organization, crm, django_capture_on_commit_callbacks)
    assert failed.status == SyncRun.Status.FAILED
    assert failed.error.startswith("change tracking expired: full resync begun; CrmHistoryExpired: ")
    assert crm.asked.count("") == 1 + 2  # the first load's, then the resync's: started once more, then given up
    assert failed.deleted == 0  # no reconciliation from a read that did not finish
    assert CrmRecord.objects.for_organization(organization).filter(deleted_at__isnull=True).count() == 100
    assert state_of(organization).change_token == ""  # the next run reads everything

    crm.dead_links = False
    again = run(organization, crm, django_capture_on_commit_callbacks)
    assert again.status == SyncRun.Status.OK, again.error
    # The failed run's second full read wrote its first page: this run goes on from there, and lists every id.
    assert again.error == "change tracking: full resync resumed, 60 re-read, 0 marked deleted"
    assert crm.ids_listed == 1
    assert_mirror_equals(organization, crm)
    assert state_of(organization).change_token == f"delta:{crm.version}"


def test_a_used_up_allocation_pauses_a_resync_and_the_next_run_resumes_and_reconciles_by_id(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(150)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.delete(ids[-1])  # on the last page: the resumed read reconciles it
    crm.delete(ids[0])  # on the first page, read before the pause
    crm.floor = crm.version
    crm.quota_after = crm.pages_served + 3  # the expired token, then two pages of the full read

    paused = run(organization, crm, django_capture_on_commit_callbacks)
    assert paused.status == SyncRun.Status.PAUSED, paused.error
    state = state_of(organization)
    assert state.change_token == ""
    assert state.checkpoint_token.startswith("page:full:")
    assert state.paused_until is not None

    resumed = run(organization, crm, django_capture_on_commit_callbacks)
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed
    assert crm.ids_listed == 1  # its first pages were read by the paused run: every id is listed instead
    assert resumed.error.startswith("change tracking: full resync resumed, ")
    assert resumed.error.endswith(", 2 marked deleted")
    assert_mirror_equals(organization, crm)


def test_a_back_dated_change_is_written_although_its_modified_time_is_older(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(20)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.write(ids[5], name="Imported", modified=START - timedelta(days=30))  # an import back-dates it
    delta = run(organization, crm, django_capture_on_commit_callbacks)
    assert delta.updated == 1
    row = mirror(organization)[ids[5]]
    assert (row.name, row.modified_time) == ("Imported", START - timedelta(days=30))
    assert state_of(organization).watermark > START  # the watermark does not go back


def test_the_backfill_loads_a_tracked_object_through_its_change_tracking_with_progress(organization, crm):
    crm.create(90)
    seen: list[int] = []
    assert backfill_due(organization=organization, connection=crm.connection, object="lead")
    loaded = backfill_run(organization=organization, object="lead", provider=crm, progress=lambda p: seen.append(p))
    assert loaded.status == SyncRun.Status.OK, loaded.error
    assert [(item.phase, item.rows_loaded) for item in seen] == [
        ("loading", 40),
        ("loading", 80),
        ("loading", 90),
        ("done", 90),
    ]
    assert {item.vendor_state for item in seen} == {TRACKED_LOAD}
    assert_mirror_equals(organization, crm)
    assert state_of(organization).change_token == f"delta:{crm.version}"
    assert not backfill_due(organization=organization, connection=crm.connection, object="lead")


def test_the_backfill_command_shows_a_tracked_load_as_one_read(organization, crm, monkeypatch):
    crm.create(45)
    monkeypatch.setattr("sync.runs.provider_for", lambda connection, **options: crm)
    err = StringIO()
    call_command("sync", "backfill", "--org", organization.slug, "--object", "lead", stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines()[-1].startswith(f"{organization.slug} lead {TRACKED_LOAD}: [")
    assert " 45/45 100% " in err.getvalue()
    assert_mirror_equals(organization, crm)


def test_an_empty_tracked_object_is_not_backfilled_again(organization, crm):
    assert backfill_run(organization=organization, object="lead", provider=crm).status == SyncRun.Status.OK
    assert state_of(organization).watermark is None
    assert not backfill_due(organization=organization, connection=crm.connection, object="lead")


def test_the_reconciliation_job_keeps_the_token_and_the_next_delta_goes_on_from_it(
    organization, crm, django_capture_on_commit_callbacks
):
    ids = crm.create(50)
    run(organization, crm, django_capture_on_commit_callbacks)
    token = state_of(organization).change_token
    CrmRecord.objects.for_organization(organization).filter(external_id=ids[3]).delete()  # lost from the mirror
    reconciled = reconcile_run(organization=organization, object="lead", provider=crm)
    assert reconciled.status == SyncRun.Status.OK, reconciled.error
    assert reconciled.inserted == 1
    assert (state_of(organization).change_token, state_of(organization).checkpoint_token) == (token, "")
    crm.write(ids[0], name="Later")
    delta = run(organization, crm, django_capture_on_commit_callbacks)
    assert crm.asked[-1] == token
    assert delta.updated == 1
    assert_mirror_equals(organization, crm)


def test_the_dashboard_and_the_status_command_show_change_tracking_and_a_resync(
    organization, crm, client, operator, django_capture_on_commit_callbacks
):
    ids = crm.create(30)
    run(organization, crm, django_capture_on_commit_callbacks)
    crm.delete(ids[0])
    crm.floor = crm.version
    run(organization, crm, django_capture_on_commit_callbacks)

    client.force_login(operator)
    html = client.get("/ops/sync/").content.decode()
    assert '<div class="sync-tracked">change tracking</div>' in html
    assert "change tracking expired: full resync, 29 re-read, 1 marked deleted" in html
    assert 'class="sync-resync"' in html

    out = StringIO()
    call_command("sync", "status", "--org", organization.slug, "--object", "lead", stdout=out)
    text = out.getvalue()
    assert "(change tracking)" in text
    assert "change tracking expired: full resync, 29 re-read, 1 marked deleted" in text
    assert SyncState.objects.for_organization(organization).get(object="lead").locked_by_id is None
