"""Full reconciliation against the sandbox: permanent deletes, formula fields changed without a modified time,
records the mirror lacks, nothing changed, the lock, tenants, the schedule and the command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest

from django.core.management import call_command
from django.utils import timezone

from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from sync.reconcile import reconcile_run
from sync.tasks import reconcile_task, sync_due_task, sync_run_task
from tests.crm.zoho.conftest import control, crm_account
from tests.factories import OrganizationFactory
from tests.sync.conftest import seed, store


def mirrored(organization, object="lead"):
    return {row.external_id: row for row in CrmRecord.objects.for_organization(organization).filter(object=object)}


def synced(organization, object="lead") -> SyncRun:
    run = sync_run(organization=organization, object=object)
    assert run.status == SyncRun.Status.OK, run.error
    return run


def full_resync_updates(organization, object="lead") -> int:
    """How many rows a delta run reading everything again rewrites (0: every content hash is what an upsert of
    Zoho's current values computes)."""
    SyncState.objects.for_organization(organization).filter(object=object).update(watermark=None)
    return synced(organization, object).updated


@pytest.fixture(autouse=True)
def _small_pages(settings):
    settings.SYNC_COQL_PAGE_SIZE = 200  # several keyset pages on id


def test_a_permanent_delete_is_caught(organization, account, empty_sandbox):
    seed(empty_sandbox, 450)
    synced(organization)
    with_phone = [zoho_id for zoho_id, record in store(empty_sandbox).items() if record.get("Mobile")]
    gone = [*sorted(with_phone)[:2], sorted(store(empty_sandbox))[-1]]
    for zoho_id in gone:
        control(empty_sandbox, "DELETE", f"zoho/Leads/{zoho_id}?permanent=1")

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert run.kind == SyncRun.Kind.RECONCILE
    assert (run.inserted, run.updated, run.deleted) == (0, 0, 3)
    rows = mirrored(organization)
    assert {zoho_id for zoho_id, row in rows.items() if row.deleted_at} == set(gone)
    assert {rows[zoho_id].run_id for zoho_id in gone} == {run.pk}
    assert not CrmPhone.objects.for_organization(organization).filter(external_id__in=gone).exists()
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.reconciled_at == run.started_at
    assert state.locked_by_id is None


def test_a_formula_change_without_modified_time_is_caught(organization, account, empty_sandbox, monkeypatch):
    seed(empty_sandbox, 300)
    synced(organization)
    before = mirrored(organization)
    changed = control(empty_sandbox, "POST", "zoho/formula", {"count": 7, "seed": 3})["ids"]
    assert synced(organization).updated == 0  # Modified_Time did not move: the delta sync cannot see it

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.updated, run.deleted) == (0, 7, 0)
    rows = mirrored(organization)
    for zoho_id in changed:
        assert rows[zoho_id].custom_fields["Lead_Score"] == store(empty_sandbox)[zoho_id]["Lead_Score"]
        assert rows[zoho_id].custom_fields["Lead_Score"] != before[zoho_id].custom_fields["Lead_Score"]
        assert rows[zoho_id].modified_time == before[zoho_id].modified_time
        assert rows[zoho_id].run_id == run.pk
    assert {zoho_id for zoho_id, row in rows.items() if row.run_id == run.pk} == set(changed)
    assert full_resync_updates(organization) == 0  # the hash is the one a full upsert computes


def test_records_missing_from_the_mirror_are_fetched_in_full(organization, account, empty_sandbox, settings):
    settings.SYNC_COQL_MAX_COLUMNS = 20  # the full read of a missing record takes several queries
    seed(empty_sandbox, 250)
    synced(organization)
    ids = sorted(store(empty_sandbox))
    lost, restored = ids[3:5], ids[7]
    CrmRecord.objects.for_organization(organization).filter(external_id__in=lost).delete()
    CrmRecord.objects.for_organization(organization).filter(external_id=restored).update(deleted_at=timezone.now())

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.updated, run.deleted) == (2, 1, 0)
    rows = mirrored(organization)
    assert set(rows) == set(ids)
    for zoho_id in [*lost, restored]:
        record = store(empty_sandbox)[zoho_id]
        assert rows[zoho_id].deleted_at is None
        assert rows[zoho_id].fields["last_name"] == record["Last_Name"].strip()
        assert rows[zoho_id].custom_fields["Studio"] == record.get("Studio")  # a late column, read by id
        assert rows[zoho_id].owner_id == record["Owner"]["id"]
    assert full_resync_updates(organization) == 0


def test_nothing_changed_writes_nothing(organization, account, empty_sandbox):
    seed(empty_sandbox, 420)
    first = synced(organization)
    before = {zoho_id: (row.synced_at, row.content_hash) for zoho_id, row in mirrored(organization).items()}

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.updated, run.deleted, run.quarantined) == (0, 0, 0, 0)
    after = {zoho_id: (row.synced_at, row.content_hash) for zoho_id, row in mirrored(organization).items()}
    assert after == before
    assert set(CrmRecord.objects.for_organization(organization).values_list("run_id", flat=True)) == {first.pk}
    assert run.credits_used > 0


