"""Backfill with the provider's bulk export (Zoho Bulk Read in the sandbox, over real HTTP): the first load equals a
delta sync row by row,
resumes after a crash, honours the lock, starts over when Zoho lost the job, follows pages, quarantines, never
brings a deleted record back, hands over to the delta run, prints its progress, and stays in its tenant."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest

from django.core.management import call_command
from django.utils import timezone

from crm.records import Capability
from crm.registry import provider_for
from sync import backfill
from sync.backfill import BackfillProgress, backfill_due, backfill_run
from sync.delta import sync_run
from sync.models import CrmPhone, CrmQuarantine, CrmRecord, ExportJob, SyncRun, SyncState
from sync.tasks import sync_run_task
from tests.crm.zoho.conftest import control, crm_account
from tests.factories import OrganizationFactory
from tests.sync.conftest import seed, store

COLUMNS = ("name", "email", "owner_id", "owner_name", "created_time", "modified_time", "deleted_at")


@pytest.fixture(autouse=True)
def _fast_exports(empty_sandbox, monkeypatch):
    """Jobs move one state per 50 ms of the sandbox clock, and the backfill polls every few of them."""
    control(empty_sandbox, "PATCH", "config", {"bulk_read_seconds_per_state": 0.05})
    monkeypatch.setattr(backfill, "POLL_FIRST_SECONDS", 0.02)
    monkeypatch.setattr(backfill, "POLL_MAX_SECONDS", 0.1)


@pytest.fixture
def other(empty_sandbox):
    """A second organization whose account reads the same Zoho org (so both mirrors can be compared)."""
    organization = OrganizationFactory(slug="other-fit", name="Other Fit")
    crm_account(organization, empty_sandbox, name="other-zoho", is_default=True)
    return organization


def mirrored(organization, object="lead"):
    return {row.external_id: row for row in CrmRecord.objects.for_organization(organization).filter(object=object)}


def phones(organization):
    return {(p.object, p.external_id, p.field): p.e164 for p in CrmPhone.objects.for_organization(organization)}


def jobs(organization):
    return list(ExportJob.objects.for_organization(organization).order_by("pk"))


def ids_in_order(server, module="Leads"):
    return sorted(store(server, module), key=int)  # the CSV's order


def crash_after(rows: int):
    """A progress callback that kills the process (SystemExit: nothing gets to clean up) once `rows` are loaded."""

    def progress(event: BackfillProgress) -> None:
        if event.phase == "loading" and event.rows_loaded >= rows:
            raise SystemExit("worker killed")

    return progress


def expire_lease(organization):
    SyncState.objects.for_organization(organization).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_first_load_equals_a_coql_sync_row_by_row(organization, account, other, empty_sandbox):
    seed(empty_sandbox, 2_000)
    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.kind, run.inserted, run.updated, run.quarantined, run.error) == ("backfill", 2_000, 0, 0, "")
    assert run.credits_used >= 50  # creating the job; status, download, metadata and deletions besides
    coql = sync_run(organization=other, object="lead")
    assert coql.status == SyncRun.Status.OK, coql.error

    loaded, expected = mirrored(organization), mirrored(other)
    assert set(loaded) == set(expected) == set(store(empty_sandbox))
    differences = []
    for zoho_id, row in loaded.items():
        twin = expected[zoho_id]
        # Tags are objects ({name, id, color_code}); the CSV carries their ids only (docs/sync.md, Backfill).
        assert (row.fields.pop("tag") or []) == [tag["id"] for tag in twin.fields.pop("tag") or []]
        differences += [(zoho_id, name) for name in COLUMNS if getattr(row, name) != getattr(twin, name)]
        for column in ("fields", "custom_fields"):
            mine, theirs = getattr(row, column), getattr(twin, column)
            differences += [(zoho_id, key) for key in set(mine) | set(theirs) if mine.get(key) != theirs.get(key)]
        assert row.run_id == run.pk
    assert differences == []
    assert {key[1:]: e164 for key, e164 in phones(organization).items()} == {
        key[1:]: e164 for key, e164 in phones(other).items()
    }

    [job] = jobs(organization)
    assert (job.state, job.rows_total, job.rows_loaded, job.more_records, job.run_id) == (
        "done",
        2_000,
        2_000,
        False,
        run.pk,
    )
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.watermark == job.requested_at - timedelta(seconds=60) == run.watermark_after
    assert state.locked_by_id is None
    assert not backfill_due(organization=organization, object="lead")


def test_a_killed_backfill_resumes_its_job_and_loads_every_row_once(organization, account, empty_sandbox, monkeypatch):
    seed(empty_sandbox, 1_300)  # batches of 500: two commit, then the worker dies
    with pytest.raises(SystemExit):
        backfill_run(organization=organization, object="lead", progress=crash_after(1_000))
    crashed = SyncRun.objects.for_organization(organization).get()
    assert (crashed.status, crashed.inserted) == (SyncRun.Status.RUNNING, 1_000)
    [job] = jobs(organization)
    assert (job.state, job.rows_loaded) == (ExportJob.State.LOADING, 1_000)
    assert backfill_run(organization=organization, object="lead").status == SyncRun.Status.SKIPPED  # lease held

    expire_lease(organization)
    written: list[str] = []
    original = backfill.crm_records_upsert

    def counting(**kwargs):
        written.extend(record.id for record in kwargs["records"])
        return original(**kwargs)

    monkeypatch.setattr(backfill, "crm_records_upsert", counting)
    resumed = backfill_run(organization=organization, object="lead")
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert resumed.resumed is True
    assert (resumed.inserted, resumed.updated) == (300, 0)
    assert sorted(written) == ids_in_order(empty_sandbox)[1_000:]  # the rest, each once
    [job] = jobs(organization)  # the same Zoho job, not a new export
    assert (job.state, job.rows_loaded, job.run_id) == (ExportJob.State.DONE, 1_300, resumed.pk)
    rows = mirrored(organization)
    assert set(rows) == set(store(empty_sandbox))
    assert {row.run_id for row in rows.values()} == {crashed.pk, resumed.pk}
    crashed.refresh_from_db()
    assert crashed.status == SyncRun.Status.FAILED
    assert "lease expired" in crashed.error


def test_a_backfill_skips_while_another_run_holds_the_lock(organization, account, empty_sandbox):
    seed(empty_sandbox, 20)
    holder = SyncRun.objects.create(
        organization=organization, connection=account, object="lead", started_at=timezone.now()
    )
    SyncState.objects.create(
        organization=organization,
        connection=account,
        object="lead",
        locked_by=holder,
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.SKIPPED
    assert "lock" in run.error
    assert jobs(organization) == []
    assert mirrored(organization) == {}


def test_a_job_zoho_no_longer_has_is_started_again(organization, account, empty_sandbox):
    seed(empty_sandbox, 1_200)
    with pytest.raises(SystemExit):
        backfill_run(organization=organization, object="lead", progress=crash_after(500))
    [lost] = jobs(organization)
    empty_sandbox.state.crm.bulk.jobs.pop(lost.job_id)  # expired: 404 RESOURCE_NOT_FOUND
    expire_lease(organization)

    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert f"export job {lost.job_id} was gone (RESOURCE_NOT_FOUND); started a new export" in run.error
    assert (run.inserted, run.updated) == (700, 0)  # the first 500 came again unchanged
    first, second = jobs(organization)
    assert (first.state, second.state) == (ExportJob.State.FAILED, ExportJob.State.DONE)
    assert "RESOURCE_NOT_FOUND" in first.error
    assert second.job_id != lost.job_id
    assert set(mirrored(organization)) == set(store(empty_sandbox))
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.watermark == second.requested_at - timedelta(seconds=60)


def test_exports_past_one_page_follow_the_next_page_token(organization, account, empty_sandbox):
    empty_sandbox.state.crm.bulk.per_page = 400  # Zoho's is 200,000
    seed(empty_sandbox, 1_000)
    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert run.inserted == 1_000
    pages = jobs(organization)
    assert [(job.page, job.rows_total, job.state) for job in pages] == [
        (1, 400, "done"),
        (2, 400, "done"),
        (3, 200, "done"),
    ]
    assert [job.more_records for job in pages] == [True, True, False]
    assert set(mirrored(organization)) == set(store(empty_sandbox))
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.watermark == pages[0].requested_at - timedelta(seconds=60)  # the first page's snapshot is oldest


def test_a_value_that_does_not_fit_is_quarantined_and_the_backfill_goes_on(organization, account, empty_sandbox):
    seed(empty_sandbox, 30)
    zoho_id = ids_in_order(empty_sandbox)[5]
    store(empty_sandbox)[zoho_id]["No_of_Employees"] = "lots"
    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.quarantined) == (30, 1)
    entry = CrmQuarantine.objects.for_organization(organization).get()
    assert (entry.external_id, entry.field, entry.value, entry.run_id) == (zoho_id, "No_of_Employees", "lots", run.pk)
    assert "not an integer" in entry.reason
    assert mirrored(organization)[zoho_id].fields["no_of_employees"] is None


def test_records_edited_or_created_during_the_export_are_read_by_the_next_delta_run(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 200)
    edited = ids_in_order(empty_sandbox)[50]
    changed = {}

    def edit_after_the_snapshot(event: BackfillProgress) -> None:
        if event.phase == "loading" and not changed:  # Zoho completed the job: the export is written
            changed["lead"] = control(empty_sandbox, "PATCH", f"zoho/Leads/{edited}", {"Last_Name": "Edited Late"})
            changed["new"] = control(empty_sandbox, "POST", "zoho/leads", {"Last_Name": "Created Late"})

    run = backfill_run(organization=organization, object="lead", progress=edit_after_the_snapshot)
    assert run.status == SyncRun.Status.OK, run.error
    assert run.inserted == 200
    assert mirrored(organization)[edited].fields["last_name"] != "Edited Late"

    delta = sync_run(organization=organization, object="lead")
    assert delta.status == SyncRun.Status.OK, delta.error
    assert delta.watermark_before == run.watermark_after
    assert (delta.inserted, delta.updated) == (1, 1)
    rows = mirrored(organization)
    assert rows[edited].fields["last_name"] == "Edited Late"
    assert set(rows) == set(store(empty_sandbox))


def test_a_record_deleted_after_the_export_is_not_brought_back(organization, account, empty_sandbox):
    seed(empty_sandbox, 1_000)
    assert sync_run(organization=organization, object="lead").status == SyncRun.Status.OK
    doomed = ids_in_order(empty_sandbox)[700]  # in the second batch of the export
    with pytest.raises(SystemExit):
        backfill_run(organization=organization, object="lead", progress=crash_after(500))
    control(empty_sandbox, "DELETE", f"zoho/Leads/{doomed}")
    expire_lease(organization)
    delta = sync_run(organization=organization, object="lead")  # `sync run` stays COQL and marks the delete
    assert (delta.status, delta.deleted) == (SyncRun.Status.OK, 1)

    run = backfill_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    row = mirrored(organization)[doomed]
    assert row.deleted_at is not None
    assert row.run_id == delta.pk  # the stale export row was not written
    assert not CrmPhone.objects.for_organization(organization).filter(external_id=doomed).exists()
    assert {zoho_id for zoho_id, row in mirrored(organization).items() if row.deleted_at is None} == set(
        store(empty_sandbox)
    )


def test_the_scheduled_run_backfills_an_object_that_never_loaded_then_syncs_by_delta(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 40)
    assert backfill_due(organization=organization, object="lead")
    assert sync_run_task(organization.pk, "Leads") == SyncRun.Status.OK
    assert sync_run_task(organization.pk, "Leads") == SyncRun.Status.OK
    kinds = list(SyncRun.objects.for_organization(organization).order_by("pk").values_list("kind", flat=True))
    assert kinds == [SyncRun.Kind.BACKFILL, SyncRun.Kind.DELTA]


def test_the_scheduled_run_resumes_an_unfinished_backfill(organization, account, empty_sandbox):
    seed(empty_sandbox, 700)
    with pytest.raises(SystemExit):
        backfill_run(organization=organization, object="lead", progress=crash_after(500))
    expire_lease(organization)
    assert backfill_due(organization=organization, object="lead")  # rows exist, but the export is unfinished
    assert sync_run_task(organization.pk, "Leads") == SyncRun.Status.OK
    last = SyncRun.objects.for_organization(organization).latest("pk")
    assert (last.kind, last.resumed, last.inserted) == (SyncRun.Kind.BACKFILL, True, 200)


def test_a_job_zoho_fails_fails_the_run_and_the_next_backfill_starts_a_new_one(organization, account, empty_sandbox):
    seed(empty_sandbox, 10)
    control(empty_sandbox, "PATCH", "config", {"bulk_read_seconds_per_state": 60})

    def fail_it(event: BackfillProgress) -> None:
        if event.phase == "exporting":
            control(empty_sandbox, "POST", f"zoho/bulk/{jobs(organization)[0].job_id}/fail")

    failed = backfill_run(organization=organization, object="lead", progress=fail_it)
    assert failed.status == SyncRun.Status.FAILED
    assert "the CRM failed export job" in failed.error
    control(empty_sandbox, "PATCH", "config", {"bulk_read_seconds_per_state": 0.05})
    again = backfill_run(organization=organization, object="lead")
    assert again.status == SyncRun.Status.OK, again.error
    assert [job.state for job in jobs(organization)] == [ExportJob.State.FAILED, ExportJob.State.DONE]
    assert len(mirrored(organization)) == 10


def test_manage_py_sync_backfill_prints_progress_and_the_summary(organization, account, empty_sandbox):
    seed(empty_sandbox, 1_200)
    out, err = StringIO(), StringIO()
    call_command("sync", "backfill", "--org", organization.slug, "--object", "lead", stdout=out, stderr=err)
    assert "demo-fit lead: ok inserted=1200 updated=0 deleted=0 quarantined=0 credits=" in out.getvalue()
    lines = err.getvalue().splitlines()
    assert any("demo-fit lead export 1: the CRM is exporting" in line for line in lines)
    loading = [line for line in lines if "rows/s" in line]
    # The export's total is known once it is loaded: records and rate meanwhile, a line per 10,000.
    assert any(line.startswith("demo-fit lead export 1: 0 records") for line in loading)
    assert "1,200/1,200 100%" in loading[-1]
    assert "\r" not in err.getvalue()  # not a terminal: lines, not redraws


def test_the_progress_bar_redraws_in_place_on_a_terminal():
    from sync.management.progress import ProgressBar

    class Terminal(StringIO):
        def isatty(self) -> bool:
            return True

    from django.core.management.base import OutputWrapper

    screen = Terminal()
    ticks = iter([0.0, 0.0, 2.0])
    bar = ProgressBar(OutputWrapper(screen), "acme Leads", clock=lambda: next(ticks))
    bar.update(BackfillProgress("Leads", 1, "loading", "COMPLETED", 0, 2_000))
    bar.update(BackfillProgress("Leads", 1, "loading", "COMPLETED", 1_000, 2_000))
    bar.close()
    text = screen.getvalue()
    assert text.count("\r") == 2
    assert "1,000/2,000  50% 500 rows/s ETA 2s" in text
    assert text.endswith("\n")


def test_a_backfill_of_one_organization_never_writes_another_s_rows(organization, account, other, empty_sandbox):
    seed(empty_sandbox, 300)
    theirs = sync_run(organization=other, object="lead")
    before = {zoho_id: (row.run_id, row.synced_at) for zoho_id, row in mirrored(other).items()}
    control(empty_sandbox, "PATCH", f"zoho/Leads/{ids_in_order(empty_sandbox)[0]}", {"Last_Name": "Changed"})

    mine = backfill_run(organization=organization, object="lead")
    assert mine.status == SyncRun.Status.OK, mine.error
    assert {zoho_id: (row.run_id, row.synced_at) for zoho_id, row in mirrored(other).items()} == before
    assert {row.run_id for row in mirrored(organization).values()} == {mine.pk}
    assert jobs(other) == []
    assert [run.pk for run in SyncRun.objects.for_organization(other)] == [theirs.pk]
    assert SyncState.objects.for_organization(other).get(object="lead").watermark == theirs.watermark_after


def test_a_crm_without_bulk_export_is_loaded_by_paging_its_changes_from_the_start(organization, account, empty_sandbox):
    seed(empty_sandbox, 700)
    provider = provider_for(account)
    provider.capabilities = provider.capabilities - {Capability.BULK_EXPORT}  # as a CRM with no export job
    run = backfill_run(organization=organization, object="lead", provider=provider)
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.kind, run.inserted, run.updated) == (SyncRun.Kind.BACKFILL, 700, 0)
    assert jobs(organization) == []
    assert set(mirrored(organization)) == set(store(empty_sandbox))
    state = SyncState.objects.for_organization(organization).get(object="lead")
    newest = max(row.modified_time for row in mirrored(organization).values())
    assert (state.watermark, state.checkpoint_time, state.locked_by_id) == (newest, None, None)
    assert not backfill_due(organization=organization, object="lead")
