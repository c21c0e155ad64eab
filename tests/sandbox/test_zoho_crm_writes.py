"""Zoho CRM v8 in the sandbox, writing: insert, update, delete, tasks, notes, triggers, other orgs and seeding."""

from datetime import datetime

import requests

from sandbox import worlds
from tests.sandbox.crm_client import (
    MODULE_PATH,
    ORG_ID,
    RECORDS,
    ZOHO_DATETIME,
    ZOHO_ID,
    Crm,
    access_token,
    control,
    crm,
    error_of,
    org,
)
from tests.sandbox.openapi import assert_matches_openapi

__all__ = ["crm"]  # the fixture


def test_insert_answers_per_record_results_in_order_with_201_207_and_400(crm):
    created = crm.post("/Leads", {"data": [{"Last_Name": "Okafor", "Mobile": "+1 415-555-0142"}], "trigger": []})
    assert created.status_code == 201
    assert_matches_openapi(RECORDS, MODULE_PATH, "post", 201, created.json())
    entry = created.json()["data"][0]
    assert (entry["code"], entry["message"], entry["status"]) == ("SUCCESS", "record added", "success")
    assert set(entry["details"]) == {
        "Modified_Time",
        "Modified_By",
        "Created_Time",
        "id",
        "Created_By",
        "$approval_state",
    }
    mixed = crm.post("/Leads", {"data": [{"Last_Name": "Ok"}, {"First_Name": "Nameless"}]})
    assert mixed.status_code == 207
    assert_matches_openapi(RECORDS, MODULE_PATH, "post", 207, mixed.json())
    assert [item["status"] for item in mixed.json()["data"]] == ["success", "error"]
    assert mixed.json()["data"][1] == {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "Last_Name", "json_path": "$.data[1].Last_Name"},
        "message": "required field not found",
        "status": "error",
    }
    failed = crm.post("/Leads", {"data": [{"First_Name": "Nameless"}]})
    assert failed.status_code == 400
    lead = crm.get(f"/Leads/{entry['details']['id']}").json()["data"][0]
    assert lead["Full_Name"] == "Okafor"
    assert lead["Lead_Score"] == 20.0
    assert lead["$converted"] is False


def test_insert_rejects_unknown_fields_wrong_types_and_values_outside_picklists(crm):
    cases = [
        ({"Last_Name": "A", "Nickname": "x"}, {"api_name": "Nickname", "json_path": "$.data[0].Nickname"}),
        ({"Last_Name": "A", "No_of_Employees": "12"}, {"expected_data_type": "integer"}),
        ({"Last_Name": "A", "Lead_Status": "Hot"}, {"api_name": "Lead_Status"}),
        ({"Last_Name": "A", "Interests": ["Yoga", "Chess"]}, {"api_name": "Interests"}),
        ({"Last_Name": "A", "Email": "not-an-email"}, {"api_name": "Email"}),
        ({"Last_Name": "A", "Trial_Date": "12/01/2026"}, {"expected_data_type": "date"}),
        ({"Last_Name": "A", "Owner": {"id": "4150868000000999999"}}, {"api_name": "Owner"}),
        ({"Last_Name": "x" * 81}, {"maximum_length": 80}),
    ]
    for record, details in cases:
        entry = crm.post("/Leads", {"data": [record]}).json()["data"][0]
        assert entry["code"] == "INVALID_DATA", record
        assert details.items() <= entry["details"].items(), (record, entry)
    too_many = crm.post("/Leads", {"data": [{"Last_Name": str(n)} for n in range(101)]})
    assert error_of(too_many)[0] == "LIMIT_EXCEEDED"
    assert error_of(crm.post("/Leads", {"records": []})) == (
        "MANDATORY_NOT_FOUND",
        {"api_name": "data", "json_path": "$.data"},
    )
    wrapped = crm.post("/Widgets", {"data": [{"Name": "x"}]})
    assert wrapped.status_code == 400
    assert wrapped.json()["data"][0]["code"] == "INVALID_MODULE"


