"""Zoho CRM v8 in the sandbox, what two-way sync writes through: upserts matched by a unique field, unique fields
refusing duplicates, validation rules the control API switches on and off, and the tally of records written."""

import requests

from tests.sandbox.crm_client import ORG_ID, RECORDS, ZOHO_ID, Crm, control, crm, org
from tests.sandbox.openapi import assert_matches_openapi

__all__ = ["crm"]  # the fixture

UPSERT_PATH = "/crm/v8/{module_api_name}/upsert"


def written(sandbox) -> int:
    counters = requests.get(f"{sandbox.url}/_sandbox/counters", timeout=10).json()
    return int(counters.get(f"zoho.records_written:{ORG_ID}", 0))


def upsert(crm: Crm, rows, *, check=("Leadline_Id",), module="Leads"):
    body = {"data": rows, "trigger": []}
    if check is not None:
        body["duplicate_check_fields"] = list(check)
    return crm.post(f"/{module}/upsert", body)


def test_the_leadline_id_field_is_unique_on_leads_contacts_and_accounts(crm):
    for module in ("Leads", "Contacts", "Accounts"):
        fields = {meta["api_name"]: meta for meta in crm.get("/settings/fields", module=module).json()["fields"]}
        meta = fields["Leadline_Id"]
        assert (meta["data_type"], meta["custom_field"], meta["unique"]) == ("text", True, {"casesensitive": "false"})
        assert fields["Last_Name" if module != "Accounts" else "Account_Name"]["unique"] == {}


def test_an_upsert_inserts_then_updates_the_record_its_unique_value_finds(sandbox, crm):
    before = (len(org(sandbox).modules["Leads"]), written(sandbox))
    first = upsert(crm, [{"Last_Name": "Okafor", "Leadline_Id": "ll-1"}, {"Last_Name": "Berg", "Leadline_Id": "ll-2"}])
    assert first.status_code == 200
    assert_matches_openapi(RECORDS, UPSERT_PATH, "post", 200, first.json())
    entries = first.json()["data"]
    assert [(entry["action"], entry["duplicate_field"], entry["message"]) for entry in entries] == [
        ("insert", None, "record added")
    ] * 2
    assert all(ZOHO_ID.match(entry["details"]["id"]) for entry in entries)
    again = upsert(crm, [{"Last_Name": "Okafor-Reyes", "Leadline_Id": "LL-1"}])  # the field ignores case
    (entry,) = again.json()["data"]
    assert (entry["action"], entry["duplicate_field"], entry["message"]) == ("update", "Leadline_Id", "record updated")
    assert entry["details"]["id"] == entries[0]["details"]["id"]
    lead = crm.get(f"/Leads/{entry['details']['id']}").json()["data"][0]
    assert (lead["Last_Name"], lead["Leadline_Id"]) == ("Okafor-Reyes", "LL-1")
    assert (len(org(sandbox).modules["Leads"]), written(sandbox)) == (before[0] + 2, before[1] + 3)


def test_a_value_matching_two_records_is_refused_rather_than_guessed(sandbox, crm):
    crm.post("/Leads", {"data": [{"Last_Name": "Twin", "Email": "twin@example.com"}] * 2, "trigger": []})
    count = len(org(sandbox).modules["Leads"])
    answer = upsert(crm, [{"Last_Name": "Which", "Email": "twin@example.com"}, {"Last_Name": "New"}], check=["Email"])
    assert answer.status_code == 207
    refused, inserted = answer.json()["data"]
    assert (refused["code"], refused["status"], refused["details"]["api_name"]) == ("DUPLICATE_DATA", "error", "Email")
    assert refused["details"]["more_records"] is True
    assert inserted["action"] == "insert"
    assert len(org(sandbox).modules["Leads"]) == count + 1


def test_an_unknown_or_not_unique_check_field_is_refused_whole(crm):
    for check in (["Nickname"], ["Last_Name"], []):
        answer = upsert(crm, [{"Last_Name": "X", "Leadline_Id": "ll-x"}], check=check)
        assert answer.status_code == 400, check
        body = answer.json()
        assert (body["code"], body["details"]["api_name"]) == ("INVALID_DATA", "duplicate_check_fields")
        assert "Leadline_Id" in body["details"]["supported_values"]


def test_without_check_fields_the_system_check_then_the_unique_fields_match(crm):
    (entry,) = upsert(crm, [{"Last_Name": "Plain", "Leadline_Id": "ll-plain"}], check=None).json()["data"]
    (again,) = upsert(crm, [{"Last_Name": "Plainer", "Leadline_Id": "ll-plain"}], check=None).json()["data"]
    assert (again["action"], again["duplicate_field"]) == ("update", "Leadline_Id")
    assert again["details"]["id"] == entry["details"]["id"]


