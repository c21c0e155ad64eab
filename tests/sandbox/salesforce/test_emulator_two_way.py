"""What the Salesforce emulator does for two-way sync tests: a tally of records the data API wrote (refused and
rolled-back records count none, the control API none), validation rules an admin switches on and off
(FIELD_CUSTOM_VALIDATION_EXCEPTION with the rule's message, in the single-record and the collection shape), the
collection update and upsert caps and allOrNone, several records holding one external id (300 for the single upsert,
the record's error in a collection), datetime fields kept to the millisecond, and the last write's client."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.salesforce.emu_support import error_of, lead, new_org

CLIENT = {"Sforce-Call-Options": "client=leadline"}
RULE = {"sobject": "Lead", "field": "Title", "message": "Title is kept by HR: change it in Workday."}


@pytest.fixture
def org(empty_sandbox):
    made = new_org(empty_sandbox)
    made.refresh()
    return made


def written(org) -> int:
    counters = requests.get(f"{org.server.url}/_sandbox/counters", timeout=10).json()
    return int(counters.get(f"salesforce.records_written:{org.org_id}", 0))


def create(org, values):
    response = org.call("POST", "sobjects/Lead", json=values, headers=CLIENT)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upsert_collection(org, records, *, all_or_none=False, field="Leadline_Id__c"):
    body = {"allOrNone": all_or_none, "records": [{"attributes": {"type": "Lead"}, **record} for record in records]}
    return org.call("PATCH", f"composite/sobjects/Lead/{field}", json=body, headers=CLIENT)


def test_records_written_counts_api_writes_only(org):
    org.control("POST", "/records/Lead", json={"records": [lead(LastName="By hand")]})
    assert written(org) == 0  # a person (the control API) writes nothing through the API
    lead_id = create(org, lead())
    assert org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Title": "Coach"}).status_code == 204
    assert org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Email": "not-an-email"}).status_code == 400
    assert written(org) == 2
    answer = upsert_collection(org, [lead(Leadline_Id__c="a"), {"Leadline_Id__c": "b", "FirstName": "No last"}])
    assert [result["success"] for result in answer.json()] == [True, False]
    assert written(org) == 3
    rolled_back = upsert_collection(org, [lead(Leadline_Id__c="c"), {"Leadline_Id__c": "d"}], all_or_none=True)
    assert rolled_back.json()[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert written(org) == 3
    assert org.call("DELETE", f"sobjects/Lead/{lead_id}").status_code == 204
    assert org.call("DELETE", f"sobjects/Lead/{lead_id}").status_code == 404
    assert written(org) == 4


def test_a_validation_rule_refuses_api_writes_setting_its_field_until_switched_off(org):
    lead_id = create(org, lead())
    rule = org.control("POST", "/validation-rules", json=RULE)
    assert rule.status_code == 201, rule.text
    refused = org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Title": "Boss"})
    assert refused.status_code == 400
    assert error_of(refused) == {
        "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "message": RULE["message"],
        "fields": ["Title"],
    }
    assert org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Rating": "Hot"}).status_code == 204
    created = org.call("POST", "sobjects/Lead", json=lead(Title="Boss"))
    assert error_of(created)["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    (result,) = upsert_collection(org, [lead(Leadline_Id__c="v-1", Title="Boss")]).json()
    assert result["errors"] == [
        {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": RULE["message"], "fields": ["Title"]}
    ]
    # A person editing in Lightning is not an API write.
    by_hand = org.control("PATCH", "/records/Lead", json={"ids": [lead_id], "values": {"Title": "Manager"}})
    assert by_hand.status_code == 200
    assert [entry["field"] for entry in org.control("GET", "/validation-rules").json()] == ["Title"]
    assert org.control("DELETE", "/validation-rules", params={"sobject": "Lead"}).json() == {"removed": 1}
    assert org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Title": "Boss"}).status_code == 204


def test_a_validation_rule_needs_a_known_field_and_a_message(org):
    assert org.control("POST", "/validation-rules", json={**RULE, "field": "Nope__c"}).status_code == 400
    assert org.control("POST", "/validation-rules", json={**RULE, "message": " "}).status_code == 400


def test_collection_update_and_upsert_take_at_most_200_records(org):
    records = [lead(Leadline_Id__c=f"cap-{n}") for n in range(201)]
    too_many = upsert_collection(org, records)
    assert too_many.status_code == 400
    assert error_of(too_many)["errorCode"] == "EXCEEDED_ID_LIMIT"
    updates = [{"attributes": {"type": "Lead"}, "Id": "00Q000000000000AAA", "Title": "x"}] * 201
    refused = org.call("PATCH", "composite/sobjects", json={"records": updates})
    assert refused.status_code == 400
    assert error_of(refused)["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert written(org) == 0


def test_collection_update_answers_per_record_and_all_or_none_rolls_back(org):
    first, second = create(org, lead()), create(org, lead(LastName="Two"))
    org.call("DELETE", f"sobjects/Lead/{second}")

    def update(all_or_none):
        records = [
            {"attributes": {"type": "Lead"}, "Id": first, "Title": "Coach"},
            {"attributes": {"type": "Lead"}, "Id": second, "Title": "Gone"},
        ]
        return org.call("PATCH", "composite/sobjects", json={"allOrNone": all_or_none, "records": records}).json()

    rolled = update(True)
    assert [result["errors"][0]["statusCode"] for result in rolled] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "ENTITY_IS_DELETED",
    ]
    assert org.row("Lead", first)["Title"] is None
    results = update(False)
    assert results[0] == {"id": first, "success": True, "errors": []}
    assert results[1]["id"] == second
    assert org.row("Lead", first)["Title"] == "Coach"


def test_several_records_holding_one_external_id(org):
    for name in ("A", "B"):
        create(org, lead(LastName=name, External_Ref__c="shared"))
    single = org.call("PATCH", "sobjects/Lead/External_Ref__c/shared", json={"Title": "x"})
    assert single.status_code == 300
    assert len(single.json()) == 2
    (result,) = upsert_collection(org, [{"External_Ref__c": "shared", "Title": "x"}], field="External_Ref__c").json()
    assert result["success"] is False
    assert result["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert result["errors"][0]["fields"] == ["External_Ref__c"]


def test_datetime_fields_keep_milliseconds_and_the_last_client_is_the_last_writers(org):
    lead_id = create(org, lead(Consent_Date__c="2026-12-07T14:03:56.250+00:00"))
    row = org.row("Lead", lead_id)
    assert row["Consent_Date__c"] == "2026-12-07T14:03:56.250+0000"
    assert row["SystemModstamp"].endswith(".000+0000")
    assert row["_last_client"] == "leadline"
    org.control("PATCH", "/records/Lead", json={"ids": [lead_id], "values": {"Title": "By hand"}})
    assert org.row("Lead", lead_id)["_last_client"] is None  # a person's edit names no client
