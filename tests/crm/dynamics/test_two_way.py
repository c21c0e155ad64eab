"""What two-way sync asks of the Dynamics provider, against the emulator over real HTTP: many-record upserts by the
`lh_leadlineid` alternate key and updates in $batch calls of 100 (each refused row its own CrmRejected with
Dataverse's code and message, the others landing), deletes (False for a row already gone), the modifiedby source
tag, and option sets' labels."""

from __future__ import annotations

import uuid

import pytest

from crm.errors import CrmNotFound, CrmRateLimited, CrmRejected
from crm.providers.dynamics import many
from crm.records import FieldType
from tests.crm.harness_hubspot import control

pytestmark = pytest.mark.django_db

KEY = "lh_leadlineid"


def lead_of(dv, **values) -> str:
    number = len(dv.rows("lead")) + 1
    return dv.create("lead", {"firstname": "Pat", "lastname": f"Lead {number}", **values})


def refuse(dv, table, column, message):
    from sandbox.dynamics.rules import refuse as plugin_refuses

    plugin_refuses(dv.environment, table, column, message)


def written(dv) -> int:
    return int(dv.server.state.counters["records_written"])


def test_upserts_by_the_leadline_id_create_then_update_and_a_retry_never_duplicates(dv, provider):
    rows = [{KEY: f"ll-{n}", "lastname": f"Sync {n}", "leadsourcecode": "8"} for n in range(3)]
    first = provider.upsert_many(object="lead", external_id_field=KEY, rows=rows)
    assert [(result.ok, result.created) for result in first] == [(True, True)] * 3
    assert sorted(dv.ids("lead")) == sorted(result.record_id for result in first)
    again = provider.upsert_many(
        object="lead", external_id_field=KEY, rows=[{**row, "firstname": "Kim"} for row in rows]
    )
    assert [(result.record_id, result.created) for result in again] == [(result.record_id, False) for result in first]
    assert len(dv.rows("lead")) == 3
    assert {row["firstname"] for row in dv.rows("lead")} == {"Kim"}
    assert {row["modifiedby"] for row in dv.rows("lead")} == {dv.application_user_id}
    assert written(dv) == 6


def test_a_refused_row_is_its_own_error_and_the_others_land(dv, provider):
    refuse(dv, "contact", "lh_studio", "Contacts from other systems may not name a studio.")
    taken = dv.create("contact", {"lastname": "Taken", KEY: "taken"})
    rows = [
        {KEY: "c-1", "lastname": "Good"},
        {KEY: "c-2", "lastname": "Studio", "lh_studio": "Marina"},
        {KEY: "c-3", "lastname": "x" * 60},
        {KEY: "c-4", "lastname": "Also good"},
    ]
    results = provider.upsert_many(object="contact", external_id_field=KEY, rows=rows)
    assert [result.ok for result in results] == [True, False, False, True]
    plugin = results[1].error
    assert isinstance(plugin, CrmRejected)
    assert plugin.code == "0x80040265"
    assert "Contacts from other systems may not name a studio." in plugin.message
    assert "lastname" in results[2].error.message  # longer than the column's MaxLength: Dataverse's own refusal
    assert sorted(row["lastname"] for row in dv.rows("contact")) == ["Also good", "Good", "Taken"]
    moved = provider.update_many(object="contact", updates=[(results[0].record_id, {KEY: "taken"})])
    assert moved[0].error.code == "0x80060892"  # the alternate key keeps the Leadline id unique
    assert dv.row("contact", taken)[KEY] == "taken"


def test_updates_never_create_a_missing_row_is_not_found_and_no_values_is_no_call(dv, provider):
    kept, gone = lead_of(dv), lead_of(dv)
    dv.delete("lead", gone)
    before = written(dv)
    results = provider.update_many(
        object="lead",
        updates=[
            (kept, {"lh_smsoptout": True}),
            (gone, {"lh_smsoptout": True}),
            ("00Q5g00000abcde", {"x": 1}),
            (kept, {}),
        ],
    )
    assert [result.record_id for result in results] == [kept, gone, "00Q5g00000abcde", kept]
    assert results[0].ok
    assert results[3].ok
    assert isinstance(results[1].error, CrmNotFound)
    assert isinstance(results[2].error, CrmNotFound)
    assert dv.row("lead", gone) is None
    assert dv.row("lead", kept)["lh_smsoptout"] is True
    assert written(dv) == before + 1


def test_many_rows_go_in_batches_of_a_hundred(dv, provider):
    assert provider.max_writes_per_call == many.MAX_PER_CALL == 100
    provider.upsert_many(object="account", external_id_field=KEY, rows=[{KEY: "warm", "name": "Warm"}])
    calls = provider.credits_used
    rows = [{KEY: f"a-{n}", "name": f"Account {n}"} for n in range(250)]
    results = provider.upsert_many(object="account", external_id_field=KEY, rows=rows)
    assert all(result.created for result in results)
    assert provider.credits_used - calls == 3
    assert len(dv.rows("account")) == 251


