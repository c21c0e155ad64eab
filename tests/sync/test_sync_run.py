"""Delta sync against the sandbox over real HTTP: first run, edits and deletes, same-second edits, 429 bursts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.phone import normalize_e164
from crm.providers.zoho.client import ZohoClient
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState
from sync.selectors import crm_record_get, crm_records_by_phone
from tests.crm.zoho.conftest import control
from tests.sync.conftest import seed, store


def mirrored(organization, object="lead"):
    return {row.external_id: row for row in CrmRecord.objects.for_organization(organization).filter(object=object)}


def test_first_run_mirrors_every_seeded_record_exactly(organization, account, empty_sandbox):
    seed(empty_sandbox, 1_234)
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert (run.inserted, run.updated, run.deleted) == (1_234, 0, 0)
    expected = store(empty_sandbox)
    rows = mirrored(organization)
    assert set(rows) == set(expected)
    for zoho_id, record in expected.items():
        row = rows[zoho_id]
        assert row.modified_time == datetime.fromisoformat(record["Modified_Time"]).astimezone(UTC)
        assert row.created_time == datetime.fromisoformat(record["Created_Time"])
        assert row.owner_id == record["Owner"]["id"]
        assert row.owner_name == record["Owner"]["name"]
        assert row.email == (record.get("Email") or "")
        assert row.name == record["Full_Name"].strip()
        assert row.fields["last_name"] == record["Last_Name"].strip()
        assert row.fields["lead_source"] == record.get("Lead_Source")
        assert row.fields["converted_s"] is bool(record.get("Converted__s"))
        assert row.custom_fields["Interests"] == record.get("Interests", [])
        assert row.custom_fields["Studio"] == record.get("Studio")
        if record.get("Annual_Revenue") is not None:
            assert Decimal(str(row.fields["annual_revenue"])) == Decimal(str(record["Annual_Revenue"]))
            assert row.fields["currency_code"] == "USD"
        assert row.run_id == run.pk
        assert row.deleted_at is None
    phones = {(p.external_id, p.field): p.e164 for p in CrmPhone.objects.for_organization(organization)}
    sample = next(r for r in expected.values() if r.get("Mobile"))
    assert phones[(sample["id"], "Mobile")] == normalize_e164(sample["Mobile"], default_region="US")
    assert run.credits_used > 0
    assert run.watermark_after == max(row.modified_time for row in rows.values())
    state = SyncState.objects.for_organization(organization).get(object="lead")
    assert state.locked_by_id is None
    assert state.checkpoint_time is None


def test_second_run_updates_and_deletes_exactly_what_changed(organization, account, empty_sandbox):
    seed(empty_sandbox, 700)
    first = sync_run(organization=organization, object="lead")
    ids = sorted(store(empty_sandbox))
    edited, deleted = ids[10:15], ids[20:23]
    for zoho_id in edited:
        control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Last_Name": f"  Edited {zoho_id} "})
    for zoho_id in deleted:
        control(empty_sandbox, "DELETE", f"zoho/Leads/{zoho_id}")
    for index in range(2):  # created now, so after the watermark (seeded records are back-dated)
        control(empty_sandbox, "POST", "zoho/leads", {"Last_Name": f"New {index}", "Mobile": "+14155550123"})

    second = sync_run(organization=organization, object="lead")
    assert second.status == SyncRun.Status.OK, second.error
    assert (second.inserted, second.updated, second.deleted) == (2, 5, 3)
    assert second.watermark_before == first.watermark_after
    rows = mirrored(organization)
    touched = {zoho_id for zoho_id, row in rows.items() if row.run_id == second.pk}
    new_ids = set(store(empty_sandbox)) - set(ids)
    assert touched == set(edited) | set(deleted) | new_ids
    for zoho_id in edited:
        assert rows[zoho_id].fields["last_name"] == f"Edited {zoho_id}"
    assert {zoho_id for zoho_id, row in rows.items() if row.deleted_at} == set(deleted)
    assert not CrmPhone.objects.for_organization(organization).filter(external_id__in=deleted).exists()

    third = sync_run(organization=organization, object="lead")
    assert (third.inserted, third.updated, third.deleted) == (0, 0, 0)


def test_an_edit_in_the_same_second_as_the_mirrored_one_is_applied(organization, account, empty_sandbox):
    seed(empty_sandbox, 50)
    control(empty_sandbox, "POST", "clock", {"freeze_at": None})
    zoho_id = sorted(store(empty_sandbox))[0]
    control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Last_Name": "First"})
    sync_run(organization=organization, object="lead")
    moment = mirrored(organization)[zoho_id].modified_time
    control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Last_Name": "Second"})  # clock frozen: same second

    run = sync_run(organization=organization, object="lead")
    row = mirrored(organization)[zoho_id]
    assert row.modified_time == moment
    assert row.fields["last_name"] == "Second"
    assert run.updated == 1


def test_converted_leads_are_mirrored(organization, account, empty_sandbox):
    seed(empty_sandbox, 20)
    zoho_id = sorted(store(empty_sandbox))[3]
    control(empty_sandbox, "POST", f"zoho/Leads/{zoho_id}/convert")
    sync_run(organization=organization, object="lead")
    assert mirrored(organization)[zoho_id].fields["converted_s"] is True


def test_a_429_burst_mid_run_is_retried_and_the_run_completes(organization, account, empty_sandbox, settings):
    settings.SYNC_COQL_PAGE_SIZE = 200
    seed(empty_sandbox, 1_100)
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 429, "times": 3, "after": 2})
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    assert control(empty_sandbox, "GET", "faults")[0]["fired"] == 3
    assert run.inserted == 1_100
    assert set(mirrored(organization)) == set(store(empty_sandbox))


def test_other_modules_and_lookups_are_mirrored_by_configuration(organization, account, empty_sandbox):
    seed(empty_sandbox, 30, module="Accounts")
    seed(empty_sandbox, 40, module="Deals")
    account_id = sorted(store(empty_sandbox, "Accounts"))[0]
    deal_id = sorted(store(empty_sandbox, "Deals"))[0]
    control(empty_sandbox, "PATCH", f"zoho/Deals/{deal_id}", {"Account_Name": {"id": account_id}})
    run = sync_run(organization=organization, object="deal")
    assert run.status == SyncRun.Status.OK, run.error
    expected = store(empty_sandbox, "Deals")
    rows = mirrored(organization, "deal")
    assert set(rows) == set(expected)
    sample = expected[deal_id]
    row = rows[deal_id]
    assert row.fields["account_name_id"] == account_id
    assert row.fields["account_name_name"] == store(empty_sandbox, "Accounts")[account_id]["Account_Name"]
    assert row.name == sample["Deal_Name"]
    assert row.fields["stage"] == sample["Stage"]


def test_columns_beyond_one_query_are_read_by_id_and_merged(organization, account, empty_sandbox, settings):
    settings.SYNC_COQL_MAX_COLUMNS = 20
    seed(empty_sandbox, 300)
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    expected = store(empty_sandbox)
    rows = mirrored(organization)
    assert set(rows) == set(expected)
    for zoho_id, record in expected.items():
        assert rows[zoho_id].custom_fields["Studio"] == record.get("Studio")  # a late column
        assert rows[zoho_id].fields["last_name"] == record["Last_Name"]


def test_a_record_edited_between_a_page_and_its_merged_columns_does_not_move_the_checkpoint_past_the_cursor(
    organization, account, empty_sandbox, settings, monkeypatch
):
    """Regression: the by-id read of the columns beyond one query carried Modified_Time too, so a record edited in
    between gave its batch a Modified_Time past the cursor; the run failing next left the checkpoint there, and
    the resumed run skipped every record in between (here months of them, in a first load)."""
    settings.SYNC_COQL_MAX_COLUMNS = 25  # three queries per page; Modified_Time comes again with the third
    settings.SYNC_COQL_PAGE_SIZE = settings.SYNC_BATCH_SIZE = 20
    seed(empty_sandbox, 100)  # modified over the past months
    in_order = sorted(
        store(empty_sandbox).values(), key=lambda r: (datetime.fromisoformat(r["Modified_Time"]), r["id"])
    )
    last_of_first_batch = in_order[19]["id"]
    original = ZohoClient.coql
    calls = {"n": 0}

    def coql(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # after the first page, before its other columns are read
            control(empty_sandbox, "PATCH", f"zoho/Leads/{last_of_first_batch}", {"Description": "edited just now"})
        return original(self, **kwargs)

    monkeypatch.setattr(ZohoClient, "coql", coql)
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 500, "times": 0, "after": 3})
    assert sync_run(organization=organization, object="lead").status == SyncRun.Status.FAILED  # at the 2nd page
    control(empty_sandbox, "DELETE", "faults")

    resumed = sync_run(organization=organization, object="lead")
    assert resumed.status == SyncRun.Status.OK, resumed.error
    assert set(mirrored(organization)) == set(store(empty_sandbox))
    assert mirrored(organization)[last_of_first_batch].fields["description"] == "edited just now"


def test_records_edited_while_the_run_pages_are_all_mirrored_with_their_new_values(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 5_000)
    rule = {"path": "^/crm/v8/coql", "after": 1, "action": "edit_records", "module": "Leads", "count": 50}
    control(empty_sandbox, "POST", "faults", rule)
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK, run.error
    expected = store(empty_sandbox)
    rows = mirrored(organization)
    assert set(rows) == set(expected)  # OFFSET paging would skip the records shifted under the next page
    edited = [record for record in expected.values() if (record.get("Description") or "").startswith("edited by")]
    assert len(edited) == 50
    for record in edited:
        assert rows[record["id"]].fields["description"] == record["Description"]
        assert rows[record["id"]].modified_time == datetime.fromisoformat(record["Modified_Time"])


def test_an_inbound_phone_resolves_to_mirrored_records_without_zoho(organization, account, empty_sandbox):
    seed(empty_sandbox, 60)
    sync_run(organization=organization, object="lead")
    record = next(r for r in store(empty_sandbox).values() if r.get("Mobile"))
    e164 = normalize_e164(record["Mobile"], default_region="US")
    calls = dict(empty_sandbox.state.counters)
    found = crm_records_by_phone(organization=organization, e164=e164)
    assert record["id"] in {row.external_id for row in found}
    assert crm_record_get(organization=organization, object="lead", external_id=record["id"]).owner_id
    assert dict(empty_sandbox.state.counters) == calls
    control(empty_sandbox, "DELETE", f"zoho/Leads/{record['id']}")
    sync_run(organization=organization, object="lead")
    assert record["id"] not in {row.external_id for row in crm_records_by_phone(organization=organization, e164=e164)}
    assert crm_record_get(organization=organization, object="lead", external_id=record["id"]) is None