def test_a_task_related_to_a_record_needs_its_se_module(sandbox, crm):
    lead_id = next(iter(org(sandbox).modules["Leads"].records))
    missing = crm.post("/Tasks", {"data": [{"Subject": "Reply to SMS", "What_Id": {"id": lead_id}}]}).json()
    assert missing["data"][0] == {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "$se_module", "json_path": "$.data[0].$se_module"},
        "message": "required field not found",
        "status": "error",
    }
    assert crm.post("/Tasks", {"data": [{"Due_Date": "2026-12-01"}]}).json()["data"][0]["details"]["api_name"] == (
        "Subject"
    )
    body = {"Subject": "Reply to SMS", "What_Id": {"id": lead_id}, "$se_module": "Leads", "Due_Date": "2026-12-01"}
    created = crm.post("/Tasks", {"data": [body]})
    assert created.status_code == 201
    task = crm.get(f"/Tasks/{created.json()['data'][0]['details']['id']}").json()["data"][0]
    assert task["What_Id"]["id"] == lead_id
    assert task["What_Id"]["name"]
    assert (task["$se_module"], task["Status"]) == ("Leads", "Not Started")
    in_what_id = {"Subject": "Reply", "What_Id": {"id": lead_id, "module": {"api_name": "Leads"}}}
    assert crm.post("/Tasks", {"data": [in_what_id]}).json()["data"][0]["code"] == "MANDATORY_NOT_FOUND"
    wrong = crm.post("/Tasks", {"data": [{**body, "$se_module": "Deals"}]}).json()["data"][0]
    assert wrong["code"] == "INVALID_DATA"


def test_notes_attach_to_a_parent_in_the_v8_form_and_the_legacy_form(sandbox, crm):
    lead_id = next(iter(org(sandbox).modules["Leads"].records))
    v8 = {"Note_Title": "SMS", "Note_Content": "Hi", "Parent_Id": {"module": {"api_name": "Leads"}, "id": lead_id}}
    legacy = {"Note_Content": "Hello", "Parent_Id": lead_id, "$se_module": "Leads"}
    created = crm.post("/Notes", {"data": [v8, legacy]})
    assert created.status_code == 201
    for entry in created.json()["data"]:
        note = crm.get(f"/Notes/{entry['details']['id']}").json()["data"][0]
        assert note["Parent_Id"]["id"] == lead_id
        assert note["Parent_Id"]["module"]["api_name"] == "Leads"
        assert note["$se_module"] == "Leads"
    empty = crm.post("/Notes", {"data": [{"Parent_Id": {"module": {"api_name": "Leads"}, "id": lead_id}}]})
    assert empty.json()["data"][0]["code"] == "EXPECTED_FIELD_MISSING"


def test_the_trigger_list_reaches_change_events_so_workflows_fire_only_when_asked(sandbox, crm):
    events = []
    org(sandbox).modules["Leads"].listeners.append(events.append)
    crm.post("/Leads", {"data": [{"Last_Name": "Quiet"}], "trigger": []})
    crm.post("/Leads", {"data": [{"Last_Name": "Loud"}], "trigger": ["workflow"]})
    crm.post("/Leads", {"data": [{"Last_Name": "Default"}]})
    assert [event.triggers for event in events] == [(), ("workflow",), ("workflow", "approval", "blueprint")]
    assert all(event.by_api and event.operation == "insert" for event in events)
    assert error_of(crm.post("/Leads", {"data": [{"Last_Name": "X"}], "trigger": ["email"]}))[0] == "INVALID_DATA"
    control(sandbox.url, "POST", "/zoho/leads", json={"Last_Name": "Walk-in", "Mobile": "(415) 555 0100"})
    assert events[-1].triggers == ("workflow",)
    assert events[-1].by_api is False