def test_a_held_lock_skips_the_run(organization, account, empty_sandbox):
    seed(empty_sandbox, 30)
    synced(organization)
    control(empty_sandbox, "DELETE", f"zoho/Leads/{sorted(store(empty_sandbox))[0]}?permanent=1")
    holder = SyncRun.objects.create(organization=organization, object="lead", started_at=timezone.now())
    SyncState.objects.for_organization(organization).filter(object="lead").update(
        locked_by=holder, lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    calls = dict(empty_sandbox.state.counters)

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.SKIPPED
    assert "lock" in run.error
    assert dict(empty_sandbox.state.counters) == calls  # not one Zoho call
    assert not any(row.deleted_at for row in mirrored(organization).values())
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert (state.locked_by_id, state.reconciled_at) == (holder.pk, None)


def test_a_failed_reconciliation_keeps_the_delta_checkpoint_and_sets_no_reconciled_at(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 30)
    synced(organization)
    moment = timezone.now() - timedelta(hours=1)
    SyncState.objects.for_organization(organization).filter(object="lead").update(
        checkpoint_time=moment, checkpoint_id="123"
    )
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 500, "times": 20})

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.FAILED
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert (state.checkpoint_time, state.checkpoint_id, state.reconciled_at) == (moment, "123", None)
    assert state.locked_by_id is None
    assert not any(row.deleted_at for row in mirrored(organization).values())  # an incomplete read deletes nothing


def test_another_organizations_mirror_is_untouched(organization, account, empty_sandbox):
    other = OrganizationFactory(slug="other-fit", name="Other Fit")
    crm_account(other, empty_sandbox, name="other-zoho", is_default=True)
    seed(empty_sandbox, 220)
    synced(organization)
    synced(other)
    theirs_before = {
        zoho_id: (row.synced_at, row.run_id, row.custom_fields) for zoho_id, row in mirrored(other).items()
    }
    zoho_id = sorted(store(empty_sandbox))[10]
    control(empty_sandbox, "DELETE", f"zoho/Leads/{zoho_id}?permanent=1")
    control(empty_sandbox, "POST", "zoho/formula", {"count": 5, "seed": 1})
    CrmRecord.objects.for_organization(organization).filter(external_id=sorted(store(empty_sandbox))[0]).delete()

    run = reconcile_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.deleted, run.inserted) == (1, 1)
    assert run.updated >= 1
    theirs_after = {zoho_id: (row.synced_at, row.run_id, row.custom_fields) for zoho_id, row in mirrored(other).items()}
    assert theirs_after == theirs_before
    assert SyncState.objects.for_organization(other).get(object="lead").reconciled_at is None
    assert not SyncRun.objects.for_organization(other).filter(kind=SyncRun.Kind.RECONCILE).exists()


def test_the_beat_enqueues_a_reconciliation_once_it_is_due(organization, account, settings):
    settings.SYNC_MODULES = ["Leads", "Deals"]
    settings.SYNC_RECONCILE_HOURS = 24
    now = timezone.now()
    mine = {"organization": organization, "connection": account}
    for name in ("lead", "deal"):
        SyncRun.objects.create(**mine, object=name, started_at=now, status=SyncRun.Status.OK)
    SyncState.objects.create(**mine, object="lead", watermark=now, reconciled_at=now)
    SyncState.objects.create(**mine, object="deal", watermark=now, reconciled_at=now - timedelta(hours=25))
    SyncState.objects.create(**mine, object="contact", watermark=now)  # not scheduled
    enqueued: list[tuple[int, str]] = []
    with (
        mock.patch.object(sync_run_task, "delay"),
        mock.patch.object(reconcile_task, "delay", side_effect=lambda *args: enqueued.append(args)),
    ):
        sync_due_task()
        assert enqueued == [(organization.pk, "deal", account.pk)]
        # A reconciliation that started (and failed, or was skipped) is not retried every minute.
        SyncRun.objects.create(
            **mine, object="deal", kind=SyncRun.Kind.RECONCILE, started_at=now, status=SyncRun.Status.FAILED
        )
        sync_due_task()
        assert enqueued == [(organization.pk, "deal", account.pk)]


def test_a_module_never_synced_is_not_reconciled(organization, account, settings):
    settings.SYNC_MODULES = ["Leads"]
    enqueued: list[tuple[int, str]] = []
    with (
        mock.patch.object(sync_run_task, "delay"),
        mock.patch.object(reconcile_task, "delay", side_effect=lambda *args: enqueued.append(args)),
    ):
        sync_due_task()
    assert enqueued == []


def test_the_task_and_the_command_reconcile(organization, account, empty_sandbox):
    seed(empty_sandbox, 40)
    synced(organization)
    control(empty_sandbox, "DELETE", f"zoho/Leads/{sorted(store(empty_sandbox))[0]}?permanent=1")
    out = StringIO()
    call_command("sync", "reconcile", "--org", organization.slug, "--object", "lead", stdout=out)
    assert "lead: ok inserted=0 updated=0 deleted=1" in out.getvalue()
    assert reconcile_task(organization.pk, "Leads") == SyncRun.Status.OK  # a task queued before: the CRM's name
