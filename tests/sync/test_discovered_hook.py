"""The records-discovered hook (crm/hooks.py): a delta run announces the records it inserted, after their batch
committed and with the object's sync interval; never the first load, a backfill or a reconciliation (their records
are old), and never records it only updated. A receiver that fails does not fail the run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm import hooks
from sync.backfill import backfill_run
from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun, SyncSchedule
from sync.reconcile import reconcile_run
from tests.crm.zoho.conftest import control
from tests.sync.conftest import seed, store


@pytest.fixture
def announced(monkeypatch):
    calls: list[dict] = []

    def receiver(**kwargs):
        calls.append(kwargs)

    monkeypatch.setattr(hooks, "RECORDS_DISCOVERED_RECEIVERS", [receiver])
    return calls


def new_lead(server, name: str) -> str:
    return control(server, "POST", "zoho/leads", {"Last_Name": name, "Mobile": "+14155550123"})["id"]


def test_a_delta_run_announces_only_the_records_it_inserted_after_the_first_load(
    organization, account, empty_sandbox, announced, django_capture_on_commit_callbacks
):
    seed(empty_sandbox, 50)
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_run(organization=organization, object="lead").inserted == 50
    assert announced == []  # the first load: old records
    SyncSchedule.unscoped_objects.create(
        organization=organization, connection=account, object="lead", interval_minutes=5
    )
    edited = sorted(store(empty_sandbox))[0]
    control(empty_sandbox, "PATCH", f"zoho/Leads/{edited}", {"Last_Name": "Edited"})
    created = new_lead(empty_sandbox, "Brand New")
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run(organization=organization, object="lead")
    assert (run.inserted, run.updated) == (1, 1)
    [call] = announced
    assert [record.id for record in call["records"]] == [created]
    assert (call["organization"], call["connection"], call["object"]) == (organization, account, "lead")
    assert call["sync_interval"] == timedelta(minutes=5)


def test_backfill_and_reconciliation_announce_nothing(
    organization, account, empty_sandbox, announced, django_capture_on_commit_callbacks
):
    seed(empty_sandbox, 30)
    with django_capture_on_commit_callbacks(execute=True):
        assert backfill_run(organization=organization, object="lead").status == SyncRun.Status.OK
        new_lead(empty_sandbox, "Missed")
        CrmRecord.objects.for_organization(organization).filter(external_id=sorted(store(empty_sandbox))[0]).delete()
        run = reconcile_run(organization=organization, object="lead")
    assert run.inserted >= 1
    assert announced == []


def test_a_failing_receiver_does_not_fail_the_run(
    organization, account, empty_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(**kwargs):
        raise RuntimeError("receiver down")

    monkeypatch.setattr(hooks, "RECORDS_DISCOVERED_RECEIVERS", [broken])
    seed(empty_sandbox, 5)
    sync_run(organization=organization, object="lead")
    new_lead(empty_sandbox, "Someone")
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_run(organization=organization, object="lead")
    assert (run.status, run.inserted) == (SyncRun.Status.OK, 1)