def test_an_update_bumps_modified_time_and_modified_by_and_a_converted_lead_refuses(sandbox):
    from sandbox.zoho_crm.orgs import minified

    ana = org(sandbox).users[worlds.DEMO_USERS[1]["id"]]
    sandbox.state.accounts.add_refresh_token(
        "1000.ana", worlds.DEMO_CLIENT_ID, ORG_ID, ana["id"], ("ZohoCRM.modules.ALL",)
    )
    crm = Crm(sandbox.url, access_token(sandbox.url, "1000.ana"))
    store = org(sandbox).modules["Leads"]
    lead = next(record for record in store.records.values() if not record.get("$converted"))
    before = lead["Modified_Time"]
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 90})
    updated = crm.put("/Leads", {"data": [{"id": lead["id"], "Lead_Status": "Contacted", "First_Name": "Zed"}]})
    assert updated.status_code == 200
    assert_matches_openapi(RECORDS, MODULE_PATH, "put", 200, updated.json())
    assert updated.json()["data"][0]["message"] == "record updated"
    after = crm.get(f"/Leads/{lead['id']}").json()["data"][0]
    assert after["Modified_Time"] > before or datetime.fromisoformat(after["Modified_Time"]) > datetime.fromisoformat(
        before
    )
    assert after["Modified_By"] == minified(ana)
    assert after["Full_Name"].startswith("Zed ")
    converted = next(record for record in store.records.values() if record.get("$converted"))
    refused = crm.put("/Leads", {"data": [{"id": converted["id"], "Lead_Status": "Contacted"}]})
    assert refused.status_code == 400
    assert refused.json()["data"][0]["code"] == "CONVERTED_RECORD"
    unknown = crm.put("/Leads", {"data": [{"id": "4150868000099999999", "Lead_Status": "Contacted"}]})
    assert unknown.json()["data"][0]["details"] == {"api_name": "id", "json_path": "$.data[0].id"}


def test_deleted_records_list_recycle_bin_and_permanent_deletions(sandbox, crm):
    ids = list(org(sandbox).modules["Contacts"].records)[:3]
    control(sandbox.url, "DELETE", f"/zoho/Contacts/{ids[0]}")
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 60})
    moment = requests.get(f"{sandbox.url}/_sandbox/clock", timeout=5).json()["now"]
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 60})
    control(sandbox.url, "DELETE", f"/zoho/Contacts/{ids[1]}", params={"permanent": "1"})
    crm.call("DELETE", "/Contacts", params={"ids": ids[2]})
    body = crm.get("/Contacts/deleted").json()
    assert [entry["id"] for entry in body["data"]] == ids
    assert body["info"] == {"per_page": 200, "count": 3, "page": 1, "more_records": False}
    permanent = body["data"][1]
    assert permanent["type"] == "permanent"
    assert (permanent["deleted_by"], permanent["display_name"], permanent["created_by"]) == (None, None, None)
    assert body["data"][0]["type"] == "recycle"
    assert body["data"][0]["display_name"]
    recycle = crm.get("/Contacts/deleted", type="recycle").json()["data"]
    assert [entry["id"] for entry in recycle] == [ids[0], ids[2]]
    since = crm.call("GET", "/Contacts/deleted", headers={"If-Modified-Since": moment}).json()["data"]
    assert [entry["id"] for entry in since] == ids[1:]
    wrong = crm.get("/Contacts/deleted", type="everything")
    assert wrong.status_code == 400
    assert wrong.json() == {
        "data": [
            {
                "code": "PATTERN_NOT_MATCHED",
                "details": {"param_name": "type"},
                "message": "Please check whether the input values are correct",
                "status": "error",
            }
        ]
    }
    assert crm.get("/Deals/deleted").status_code == 204


def test_another_org_has_its_own_client_users_and_records(sandbox, crm):
    other = control(sandbox.url, "POST", "/zoho/orgs", json={"name": "Bolt Gym", "leads": 40, "seed": 3}).json()
    token = access_token(sandbox.url, other["refresh_token"], other["client_id"], other["client_secret"])
    theirs = Crm(sandbox.url, token)
    assert theirs.get("/org").json()["org"][0]["id"] == other["org_id"]
    assert theirs.get("/users", type="CurrentUser").json()["users"][0]["id"] == other["users"][0]["id"]
    their_ids = {record["id"] for record in theirs.get("/Leads", fields="Last_Name", converted="both").json()["data"]}
    our_ids = {record["id"] for record in crm.get("/Leads", fields="Last_Name", converted="both").json()["data"]}
    assert len(their_ids) == 40
    assert not their_ids & our_ids
    one_of_ours = next(iter(our_ids))
    assert theirs.get(f"/Leads/{one_of_ours}").status_code == 204
    wrong_secret = requests.post(
        f"{sandbox.url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": other["client_id"],
            "client_secret": worlds.DEMO_CLIENT_SECRET,
            "refresh_token": other["refresh_token"],
        },
        timeout=5,
    ).json()
    assert wrong_secret == {"error": "invalid_client_secret"}