def test_more_than_100_upserts_are_refused(crm):
    answer = upsert(crm, [{"Last_Name": f"N{n}", "Leadline_Id": f"ll-{n}"} for n in range(101)])
    assert answer.status_code == 400
    assert answer.json()["code"] == "LIMIT_EXCEEDED"


def test_inserts_and_updates_that_would_duplicate_a_unique_value_are_refused(sandbox, crm):
    created = crm.post("/Leads", {"data": [{"Last_Name": "One", "Leadline_Id": "ll-dup"}], "trigger": []})
    first_id = created.json()["data"][0]["details"]["id"]
    twice = crm.post("/Leads", {"data": [{"Last_Name": "Two", "Leadline_Id": "LL-DUP"}], "trigger": []})
    assert twice.status_code == 400
    (entry,) = twice.json()["data"]
    assert (entry["code"], entry["message"]) == ("DUPLICATE_DATA", "duplicate data")
    assert entry["details"]["api_name"] == "Leadline_Id"
    assert entry["details"]["duplicate_record"]["id"] == first_id
    other = crm.post("/Leads", {"data": [{"Last_Name": "Other"}], "trigger": []}).json()["data"][0]["details"]["id"]
    moved = crm.put("/Leads", {"data": [{"id": other, "Leadline_Id": "ll-dup"}], "trigger": []})
    assert moved.json()["data"][0]["code"] == "DUPLICATE_DATA"
    # the record itself may keep (or re-send) its own value; another module's value is no duplicate
    same = crm.put("/Leads", {"data": [{"id": first_id, "Leadline_Id": "ll-dup"}], "trigger": []})
    assert same.status_code == 200
    contact = crm.post("/Contacts", {"data": [{"Last_Name": "C", "Leadline_Id": "ll-dup"}], "trigger": []})
    assert contact.status_code == 201
    # a deleted record's value is free again
    crm.call("DELETE", "/Leads", params={"ids": first_id})
    assert crm.put("/Leads", {"data": [{"id": other, "Leadline_Id": "ll-dup"}], "trigger": []}).status_code == 200


def test_a_validation_rule_refuses_api_writes_setting_its_field_until_removed(sandbox, crm):
    rule = {"module": "Leads", "field": "Mobile", "message": "Mobile numbers come from the front desk only"}
    assert control(sandbox.url, "POST", "/zoho/validation-rules", json=rule).status_code == 201
    before = written(sandbox)
    answer = crm.post(
        "/Leads", {"data": [{"Last_Name": "Refused", "Mobile": "+14155550100"}, {"Last_Name": "Fine"}], "trigger": []}
    )
    assert answer.status_code == 207
    refused, landed = answer.json()["data"]
    assert refused == {
        "code": "INVALID_DATA",
        "details": {"api_name": "Mobile", "json_path": "$.data[0].Mobile"},
        "message": "Mobile numbers come from the front desk only",
        "status": "error",
    }
    assert landed["status"] == "success"
    updated = crm.put("/Leads", {"data": [{"id": landed["details"]["id"], "Mobile": "+14155550101"}]})
    assert updated.json()["data"][0]["message"] == rule["message"]
    assert written(sandbox) == before + 1
    person = control(sandbox.url, "POST", "/zoho/Leads", json={"Last_Name": "Typed", "Mobile": "+14155550102"})
    assert person.status_code == 201  # a person in the UI is not an API write
    assert written(sandbox) == before + 1  # nor counted
    assert control(sandbox.url, "DELETE", "/zoho/validation-rules", params={"module": "Leads"}).json() == {}
    again = crm.put("/Leads", {"data": [{"id": landed["details"]["id"], "Mobile": "+14155550101"}]})
    assert again.status_code == 200


def test_records_written_counts_each_record_an_api_call_wrote(sandbox, crm):
    before = written(sandbox)
    ids = [
        entry["details"]["id"]
        for entry in crm.post("/Leads", {"data": [{"Last_Name": "A"}, {"Last_Name": "B"}, {}]}).json()["data"]
        if entry["status"] == "success"
    ]
    assert written(sandbox) == before + 2  # the third was refused
    crm.put("/Leads", {"data": [{"id": ids[0], "Last_Name": "A2"}, {"id": "4150868999999999999", "Last_Name": "?"}]})
    crm.call("DELETE", "/Leads", params={"ids": f"{ids[1]},4150868999999999999"})
    assert written(sandbox) == before + 4
    control(sandbox.url, "PATCH", f"/zoho/Leads/{ids[0]}", json={"Last_Name": "By a person"})
    assert written(sandbox) == before + 4
