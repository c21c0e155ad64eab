"""The Dynamics emulator's control API (/_sandbox/dynamics/) and its record page (main.aspx): environments,
seeding, rows as people edit them, one modifiedon for many rows, and the record a developer opens."""

from __future__ import annotations

import requests

from tests.sandbox.dynamics.dv_support import ok
from tests.sandbox.dynamics.emq_support import control, get


def test_an_environment_made_by_control_answers_its_web_api(dv_server):
    made = ok(control(dv_server, "POST", "/environments", json={"name": "acme", "organization_name": "Acme Gyms"}), 201)
    assert made["url"] == f"{dv_server.url}/dynamics/acme"
    assert made["organization_name"] == "Acme Gyms"
    assert len(made["users"]) == 3
    assert made["application_user_id"]
    assert {"systemuserid", "azureactivedirectoryobjectid", "fullname", "internalemailaddress"} <= set(made["users"][0])
    listed = ok(control(dv_server, "GET", "/environments"))
    assert [item["name"] for item in listed] == ["acme"]
    detail = ok(control(dv_server, "GET", "/environments/acme"))
    assert detail["tables"]["lead"] == {"rows": 0, "change_tracking": True, "entity_set": "leads"}
    assert detail["tables"]["task"]["change_tracking"] is False
    assert control(dv_server, "GET", "/environments/nowhere").status_code == 404
    unconsented = ok(control(dv_server, "POST", "/environments", json={"name": "solo", "consent": False}), 201)
    assert unconsented["application_user_id"] is None


def test_seed_and_rows_as_people_edit_them(env, dv_server):
    name = env.environment.name
    owner = env.users[2]["systemuserid"]
    seeded = ok(control(dv_server, "POST", f"/environments/{name}/seed", json={"table": "account", "count": 4}), 201)
    assert seeded["count"] == 4
    account = seeded["ids"][0]
    body = {
        "values": {"firstname": "Dee", "lastname": "Park", "telephone1": "4155550144", "parentcustomerid": account},
        "as_user": owner,
        "at": "2026-05-01T10:00:00Z",
    }
    contact = ok(control(dv_server, "POST", f"/environments/{name}/tables/contact/rows", json=body), 201)
    assert contact["ownerid"] == owner
    assert contact["parentcustomerid"] == account
    assert contact["parentcustomerid@table"] == "account"
    assert contact["modifiedon"] == "2026-05-01T10:00:00Z"
    path = f"/environments/{name}/tables/contact/rows/{contact['contactid']}"
    changed = ok(control(dv_server, "PATCH", path, json={"values": {"telephone1": "+1 415-555-0145"}}))
    assert changed["telephone1"] == "+1 415-555-0145"
    assert changed["versionnumber"] > contact["versionnumber"]
    assert ok(control(dv_server, "GET", path))["telephone1"] == "+1 415-555-0145"
    assert control(dv_server, "DELETE", path).status_code == 204
    assert control(dv_server, "GET", path).status_code == 404
    refused = control(dv_server, "POST", f"/environments/{name}/tables/contact/rows", json={"values": {"nope": 1}})
    assert refused.status_code == 400
    missing_account = {"values": {"lastname": "X", "parentcustomerid": "00000000-0000-4000-8000-00000000abcd"}}
    assert (
        control(dv_server, "POST", f"/environments/{name}/tables/contact/rows", json=missing_account).status_code == 404
    )


def test_activities_regarding_a_record(env, dv_server):
    name = env.environment.name
    lead = env.environment.create("lead", {"lastname": "Lee", "subject": "Trial"}, by=env.users[0]["systemuserid"])
    task = {"values": {"subject": "Call back", "regardingobjectid": {"table": "lead", "id": lead["leadid"]}}}
    made = ok(control(dv_server, "POST", f"/environments/{name}/tables/task/rows", json=task), 201)
    env.environment.create("task", {"subject": "Elsewhere"}, by="")
    listed = ok(control(dv_server, "GET", f"/environments/{name}/tables/task/rows?regarding={lead['leadid']}"))
    assert [item["activityid"] for item in listed] == [made["activityid"]]


def test_one_modifiedon_for_many_rows(env, dv_server):
    name = env.environment.name
    ok(control(dv_server, "POST", f"/environments/{name}/seed", json={"table": "lead", "count": 5}), 201)
    stamped = ok(
        control(dv_server, "POST", f"/environments/{name}/stamp", json={"table": "lead", "at": "2026-04-30T23:59:59Z"})
    )
    assert stamped["count"] == 5
    body = ok(get(env, "leads", params={"$filter": "modifiedon eq 2026-04-30T23:59:59Z", "$select": "leadid"}))
    assert len(body["value"]) == 5


def test_the_record_page_frames_the_widget(env, dv_server):
    environment = env.environment
    person = env.users[0]["systemuserid"]
    lead = environment.create("lead", {"firstname": "Ann", "lastname": "Lee", "subject": "Trial"}, by=person)
    environment.create(
        "task",
        {"subject": "Texted: welcome!", "regardingobjectid": lead["leadid"], "regardingobjectid@table": "lead"},
        by="",
    )
    url = f"{environment.url}/main.aspx?etn=lead&id={lead['leadid']}&pagetype=entityrecord"
    page = requests.get(url, timeout=15)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Ann Lee" in page.text
    assert "Texted: welcome!" in page.text
    frame = f"/app/?crm=dynamics&amp;typename=lead&amp;id=%7B{lead['leadid'].upper()}%7D&amp;orgname={environment.name}"
    assert frame in page.text
    braces = requests.get(f"{environment.url}/main.aspx?etn=lead&id={{{lead['leadid'].upper()}}}", timeout=15)
    assert braces.status_code == 200
    missing = requests.get(f"{environment.url}/main.aspx?etn=lead&id=00000000-0000-4000-8000-000000000000", timeout=15)
    assert missing.status_code == 404
    assert requests.get(f"{dv_server.url}/dynamics/nowhere/main.aspx?etn=lead&id=x", timeout=15).status_code == 404
