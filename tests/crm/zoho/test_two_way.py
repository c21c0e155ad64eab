"""What two-way sync writes to Zoho CRM through the provider, against the emulator over real HTTP: upserts by the
unique Leadline_Id 100 to a call, updates of many records with each record's own result, deletes, the values
written in Zoho's format, and no source tag."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from crm.errors import CrmNotFound, CrmRateLimited, CrmRejected
from crm.records import Capability
from crm.registry import provider_for
from sandbox import worlds
from tests.crm.harness import SleepRecorder
from tests.crm.harness_zoho import Harness
from tests.crm.zoho.conftest import control, records_written


@pytest.fixture
def provider(empty_account):
    return provider_for(empty_account, sleep=SleepRecorder())


def calls(server, endpoint: str) -> int:
    """Calls the emulator answered at endpoints whose name holds `endpoint` (the kit counts each)."""
    counters = control(server, "GET", "counters")
    return sum(count for name, count in counters.items() if endpoint in name and ":" not in name)


def test_schema_says_leadline_id_is_unique_and_images_are_not_written(provider):
    assert provider.supports(Capability.UPSERT_BY_EXTERNAL_ID)
    assert provider.max_writes_per_call == 100
    for object in ("lead", "contact", "account"):
        spec = provider.object_spec(object=object)
        assert spec.field("Leadline_Id").unique
        assert [field.name for field in spec.fields if field.unique] == ["Leadline_Id"]
    lead = provider.object_spec(object="lead")
    assert lead.field("Record_Image").read_only
    assert lead.field("Lead_Score").read_only


def test_upserts_go_100_to_a_call_and_a_retry_updates_the_same_records(provider, empty_sandbox):
    rows = [{"Leadline_Id": f"ll-{n}", "Last_Name": f"Upserted {n}"} for n in range(130)]
    before = calls(empty_sandbox, "upsert")
    first = provider.upsert_many(object="contact", external_id_field="Leadline_Id", rows=rows)
    assert [(result.ok, result.created) for result in first] == [(True, True)] * 130
    assert calls(empty_sandbox, "upsert") - before == 2  # 100 + 30
    again = provider.upsert_many(
        object="contact", external_id_field="Leadline_Id", rows=[{**row, "Title": "Coach"} for row in rows]
    )
    assert [(result.record_id, result.created) for result in again] == [(result.record_id, False) for result in first]
    assert len(control(empty_sandbox, "GET", "zoho/Contacts?limit=1000")) == 130
    assert records_written(empty_sandbox) == 260
    one = provider.upsert(object="contact", external_id_field="Leadline_Id", values={**rows[0], "Title": "Head"})
    assert one == (first[0].record_id, False)


def test_an_upsert_row_without_its_external_id_is_refused_alone(provider, empty_sandbox):
    rows = [{"Last_Name": "Keyless"}, {"Leadline_Id": "ll-kept", "Last_Name": "Kept"}]
    refused, kept = provider.upsert_many(object="lead", external_id_field="Leadline_Id", rows=rows)
    assert isinstance(refused.error, CrmRejected)
    assert "Leadline_Id" in refused.error.field_errors
    assert (kept.ok, kept.created) == (True, True)


def test_a_duplicate_unique_value_is_that_rows_rejection(provider, empty_sandbox):
    (existing,) = provider.upsert_many(
        object="lead", external_id_field="Leadline_Id", rows=[{"Leadline_Id": "ll-taken", "Last_Name": "Taken"}]
    )
    other = provider.create_record(object="lead", values={"Last_Name": "Other"})
    moved, fine = provider.update_many(
        object="lead", updates=[(other, {"Leadline_Id": "LL-TAKEN"}), (existing.record_id, {"Last_Name": "Still"})]
    )
    assert isinstance(moved.error, CrmRejected)
    assert not isinstance(moved.error, CrmNotFound)
    assert moved.error.code == "DUPLICATE_DATA"
    assert "Leadline_Id" in moved.error.field_errors
    assert fine.ok


def test_update_many_answers_each_record_a_deleted_one_not_found(provider, empty_sandbox):
    ids = [provider.create_record(object="lead", values={"Last_Name": f"L{n}"}) for n in range(3)]
    control(empty_sandbox, "DELETE", f"zoho/Leads/{ids[1]}")
    results = provider.update_many(
        object="lead",
        updates=[
            (ids[0], {"Last_Name": "A"}),
            (ids[1], {"Last_Name": "B"}),
            ("not-an-id", {"Last_Name": "C"}),
            (ids[2], {"Last_Name": "D"}),
        ],
    )
    assert [result.record_id for result in results] == [ids[0], ids[1], "not-an-id", ids[2]]
    assert [result.ok for result in results] == [True, False, False, True]
    assert isinstance(results[1].error, CrmNotFound)
    assert isinstance(results[2].error, CrmNotFound)
    assert control(empty_sandbox, "GET", f"zoho/Leads/{ids[2]}")["Last_Name"] == "D"


def test_typed_values_are_written_in_zohos_format_and_read_back_as_given(provider, empty_sandbox):
    account = provider.create_record(object="account", values={"Account_Name": "Harbor Gym"})
    owner = str(worlds.DEMO_USERS[1]["id"])
    moment = datetime(2026, 5, 1, 18, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    values = {
        "Last_Name": "Typed",
        "Account_Name": account,
        "Owner": owner,
        "Membership_Start_Date": date(2026, 5, 1),
        "Membership_Value": Decimal("149.90"),
        "Member_Number": 12345678901,
        "Interests": ["Yoga", "Spin"],
        "SMS_Opt_Out": True,
    }
    record_id = provider.create_record(object="contact", values=values)
    provider.update_fields(object="contact", record_id=record_id, values={"Email_Opt_Out": True})
    stored = control(empty_sandbox, "GET", f"zoho/Contacts/{record_id}")
    assert stored["Account_Name"]["id"] == account
    assert stored["Owner"]["id"] == owner
    assert stored["Membership_Start_Date"] == "2026-05-01"
    assert stored["Membership_Value"] == 149.9
    record = provider.record(object="contact", record_id=record_id)
    assert record.get("account_name_id") == account
    assert record.owner_id == owner
    assert Decimal(str(record.get("Membership_Value"))) == Decimal("149.90")
    assert record.get("Membership_Start_Date") == "2026-05-01"
    lead = provider.create_record(object="lead", values={"Last_Name": "Timed", "Last_SMS_Time": moment})
    read = datetime.fromisoformat(provider.record(object="lead", record_id=lead).get("Last_SMS_Time"))
    assert read == moment.replace(microsecond=0)
    naive = moment.replace(tzinfo=None)
    with pytest.raises(CrmRejected, match="time zone"):
        provider.update_fields(object="lead", record_id=lead, values={"Last_SMS_Time": naive})
    provider.update_fields(object="lead", record_id=lead, values={"Last_SMS_Time": None})
    assert provider.record(object="lead", record_id=lead).get("Last_SMS_Time") is None


def test_a_delete_goes_to_the_recycle_bin_once(provider, empty_sandbox):
    record_id = provider.create_record(object="lead", values={"Last_Name": "Gone"})
    since = datetime.now(UTC) - timedelta(seconds=2)
    assert provider.delete_record(object="lead", record_id=record_id) is True
    assert provider.delete_record(object="lead", record_id=record_id) is False
    assert provider.delete_record(object="lead", record_id="not-an-id") is False
    assert [entry.id for entry in provider.deleted_since(object="lead", since=since)] == [record_id]


def test_throttled_writes_raise_for_the_whole_call(provider, empty_sandbox):
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/Leads/upsert$", "status": 429, "times": 0})
    with pytest.raises(CrmRateLimited):
        provider.upsert_many(
            object="lead", external_id_field="Leadline_Id", rows=[{"Leadline_Id": "ll-1", "Last_Name": "Slow"}]
        )
    assert records_written(empty_sandbox) == 0


def test_no_source_tag_zoho_names_only_the_connections_user(provider):
    record_id = provider.create_record(object="lead", values={"Last_Name": "Ours"})
    assert provider.changed_by_us(record=provider.record(object="lead", record_id=record_id)) is None


def test_the_harness_fails_writes_and_leaves_reads_alone(organization, empty_sandbox):
    harness = Harness(server=empty_sandbox, organization=organization)
    provider = harness.provider()
    lead = provider.create_record(object="lead", values={"Last_Name": "Retried"})
    harness.fail_writes(status=503, times=2)
    assert provider.record(object="lead", record_id=lead).name == "Retried"  # a read is not failed
    (result,) = provider.update_many(object="lead", updates=[(lead, {"Last_Name": "Landed"})])
    assert result.ok
    assert len(harness.sleep.waits) == 2  # two 503s, retried (an update is idempotent)
    assert harness.read_record("lead", lead)["Last_Name"] == "Landed"
