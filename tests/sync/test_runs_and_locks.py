"""Runs and locks: one run at a time, crashes resume from the checkpoint, failures keep it, tenants stay apart."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from core.tenancy import UnscopedQueryError
from crm.records import Cursor
from sync import delta
from sync.delta import sync_run
from sync.models import CrmQuarantine, CrmRecord, SyncRun, SyncState
from sync.tasks import sync_run_task
from tests.crm.zoho.conftest import control, crm_account
from tests.factories import OrganizationFactory
from tests.sync.conftest import seed, store


def mirrored_ids(organization, object="lead"):
    records = CrmRecord.objects.for_organization(organization).filter(object=object)
    return set(records.values_list("external_id", flat=True))


def record_cursors(monkeypatch) -> list:
    """The cursor every run starts reading from."""
    seen: list = []
    original = delta.changed_records

    def spy(**kwargs):
        seen.append(kwargs["cursor"])
        return original(**kwargs)

    monkeypatch.setattr(delta, "changed_records", spy)
    return seen


@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_one_skips(organization, account, empty_sandbox):
    seed(empty_sandbox, 300)
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "delay": 1.5, "times": 1})
    results: dict[str, SyncRun] = {}

    def first() -> None:
        try:
            results["first"] = sync_run(organization=organization, object="lead")
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while not SyncState.objects.for_organization(organization).filter(locked_by__isnull=False).exists():
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.02)
    second = sync_run(organization=organization, object="lead")
    thread.join(30)
    assert second.status == SyncRun.Status.SKIPPED
    assert results["first"].status == SyncRun.Status.OK, results["first"].error
    assert mirrored_ids(organization) == set(store(empty_sandbox))
    assert not CrmRecord.objects.for_organization(organization).filter(run_id=second.pk).exists()


def test_a_crashed_run_holds_the_lock_until_its_lease_ends_then_the_next_resumes(
    organization, account, empty_sandbox, monkeypatch
):
    seed(empty_sandbox, 1_300)  # batches of 500: two commit, the third crashes the process
    original = delta.crm_records_upsert
    calls = {"n": 0}

    def crashing(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")  # not an Exception: nothing in the run gets to clean up
        return original(**kwargs)

    monkeypatch.setattr(delta, "crm_records_upsert", crashing)
    with pytest.raises(SystemExit):
        sync_run(organization=organization, object="lead")
    monkeypatch.setattr(delta, "crm_records_upsert", original)
    crashed = SyncRun.objects.for_organization(organization).get()
    assert crashed.status == SyncRun.Status.RUNNING
    assert crashed.inserted == 1_000
    assert len(mirrored_ids(organization)) == 1_000

    assert sync_run(organization=organization, object="lead").status == SyncRun.Status.SKIPPED

    state = SyncState.objects.for_organization(organization).get(object="lead")
    checkpoint = (state.checkpoint_time, state.checkpoint_id)
    SyncState.objects.for_organization(organization).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    cursors = record_cursors(monkeypatch)
    resumed = sync_run(organization=organization, object="lead")
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed is True
    assert (resumed.inserted, resumed.updated) == (300, 0)
    # From the checkpoint minus the overlap, not from the start (see the next test for why not exactly after it).
    assert cursors[0] == Cursor(modified_time=checkpoint[0] - timedelta(seconds=60))  # every record at that time
    assert mirrored_ids(organization) == set(store(empty_sandbox))
    crashed.refresh_from_db()
    assert crashed.status == SyncRun.Status.FAILED
    assert "lease expired" in crashed.error


def test_an_edit_in_the_second_of_a_crashed_runs_checkpoint_is_mirrored_after_the_resume(
    organization, account, empty_sandbox, monkeypatch, settings
):
    """Regression: the resume read exactly after (checkpoint time, id), so a record edited in the checkpoint's
    second with a lower id was skipped; the lease kept the next run out for minutes of edits, which carried the
    watermark past the overlap, and the edit was never mirrored."""
    seed(empty_sandbox, 100)
    sync_run(organization=organization, object="lead")
    control(empty_sandbox, "POST", "clock", {"freeze_at": None})
    ids = sorted(store(empty_sandbox))
    for zoho_id in ids[10:70]:
        control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Description": "busy second"})
    settings.SYNC_BATCH_SIZE = 20
    original = delta.crm_records_upsert
    calls = {"n": 0}

    def crashing(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return original(**kwargs)

    monkeypatch.setattr(delta, "crm_records_upsert", crashing)
    with pytest.raises(SystemExit):
        sync_run(organization=organization, object="lead")
    monkeypatch.setattr(delta, "crm_records_upsert", original)
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert ids[0] < state.checkpoint_id
    control(empty_sandbox, "PATCH", f"zoho/Leads/{ids[0]}", {"Description": "same second, lower id"})
    control(empty_sandbox, "POST", "clock", {"advance_seconds": settings.SYNC_LEASE_SECONDS})  # the lease runs out
    control(empty_sandbox, "PATCH", f"zoho/Leads/{ids[90]}", {"Description": "ten minutes later"})
    SyncState.objects.for_organization(organization).update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert sync_run(organization=organization, object="lead").resumed is True
    sync_run(organization=organization, object="lead")
    rows = CrmRecord.objects.for_organization(organization)
    assert rows.get(external_id=ids[0]).fields["description"] == "same second, lower id"
    assert rows.get(external_id=ids[90]).fields["description"] == "ten minutes later"


def test_a_failed_run_keeps_its_checkpoint_and_the_next_run_resumes(organization, account, empty_sandbox):
    seed(empty_sandbox, 2_500)  # COQL pages of 2,000: the second page fails after every retry
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 500, "times": 0, "after": 1})
    failed = sync_run(organization=organization, object="lead")
    assert failed.status == SyncRun.Status.FAILED
    assert "CrmUnavailable" in failed.error
    assert failed.inserted == 2_000
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.locked_by_id is None
    assert state.checkpoint_time is not None
    assert failed.watermark_after == state.watermark == state.checkpoint_time

    control(empty_sandbox, "DELETE", "faults")
    resumed = sync_run(organization=organization, object="lead")
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed is True
    assert (resumed.inserted, resumed.updated) == (500, 0)
    assert mirrored_ids(organization) == set(store(empty_sandbox))


def test_mirror_tables_never_cross_organizations(organization, account, empty_sandbox):
    other = OrganizationFactory(slug="other-fit", name="Other Fit")
    crm_account(other, empty_sandbox, name="other-zoho", is_default=True)
    seed(empty_sandbox, 40)
    mine = sync_run(organization=organization, object="lead")
    zoho_id = sorted(store(empty_sandbox))[0]
    control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Last_Name": "Theirs"})
    theirs = sync_run(organization=other, object="lead")
    assert mirrored_ids(organization) == mirrored_ids(other) == set(store(empty_sandbox))
    assert set(CrmRecord.objects.for_organization(organization).values_list("run_id", flat=True)) == {mine.pk}
    assert set(CrmRecord.objects.for_organization(other).values_list("run_id", flat=True)) == {theirs.pk}
    mine_row = CrmRecord.objects.for_organization(organization).get(external_id=zoho_id)
    assert mine_row.fields["last_name"] != "Theirs"  # org A's mirror moves only with org A's runs
    assert [run.pk for run in SyncRun.objects.for_organization(other)] == [theirs.pk]
    for model in (CrmRecord, SyncRun, SyncState, CrmQuarantine):
        with pytest.raises(UnscopedQueryError):
            list(model.objects.all())


def test_a_value_that_does_not_fit_is_quarantined_and_the_run_goes_on(organization, account, empty_sandbox):
    seed(empty_sandbox, 30)
    zoho_id = sorted(store(empty_sandbox))[5]
    store(empty_sandbox)[zoho_id]["No_of_Employees"] = "lots"  # what Zoho's validation would not let in
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.quarantined) == (30, 1)
    entry = CrmQuarantine.objects.for_organization(organization).get()
    assert (entry.external_id, entry.field, entry.value, entry.run_id) == (zoho_id, "No_of_Employees", "lots", run.pk)
    assert "not an integer" in entry.reason
    assert CrmRecord.objects.for_organization(organization).get(external_id=zoho_id).fields["no_of_employees"] is None


def test_a_new_custom_field_appears_without_a_migration(organization, account, empty_sandbox):
    seed(empty_sandbox, 10)
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    template = next(meta for meta in org.fields["Leads"] if meta["api_name"] == "Referred_By")
    org.fields["Leads"].append({**template, "api_name": "Belt_Color", "id": template["id"] + "9"})
    zoho_id = sorted(store(empty_sandbox))[0]
    store(empty_sandbox)[zoho_id]["Belt_Color"] = " Black "
    sync_run(organization=organization, object="lead")
    assert (
        CrmRecord.objects.for_organization(organization).get(external_id=zoho_id).custom_fields["Belt_Color"] == "Black"
    )


def test_manage_py_sync_run_and_status(organization, account, empty_sandbox):
    seed(empty_sandbox, 25)
    out = StringIO()
    call_command("sync", "run", "--org", organization.slug, "--object", "lead", stdout=out)
    assert "lead: ok inserted=25" in out.getvalue()
    out = StringIO()
    call_command("sync", "status", "--org", organization.slug, stdout=out)
    text = out.getvalue()
    assert "lead" in text
    assert "deal" in text  # configured, never run
    assert "never" in text
    assert " ok " in text


def test_the_task_syncs_by_id_and_an_inactive_organization_syncs_nothing(organization, account, empty_sandbox):
    seed(empty_sandbox, 5)
    assert sync_run_task(organization.pk, "Contacts") == SyncRun.Status.OK
    organization.is_active = False
    organization.save()
    assert sync_run_task(organization.pk, "lead") == SyncRun.Status.SKIPPED
    assert not mirrored_ids(organization)
