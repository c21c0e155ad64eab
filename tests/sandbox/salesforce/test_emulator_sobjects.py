"""The Salesforce emulator's sObject rows and collections: create, read, update, delete, field validation in
Salesforce's words, upsert by external id (201 / 200 or 204 / 300 / 404) and sObject Collections with per-record
results (fact sheet §1.3, §1.4)."""

from __future__ import annotations

import pytest

from tests.sandbox.salesforce.emu_support import error_of, lead, new_org

CLIENT = {"Sforce-Call-Options": "client=leadline"}


@pytest.fixture
def org(empty_sandbox):
    made = new_org(empty_sandbox)
    made.refresh()
    return made


def create(org, sobject, values, **kwargs):
    response = org.call("POST", f"sobjects/{sobject}", json=values, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_create_read_update_delete_a_lead(org):
    created = org.call("POST", "sobjects/Lead", json=lead(), headers=CLIENT)
    assert created.status_code == 201
    assert created.json()["success"] is True
    assert created.json()["errors"] == []
    lead_id = created.json()["id"]
    assert len(lead_id) == 18
    assert lead_id.startswith("00Q")
    record = org.call("GET", f"sobjects/Lead/{lead_id}").json()
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v66.0/sobjects/Lead/{lead_id}"}
    assert record["Name"] == "Mai Ng"
    assert record["Status"] == "Open - Not Contacted"
    assert record["OwnerId"] == org.users[0]["id"]
    assert record["IsDeleted"] is False
    assert record["SystemModstamp"].endswith(".000+0000")
    assert record["HasOptedOutOfEmail"] is False
    assert len(record) > 100
    short = org.call("GET", f"sobjects/Lead/{lead_id[:15]}", params={"fields": "Name,MobilePhone"}).json()
    assert set(short) == {"attributes", "Id", "Name", "MobilePhone"}
    assert org.row("Lead", lead_id)["_last_client"] == "leadline"
    updated = org.call("PATCH", f"sobjects/Lead/{lead_id}", json={"Status": "Working - Contacted"})
    assert updated.status_code == 204
    assert org.call("GET", f"sobjects/Lead/{lead_id}").json()["Status"] == "Working - Contacted"
    assert org.call("DELETE", f"sobjects/Lead/{lead_id}").status_code == 204
    gone = org.call("GET", f"sobjects/Lead/{lead_id}")
    assert gone.status_code == 404
    assert error_of(gone)["errorCode"] == "ENTITY_IS_DELETED"
    assert org.call("DELETE", f"sobjects/Lead/{lead_id}").status_code == 404
    assert org.row("Lead", lead_id)["IsDeleted"] is True  # in the Recycle Bin


@pytest.mark.parametrize(
    ("values", "code", "fields"),
    [
        ({"Nope__c": 1}, "INVALID_FIELD", ["Nope__c"]),
        ({"LastName": None}, "REQUIRED_FIELD_MISSING", ["LastName"]),
        ({"Status": "Maybe"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"]),
        ({"Days_Open__c": 3}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Days_Open__c"]),
        ({"IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsConverted"]),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
        ({"FirstName": "x" * 41}, "STRING_TOO_LONG", ["FirstName"]),
        ({"SMS_Opt_Out__c": "yes"}, "JSON_PARSER_ERROR", None),
        ({"OwnerId": "not-an-id"}, "MALFORMED_ID", ["OwnerId"]),
    ],
)
def test_lead_writes_are_refused_in_salesforces_words(org, values, code, fields):
    response = org.call("POST", "sobjects/Lead", json=lead(**values))
    assert response.status_code == 400
    error = error_of(response)
    assert error["errorCode"] == code
    if fields is not None:
        assert error["fields"] == fields


def test_required_fields_are_named_and_unknown_field_messages_match(org):
    response = org.call("POST", "sobjects/Lead", json={"FirstName": "Mai"})
    assert error_of(response) == {
        "message": "Required fields are missing: [LastName, Company]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName", "Company"],
    }
    unknown = org.call("POST", "sobjects/Lead", json=lead(Foo__c="x"))
    assert error_of(unknown)["message"] == "No such column 'Foo__c' on sobject of type Lead"


def test_task_who_id_must_be_a_live_lead_or_contact(org):
    lead_id = create(org, "Lead", lead())
    account_id = create(org, "Account", {"Name": "Summit"})
    task = {
        "Subject": "SMS to +14155550199",
        "WhoId": lead_id,
        "Status": "Completed",
        "Type": "SMS",
        "ActivityDate": "2026-12-07",
    }
    task_id = create(org, "Task", task)
    row = org.row("Task", task_id)
    assert row["IsClosed"] is True
    assert row["Priority"] == "Normal"
    assert row["TaskSubtype"] == "Task"
    wrong = org.call("POST", "sobjects/Task", json={**task, "WhoId": account_id})
    assert error_of(wrong)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error_of(wrong)["fields"] == ["WhoId"]
    missing = org.call("POST", "sobjects/Task", json={**task, "WhoId": lead_id[:3] + "5g0zzzzzzzz" + "AAA"})
    assert error_of(missing)["errorCode"] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")
    org.call("DELETE", f"sobjects/Lead/{lead_id}")
    deleted = org.call("POST", "sobjects/Task", json=task)
    assert deleted.status_code == 400
    assert error_of(deleted) == {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": ["WhoId"]}
    bad_type = org.call("POST", "sobjects/Task", json={**task, "WhoId": None, "Type": "Fax"})
    assert bad_type.status_code == 201  # Task Type is not restricted
    bad_status = org.call("POST", "sobjects/Task", json={**task, "WhoId": None, "Status": "Done"})
    assert error_of(bad_status)["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_unique_external_ids_refuse_duplicates(org):
    create(org, "Lead", lead(Leadline_Id__c="ll-1"))
    again = org.call("POST", "sobjects/Lead", json=lead(Leadline_Id__c="LL-1"))
    assert error_of(again)["errorCode"] == "DUPLICATE_VALUE"


def test_upsert_creates_updates_and_reports_several_matches(org):
    path = "sobjects/Lead/Leadline_Id__c/ll-42"
    created = org.call("PATCH", path, json=lead())
    assert created.status_code == 201
    assert created.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": True}
    updated = org.call("PATCH", path, json={"Status": "Working - Contacted"})
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    old_version = org.call("PATCH", "/services/data/v45.0/sobjects/Lead/Leadline_Id__c/ll-42", json={"Rating": "Hot"})
    assert old_version.status_code == 204
    create(org, "Lead", lead(External_Ref__c="web-7"))
    create(org, "Lead", lead(External_Ref__c="WEB-7", LastName="Other"))
    several = org.call("PATCH", "sobjects/Lead/External_Ref__c/web-7", json={"Rating": "Cold"})
    assert several.status_code == 300
    assert len(several.json()) == 2
    assert all(url.startswith("/services/data/v66.0/sobjects/Lead/00Q") for url in several.json())
    odd = org.call("PATCH", "sobjects/Lead/External_Ref__c/mai@studio.inc", json={"Rating": "Cold"})
    assert odd.status_code == 404
    update_only = org.call(
        "PATCH", "sobjects/Lead/Leadline_Id__c/ll-none", params={"updateOnly": "true"}, json={"Rating": "Cold"}
    )
    assert update_only.status_code == 404
    not_external = org.call("PATCH", "sobjects/Lead/Email/a@b.co", json={"Rating": "Cold"})
    assert not_external.status_code == 404
    assert error_of(not_external)["errorCode"] == "NOT_FOUND"
    by_external = org.call("GET", "sobjects/Lead/Leadline_Id__c/ll-42").json()
    assert by_external["Id"] == created.json()["id"]
    assert by_external["Rating"] == "Hot"


def test_collection_create_answers_per_record(org):
    lead_id = create(org, "Lead", lead())
    records = [
        {"attributes": {"type": "Task"}, "Subject": "SMS 1", "WhoId": lead_id, "Status": "Completed"},
        {"attributes": {"type": "Task"}, "Subject": "SMS 2", "WhoId": "001000000000000AAA", "Status": "Completed"},
        {"attributes": {"type": "Lead"}, "LastName": "Two", "Company": "Two Co"},
    ]
    results = org.call("POST", "composite/sobjects", json={"allOrNone": False, "records": records}).json()
    assert [result["success"] for result in results] == [True, False, True]
    assert results[1]["errors"][0]["statusCode"] in ("FIELD_INTEGRITY_EXCEPTION", "MALFORMED_ID")
    assert set(results[1]["errors"][0]) == {"statusCode", "message", "fields"}
    assert results[0]["id"].startswith("00T")
    assert results[2]["id"].startswith("00Q")


def test_collection_all_or_none_rolls_everything_back(org):
    records = [
        {"attributes": {"type": "Lead"}, "LastName": "Kept?", "Company": "X", "Leadline_Id__c": "aon-1"},
        {"attributes": {"type": "Lead"}, "FirstName": "No last name"},
    ]
    results = org.call("POST", "composite/sobjects", json={"allOrNone": True, "records": records}).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert org.call("GET", "sobjects/Lead/Leadline_Id__c/aon-1").status_code == 404
    assert create(org, "Lead", lead(Leadline_Id__c="aon-1"))  # the value is free again


def test_collection_upsert_by_external_id_says_what_it_created(org):
    lead_id = create(org, "Lead", lead())
    existing = create(org, "Task", {"Subject": "old", "WhoId": lead_id, "Leadline_Message_Id__c": "m-1"})

    def task(message_id, subject):
        return {
            "attributes": {"type": "Task"},
            "Leadline_Message_Id__c": message_id,
            "Subject": subject,
            "WhoId": lead_id,
            "Status": "Completed",
            "Type": "SMS",
        }

    body = {
        "allOrNone": False,
        "records": [task("m-1", "SMS a"), task("m-2", "SMS b"), task("m-3", "c"), task("m-3", "d")],
    }
    results = org.call("PATCH", "composite/sobjects/Task/Leadline_Message_Id__c", json=body, headers=CLIENT).json()
    assert results[0] == {"id": existing, "success": True, "errors": [], "created": False}
    assert results[1]["success"] is True
    assert results[1]["created"] is True
    assert [result["errors"][0]["statusCode"] for result in results[2:]] == ["DUPLICATE_EXTERNAL_ID"] * 2
    again = org.call(
        "PATCH",
        "composite/sobjects/Task/Leadline_Message_Id__c",
        json={"records": [task("m-2", "SMS b")]},
        headers=CLIENT,
    ).json()
    assert again[0]["created"] is False
    assert again[0]["id"] == results[1]["id"]
    tasks = org.control("GET", "/records/Task", params={"WhoId": lead_id}).json()
    assert sorted(t["Subject"] for t in tasks) == ["SMS a", "SMS b"]
    assert {t["_last_client"] for t in tasks} == {"leadline"}


def test_collections_take_at_most_200_records(org):
    records = [{"attributes": {"type": "Lead"}, "LastName": f"L{n}", "Company": "C"} for n in range(201)]
    response = org.call("POST", "composite/sobjects", json={"records": records})
    assert response.status_code == 400
    assert error_of(response)["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collection_retrieve_and_delete(org):
    first, second = create(org, "Lead", lead()), create(org, "Lead", lead(LastName="Two"))
    rows = org.call(
        "GET", "composite/sobjects/Lead", params={"ids": f"{first},{second},00Q5g0zzzzzzzzzAAA", "fields": "LastName"}
    ).json()
    assert [row and row["LastName"] for row in rows] == ["Ng", "Two", None]
    results = org.call("DELETE", "composite/sobjects", params={"ids": f"{first},{second}"}).json()
    assert [result["success"] for result in results] == [True, True]
