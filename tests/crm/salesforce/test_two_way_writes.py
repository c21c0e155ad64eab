"""What two-way sync asks of the Salesforce provider, against the emulator: many records upserted by Leadline's
external id and updated by Id in sObject Collections of 200 (one result per row; a refused row is its own, the others
land), deletes to the Recycle Bin that a retry does not turn into an error, typed values read back as written, and
no source tag (REST reads do not say which client made a change)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import requests

from crm.errors import CrmNotFound, CrmRateLimited, CrmRejected, CrmUnavailable
from crm.providers.salesforce.provider import SalesforceProvider
from crm.records import Cursor
from tests.crm.harness_salesforce import WRITE_PATH, control

LEAD = "lead"
KEY = "Leadline_Id__c"


def counters(server) -> dict[str, int]:
    return control(server, "GET", "counters")


def written(server, sf) -> int:
    return int(counters(server).get(f"salesforce.records_written:{sf.org_id}", 0))


def collection_calls(server) -> int:
    return sum(count for name, count in counters(server).items() if name.startswith("salesforce.composite"))


def rows(count: int, *, start: int = 0, **extra) -> list[dict]:
    return [
        {KEY: f"ll-{index}", "LastName": f"Person {index}", "Company": "Summit", **extra}
        for index in range(start, start + count)
    ]


def test_the_batch_size_is_salesforces_collection_cap():
    assert SalesforceProvider.max_writes_per_call == 200


def test_upsert_many_creates_then_updates_the_same_records_in_collections_of_200(empty_sandbox, sf, provider):
    first = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(250))
    assert all(result.ok and result.created for result in first)
    assert len({result.record_id for result in first}) == 250
    assert written(empty_sandbox, sf) == 250
    again = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(250, Title="Coach"))
    assert [(result.record_id, result.created) for result in again] == [(r.record_id, False) for r in first]
    assert len(sf.rows("Lead")) == 250  # a retried create never makes a second record
    assert sf.read("Lead", first[7].record_id)["Title"] == "Coach"
    assert written(empty_sandbox, sf) == 500


def test_a_refused_row_is_its_own_and_the_others_land(empty_sandbox, sf, provider):
    sf.call("POST", "/validation-rules", {"sobject": "Lead", "field": "Title", "message": "Titles are set by HR."})
    batch = rows(3)
    batch[1]["Title"] = "Boss"
    batch.insert(2, {KEY: "ll-typed", "LastName": "Typed", "Company": "S", "Budget__c": "lots"})
    batch.append({"LastName": "No key", "Company": "S"})
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=batch)
    assert [result.ok for result in results] == [True, False, False, True, False]
    refused = results[1].error
    assert isinstance(refused, CrmRejected)
    assert (refused.code, refused.message, refused.field_errors) == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Titles are set by HR.",
        {"Title": "Titles are set by HR."},
    )
    assert results[2].error.field_errors.keys() == {"Budget__c"}  # refused before sending: Salesforce names none
    assert results[4].error.field_errors == {KEY: "required"}
    assert written(empty_sandbox, sf) == 2
    assert sorted(row[KEY] for row in sf.rows("Lead")) == ["ll-0", "ll-2"]


def test_one_external_id_twice_in_a_batch_lands_in_order(sf, provider):
    results = provider.upsert_many(
        object=LEAD,
        external_id_field=KEY,
        rows=[{KEY: "ll-1", "LastName": "First", "Company": "S"}, {KEY: "LL-1", "LastName": "Second"}],
    )
    assert [result.ok for result in results] == [True, True]
    assert results[0].record_id == results[1].record_id
    assert results[0].created
    assert not results[1].created
    assert sf.read("Lead", results[0].record_id)["LastName"] == "Second"


def test_several_records_holding_an_external_id_refuse_that_row(sf, provider):
    sf.insert("Lead", [{"LastName": name, "Company": "Twice", "External_Ref__c": "ref-1"} for name in ("A", "B")])
    results = provider.upsert_many(
        object=LEAD,
        external_id_field="External_Ref__c",
        rows=[
            {"External_Ref__c": "ref-1", "Title": "X"},
            {"External_Ref__c": "ref-2", "LastName": "C", "Company": "S"},
        ],
    )
    assert results[0].error.code == "DUPLICATE_EXTERNAL_ID"
    assert "more than one record" in results[0].error.message
    assert results[1].ok
    assert results[1].created


def test_a_lead_created_without_a_company_gets_web_to_leads_placeholder(sf, provider):
    (result,) = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=[{KEY: "ll-9", "LastName": "Solo"}])
    assert result.ok
    assert result.created
    assert sf.read("Lead", result.record_id)["Company"] == "[not provided]"
    # An update never needs it, and never overwrites the company with it.
    sf.update("Lead", [result.record_id], {"Company": "Harbor Gym"})
    (again,) = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=[{KEY: "ll-9", "Title": "Coach"}])
    assert again.ok
    assert sf.read("Lead", result.record_id)["Company"] == "Harbor Gym"


def test_update_many_sets_values_and_says_which_records_are_gone(empty_sandbox, sf, provider):
    ids = sf.seed("Lead", 3)
    sf.delete("Lead", ids[1])
    before = written(empty_sandbox, sf)
    results = provider.update_many(
        object=LEAD,
        updates=[(ids[0], {"Title": "Coach"}), (ids[1], {"Title": "Gone"}), ("nope", {"Title": "x"}), (ids[2], {})],
    )
    assert [result.record_id for result in results] == [ids[0], ids[1], "nope", ids[2]]
    assert [result.ok for result in results] == [True, False, False, True]
    assert isinstance(results[1].error, CrmNotFound)
    assert results[1].error.code == "ENTITY_IS_DELETED"
    assert isinstance(results[2].error, CrmNotFound)
    assert sf.read("Lead", ids[0])["Title"] == "Coach"
    assert written(empty_sandbox, sf) == before + 1


def test_update_many_sends_200_records_a_call(empty_sandbox, sf, provider):
    ids = sf.seed("Lead", 201)
    control(empty_sandbox, "DELETE", "counters")
    results = provider.update_many(object=LEAD, updates=[(record_id, {"Title": "Coach"}) for record_id in ids])
    assert all(result.ok for result in results)
    assert collection_calls(empty_sandbox) == 2
    assert written(empty_sandbox, sf) == 201


def test_delete_record_goes_to_the_recycle_bin_and_a_retry_is_no_error(sf, provider):
    (lead_id,) = sf.seed("Lead", 1)
    assert provider.delete_record(object=LEAD, record_id=lead_id) is True
    assert sf.find("Lead", lead_id)["IsDeleted"] is True
    assert provider.delete_record(object=LEAD, record_id=lead_id) is False
    assert provider.delete_record(object=LEAD, record_id="00Q000000000000AAA") is False
    assert provider.delete_record(object=LEAD, record_id="../sobjects") is False


def test_a_throttled_batch_is_retried_and_one_that_stays_down_is_raised(empty_sandbox, sf, provider, sleeps):
    control(empty_sandbox, "POST", "faults", {"path": WRITE_PATH, "status": 503, "times": 1})
    (result,) = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(1))
    assert result.ok
    assert sleeps.waits
    control(empty_sandbox, "POST", "faults", {"path": WRITE_PATH, "status": 429, "times": 0})
    with pytest.raises((CrmRateLimited, CrmUnavailable)):
        provider.update_many(object=LEAD, updates=[(result.record_id, {"Title": "x"})])
    control(empty_sandbox, "DELETE", "faults")


TYPED = {
    "FirstName": "Ada",
    "Email": "ada@example.com",
    "MobilePhone": "+14155550142",
    "Website": "https://ada.example.com",
    "LeadSource": "Web",
    "SMS_Opt_Out__c": True,
    "Interests__c": ["Yoga", "Spin"],
    "Trial_Start__c": date(2026, 12, 24),
    "Consent_Date__c": datetime(2026, 12, 7, 14, 3, 56, 250000, tzinfo=UTC),
    "Budget__c": Decimal("129.95"),
    "Discount_Percent__c": Decimal("12.5"),
    "Age__c": Decimal("34"),
}


def read_back(provider, record_id: str, name: str):
    record = provider.record(object=LEAD, record_id=record_id)
    spec = provider.object_spec(object=LEAD).field(name)
    if spec.key == "email":  # one of the record's own columns
        return record.email or None, spec
    return record.get(spec.key), spec


def as_given(value, given):
    """A value as record() reads it, in the type it was given (dates and datetimes are read as ISO text, numbers as
    JSON numbers)."""
    if isinstance(given, datetime):
        return datetime.fromisoformat(value)
    if isinstance(given, date):
        return date.fromisoformat(value)
    if isinstance(given, Decimal):
        return Decimal(repr(value))
    return value


def test_typed_values_written_read_back_as_given(sf, provider):
    owner = sf.users()[1]["id"]
    (account_id,) = sf.insert("Account", [{"Name": "Harbor Gym"}])
    values = {**TYPED, "OwnerId": owner}
    (result,) = provider.upsert_many(
        object=LEAD, external_id_field=KEY, rows=[{KEY: "ll-t", "LastName": "Typed", "Company": "S", **values}]
    )
    assert result.ok, result.error
    for name, given in values.items():
        value, _ = read_back(provider, result.record_id, name)
        if name == "OwnerId":
            assert provider.record(object=LEAD, record_id=result.record_id).owner_id == given
            continue
        assert as_given(value, given) == given, name
    (contact,) = provider.upsert_many(
        object="contact",
        external_id_field=KEY,
        rows=[{KEY: "ll-c", "LastName": "Typed", "AccountId": account_id, "Birthdate": date(1990, 1, 2)}],
    )
    assert contact.ok, contact.error
    record = provider.record(object="contact", record_id=contact.record_id)
    assert (record.get("account_id"), record.get("birthdate")) == (account_id, "1990-01-02")


def test_none_clears_and_an_empty_multi_picklist_too(sf, provider):
    (result,) = provider.upsert_many(
        object=LEAD, external_id_field=KEY, rows=[{KEY: "ll-n", "LastName": "N", "Company": "S", **TYPED}]
    )
    clears = {name: None for name in TYPED if name != "SMS_Opt_Out__c"}
    (updated,) = provider.update_many(object=LEAD, updates=[(result.record_id, {**clears, "Interests__c": []})])
    assert updated.ok, updated.error
    for name in clears:
        assert read_back(provider, result.record_id, name)[0] is None, name


def test_a_naive_datetime_or_a_list_for_one_choice_is_refused_before_sending(sf, provider):
    results = provider.update_many(
        object=LEAD,
        updates=[
            (sf.seed("Lead", 1)[0], {"Consent_Date__c": datetime(2026, 12, 7, 14, 3)}),  # noqa: DTZ001 (the point)
            (sf.seed("Lead", 1, seed=8)[0], {"Interests__c": ["Yoga;Spin"]}),
        ],
    )
    assert [set(result.error.field_errors) for result in results] == [{"Consent_Date__c"}, {"Interests__c"}]


def test_no_source_tag_is_read_though_every_write_names_leadline(sf, provider):
    (result,) = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(1))
    assert sf.read("Lead", result.record_id)["_last_client"] == "leadline"
    record = provider.record(object=LEAD, record_id=result.record_id)
    assert provider.changed_by_us(record=record) is None
    assert "_last_client" not in record.raw


def test_the_write_path_regex_leaves_reads_alone(empty_sandbox, sf, provider):
    control(empty_sandbox, "POST", "faults", {"path": WRITE_PATH, "status": 503, "times": 0})
    try:
        provider.object_spec(object=LEAD)
        assert list(provider.changed_since(object=LEAD, cursor=Cursor()).records) == []
        assert list(provider.deleted_since(object=LEAD, since=None)) == []
    finally:
        requests.delete(f"{empty_sandbox.url}/_sandbox/faults", timeout=10)


def test_a_request_refused_whole_is_halved_until_the_refused_row_is_alone(empty_sandbox, sf, provider):
    # Salesforce answers 400 for a whole request it cannot read (naming no record): here the first two calls.
    control(empty_sandbox, "POST", "faults", {"path": WRITE_PATH, "status": 400, "times": 2})
    control(empty_sandbox, "DELETE", "counters")
    results = provider.upsert_many(object=LEAD, external_id_field=KEY, rows=rows(3))
    assert [result.ok for result in results] == [False, True, True]
    assert isinstance(results[0].error, CrmRejected)
    # All three (refused), the first alone (refused), then the other two.
    refused = sum(count for name, count in counters(empty_sandbox).items() if name.startswith("fault:"))
    assert (refused, collection_calls(empty_sandbox)) == (2, 1)
    assert sorted(row[KEY] for row in sf.rows("Lead")) == ["ll-1", "ll-2"]


def test_an_upsert_by_a_field_that_is_no_external_id_refuses_every_row(sf, provider):
    results = provider.upsert_many(
        object=LEAD, external_id_field="Email", rows=[{"Email": "a@example.com", "LastName": "A", "Company": "S"}] * 2
    )
    assert [type(result.error) for result in results] == [CrmRejected, CrmRejected]
    assert "external ID field" in results[0].error.message
    assert sf.rows("Lead") == []