def test_a_delete_is_true_once_then_false(dv, provider):
    lead = lead_of(dv)
    assert provider.delete_record(object="lead", record_id=lead) is True
    assert dv.row("lead", lead) is None
    assert provider.delete_record(object="lead", record_id=lead) is False
    assert provider.delete_record(object="lead", record_id="not-a-guid") is False
    assert provider.delete_record(object="lead", record_id=str(uuid.uuid4())) is False


def test_changed_by_us_reads_modifiedby_against_the_application_user(dv, dv_connection, provider):
    lead = lead_of(dv)
    record = provider.record(object="lead", record_id=lead)
    assert "_modifiedby_value" in record.raw
    assert provider.changed_by_us(record=record) is False  # a person made it
    provider.update_fields(object="lead", record_id=lead, values={"lh_studio": "Marina"})
    ours = provider.record(object="lead", record_id=lead)
    assert provider.changed_by_us(record=ours) is True
    (changed,) = provider.records(object="lead", record_ids=[lead])
    assert provider.changed_by_us(record=changed) is True
    bare = provider.to_canonical(object="lead", record={"leadid": lead, "modifiedon": "2026-12-07T10:00:00Z"})
    assert provider.changed_by_us(record=bare) is None  # read without the column: nothing said
    dv_connection.application_user_id = ""
    dv_connection.save(update_fields=["application_user_id"])
    assert provider.changed_by_us(record=ours) is None  # a connection that does not know its user


def test_option_sets_carry_their_labels_and_read_back_as_written(dv, provider):
    spec = provider.object_spec(object="lead").field("leadsourcecode")
    assert spec.type == FieldType.PICKLIST
    assert dict(zip(spec.choices, spec.choice_labels, strict=True))["8"] == "Web"
    (result,) = provider.upsert_many(
        object="lead", external_id_field=KEY, rows=[{KEY: "o-1", "lastname": "Opt", "leadsourcecode": "8"}]
    )
    record = provider.record(object="lead", record_id=result.record_id)
    assert (record.fields["leadsourcecode"], record.fields["leadsourcecode_label"]) == ("8", "Web")
    assert record.custom_fields[KEY] == "o-1"


def test_the_leadline_id_is_unique_by_its_alternate_key(provider):
    for object in ("lead", "contact", "account"):
        fields = provider.object_spec(object=object).fields
        assert [field.name for field in fields if field.unique] == [KEY]


def test_throttling_that_outlasts_the_retries_stops_the_whole_call(dv, dv_server, provider):
    body = {
        "error": {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        }
    }
    rule = {"path": r"/\$batch", "method": "POST", "status": 429, "body": body, "headers": {"Retry-After": "1"}}
    control(dv_server, "POST", "faults", {**rule, "times": 0})
    with pytest.raises(CrmRateLimited):
        provider.upsert_many(object="lead", external_id_field=KEY, rows=[{KEY: "t-1", "lastname": "Throttled"}])
    assert dv.rows("lead") == []


@pytest.fixture
def harness(dv_server, organization):
    from tests.crm.harness_dynamics import Harness

    return Harness(server=dv_server, organization=organization)


def test_the_harness_acts_as_people_and_fails_writes_as_dataverse_would(harness):
    account = harness.create_record("account", {"name": "Harbor Gyms"})
    contact = harness.create_record("contact", {"lastname": "Ng", "parentcustomerid": account, KEY: "h-1"})
    assert harness.read_record("contact", contact)["parentcustomerid"] == account
    harness.edit_record("contact", contact, {"firstname": "Ana"})
    assert harness.read_record("contact", contact)["modifiedby"] != harness.dv.application_user_id
    assert harness.record_ids("contact") == [contact]
    provider = harness.provider()
    harness.fail_writes(status=503, times=1)
    (result,) = provider.update_many(object="contact", updates=[(contact, {"lastname": "Ng-Park"})])
    assert result.ok  # the client sent the $batch again after the outage
    assert harness.read_record("contact", contact)["lastname"] == "Ng-Park"
    harness.refuse_writes("contact", field="lastname", message="Names come from the booking system.")
    (refused,) = provider.update_many(object="contact", updates=[(contact, {"lastname": "Other"})])
    assert refused.error.message.endswith("Names come from the booking system.")
    harness.allow_writes("contact")
    assert provider.update_many(object="contact", updates=[(contact, {"lastname": "Other"})])[0].ok
    harness.fail_writes(status=429, times=0)
    with pytest.raises(CrmRateLimited):
        provider.delete_record(object="contact", record_id=contact)
    harness.server.state.faults.clear()
    harness.delete_record("contact", contact)
    assert harness.read_record("contact", contact) is None
    assert harness.records_written() == 2