def test_seeding_is_repeatable_and_zoho_shaped(empty_sandbox):
    from sandbox.server import SandboxServer

    def names(url):
        control(url, "POST", "/zoho/seed", json={"module": "Leads", "count": 30, "seed": 11})
        leads = control(url, "GET", "/zoho/Leads", params={"limit": 100}).json()
        return sorted((lead["id"], lead["Full_Name"], lead.get("Mobile")) for lead in leads)

    with SandboxServer(world="empty") as other:
        assert names(empty_sandbox.url) == names(other.url)
    leads = control(empty_sandbox.url, "GET", "/zoho/Leads", params={"limit": 100}).json()
    assert all(ZOHO_ID.match(lead["id"]) and ZOHO_DATETIME.match(lead["Created_Time"]) for lead in leads)
    assert {lead["Owner"]["id"] for lead in leads} <= {user["id"] for user in worlds.DEMO_USERS}
    phones = {lead["Mobile"] for lead in leads if lead.get("Mobile")}
    assert any(phone.startswith("+1") for phone in phones)
    assert any(phone.startswith("(") for phone in phones)
    assert all(lead["$currency_symbol"] == "$" and isinstance(lead["Interests"], list) for lead in leads)


def test_the_people_page_controls_list_change_and_delete_records(sandbox):
    lead = control(
        sandbox.url, "POST", "/zoho/leads", json={"First_Name": "Pat", "Last_Name": "Lee", "Mobile": "+14155550123"}
    )
    assert lead.status_code == 201
    record_id = lead.json()["id"]
    newest = control(sandbox.url, "GET", "/zoho/Leads", params={"limit": 1}).json()
    assert [record["id"] for record in newest] == [record_id]
    assert control(sandbox.url, "GET", "/zoho/Tasks", params={"limit": 5}).json()
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 60})
    quiet = control(sandbox.url, "PATCH", f"/zoho/Leads/{record_id}", json={"Lead_Score": 99.0, "bump_modified": False})
    assert quiet.json()["Modified_Time"] == lead.json()["Modified_Time"]
    changed = control(sandbox.url, "PATCH", f"/zoho/Leads/{record_id}", json={"Lead_Status": "Contacted"}).json()
    assert changed["Lead_Status"] == "Contacted"
    assert changed["Modified_Time"] > lead.json()["Modified_Time"]
    converted = control(sandbox.url, "POST", f"/zoho/Leads/{record_id}/convert").json()
    assert converted["lead"]["$converted"] is True
    assert converted["contact_id"]
    bad = control(sandbox.url, "POST", "/zoho/leads", json={"First_Name": "No last name"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "MANDATORY_NOT_FOUND"
    control(sandbox.url, "DELETE", f"/zoho/Leads/{record_id}", params={"permanent": "1"})
    assert org(sandbox).modules["Leads"].get(record_id) is None


def test_coql_with_another_orgs_token_never_finds_our_records(sandbox, crm):
    other = control(sandbox.url, "POST", "/zoho/orgs", json={"name": "Bolt Gym", "leads": 5, "seed": 4}).json()
    token = access_token(sandbox.url, other["refresh_token"], other["client_id"], other["client_secret"])
    one_of_ours = crm.get("/Leads", fields="Last_Name").json()["data"][0]["id"]
    query = {"select_query": f"select Last_Name from Leads where id = '{one_of_ours}'"}  # noqa: S608 (COQL)
    theirs = requests.post(
        f"{sandbox.url}/crm/v8/coql", json=query, timeout=5, headers={"Authorization": f"Zoho-oauthtoken {token}"}
    )
    ours = requests.post(
        f"{sandbox.url}/crm/v8/coql", json=query, timeout=5, headers={"Authorization": f"Zoho-oauthtoken {crm.token}"}
    )
    assert theirs.status_code == 204
    assert ours.json()["data"][0]["id"] == one_of_ours
