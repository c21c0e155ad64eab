"""The Salesforce emulator's control API and its record-triggered Flow callout: orgs, seeding realistic data,
records written as Salesforce itself would (bulk stamps, late commits, silent formula changes), the Recycle Bin
and its purge, revoking sessions and grants, and the callout a new Lead sends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox import worlds
from tests.sandbox.salesforce.emu_support import TIMEOUT, control, lead, new_org
from tests.sandbox.zoho_support import Receiver


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def settle(server):
    assert server.state.sender.drain()


def test_orgs_are_made_listed_and_changed(empty_sandbox):
    org = new_org(empty_sandbox, name="Peak Yoga", rotation=True, daily_api_requests=1234)
    info = org.info
    assert info["org_id"].startswith("00D")
    assert len(info["org_id"]) == 18
    assert info["login_url"] == info["instance_url"] == empty_sandbox.url
    assert info["rotation"] is True
    assert info["daily_api_requests"] == 1234
    assert len(info["users"]) == 3
    assert {user["id"][:3] for user in info["users"]} == {"005"}
    assert info["refresh_token"]
    listed = control(empty_sandbox, "GET").json()
    assert {entry["org_id"] for entry in listed} == {worlds.DEMO_SF_ORG_ID, org.org_id}
    changed = org.patch_settings(rotation=False, callout_url="http://127.0.0.1:9/flow", long_requests_max=5)
    assert changed["rotation"] is False
    assert changed["callout_url"] == "http://127.0.0.1:9/flow"
    assert org.control("PATCH", json={"nope": 1}).status_code == 400
    assert control(empty_sandbox, "GET", "/00D000000000000AAA").status_code == 404


def test_seeding_makes_realistic_wide_leads_with_mixed_phones_owners_and_conversions(empty_sandbox):
    org = new_org(empty_sandbox)
    made = org.control("POST", "/seed", json={"sobject": "Lead", "count": 400, "seed": 3})
    assert made.status_code == 201
    lead_ids = made.json()["ids"]
    assert len(lead_ids) == 400 == len(set(lead_ids))
    assert all(i.startswith("00Q") for i in lead_ids)
    rows = org.control("GET", "/records/Lead").json()
    assert len(rows) == 400
    phones = [row["MobilePhone"] or row["Phone"] for row in rows if row["MobilePhone"] or row["Phone"]]
    shapes = {re.sub(r"\d", "9", phone) for phone in phones}
    assert len(shapes) >= 5  # people type phones many ways
    assert {row["OwnerId"] for row in rows} == {user["id"] for user in org.users}
    converted = [row for row in rows if row["IsConverted"]]
    assert converted
    assert all(row["Status"] == "Closed - Converted" and row["ConvertedContactId"] for row in converted)
    contact = org.row("Contact", converted[0]["ConvertedContactId"])
    assert contact["LastName"] == converted[0]["LastName"]
    filled = sum(1 for value in rows[0].values() if value not in (None, False))
    assert filled > 40
    again = new_org(empty_sandbox, name="Other")
    assert again.control("POST", "/seed", json={"sobject": "Nope", "count": 1}).status_code == 404


def test_a_bulk_update_shares_one_system_modstamp(empty_sandbox):
    org = new_org(empty_sandbox)
    ids = org.control("POST", "/seed", json={"sobject": "Lead", "count": 50}).json()["ids"]
    stamp = "2026-12-07T10:00:00.000+0000"
    answer = org.control("PATCH", "/records/Lead", json={"ids": ids, "values": {"Rating": "Hot"}, "stamp": stamp})
    assert answer.json()["stamp"] == stamp
    assert {org.row("Lead", record_id)["SystemModstamp"] for record_id in ids[:5]} == {stamp}


def test_a_late_commit_is_stamped_in_the_past_and_a_silent_change_keeps_the_stamp(empty_sandbox):
    org = new_org(empty_sandbox)
    [lead_id] = org.control("POST", "/records/Lead", json={"records": [lead()]}).json()["ids"]
    before = org.row("Lead", lead_id)
    late = org.control(
        "PATCH", "/records/Lead", json={"ids": [lead_id], "values": {"Rating": "Warm"}, "late_seconds": 600}
    ).json()
    stamped = datetime.fromisoformat(late["stamp"].replace("+0000", "+00:00"))
    assert datetime.now(UTC) - stamped > timedelta(seconds=590)
    row = org.row("Lead", lead_id)
    assert row["SystemModstamp"] == late["stamp"]
    assert row["Rating"] == "Warm"
    silent = org.control(
        "PATCH", "/records/Lead", json={"ids": [lead_id], "values": {"Days_Open__c": 12}, "silent": True}
    )
    assert silent.json()["stamp"] is None
    row = org.row("Lead", lead_id)
    assert row["Days_Open__c"] == 12
    assert row["SystemModstamp"] == late["stamp"]
    assert before["CreatedDate"] == row["CreatedDate"]


def test_tasks_are_listed_by_who_id_and_deleted_rows_stay_until_purged(empty_sandbox):
    org = new_org(empty_sandbox)
    [lead_id] = org.control("POST", "/records/Lead", json={"records": [lead()]}).json()["ids"]
    org.control(
        "POST",
        "/records/Task",
        json={"records": [{"Subject": "a", "WhoId": lead_id}, {"Subject": "b", "WhoId": lead_id}, {"Subject": "c"}]},
    )
    tasks = org.control("GET", "/records/Task", params={"WhoId": lead_id}).json()
    assert [task["Subject"] for task in tasks] == ["a", "b"]
    deleted = org.control("DELETE", f"/records/Lead/{lead_id}").json()
    assert deleted["id"] == lead_id
    assert deleted["deletedDate"].endswith("+0000")
    assert org.row("Lead", lead_id)["IsDeleted"] is True
    assert org.control("GET", "/records/Lead").json() == []
    assert len(org.control("GET", "/records/Lead", params={"include_deleted": "1"}).json()) == 1
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    purged = org.control("POST", "/deleted-log/purge", json={"before": future}).json()
    assert purged["purged"] == 1
    assert purged["earliest_deleted_available"].endswith("+0000")
    assert org.control("GET", f"/records/Lead/{lead_id}").status_code == 404


def test_convert_makes_an_account_contact_and_opportunity(empty_sandbox):
    org = new_org(empty_sandbox)
    [lead_id] = org.control("POST", "/records/Lead", json={"records": [lead()]}).json()["ids"]
    made = org.control("POST", f"/leads/{lead_id}/convert", json={}).json()
    row = org.row("Lead", lead_id)
    assert row["IsConverted"] is True
    assert row["ConvertedContactId"] == made["contact_id"]
    assert org.row("Contact", made["contact_id"])["AccountId"] == made["account_id"]
    assert org.control("POST", f"/leads/{lead_id}/convert", json={}).status_code == 409


def test_revoking_sessions_keeps_the_grant_and_revoking_the_grant_forces_a_new_login(empty_sandbox):
    org = new_org(empty_sandbox)
    org.refresh()
    assert org.control("POST", "/revoke", json={"what": "sessions"}).json()["ended_sessions"] == 1
    assert org.call("GET", "limits").status_code == 401
    org.refresh()
    answer = org.control("POST", "/revoke", json={"what": "grant"}).json()
    assert answer == {"ended_sessions": 1, "revoked_grants": 1}
    assert org.call("GET", "limits").status_code == 401
    assert org.token_call(grant_type="refresh_token", refresh_token=org.info["refresh_token"]).status_code == 400
    grant = org.control("POST", "/grants", json={"user_id": org.users[1]["id"]}).json()
    assert org.refresh(grant["refresh_token"])["id"].endswith(org.users[1]["id"])
    assert org.control("POST", "/revoke", json={"what": "everything"}).status_code == 400


def test_a_new_lead_fires_the_flow_callout_once_with_its_18_character_id(empty_sandbox, receiver):
    org = new_org(empty_sandbox)
    org.patch_settings(callout_url=f"{receiver.url}/webhooks/crm/salesforce/token/")
    created = org.call("POST", "sobjects/Lead", json=lead()).json()["id"]
    [by_control] = org.control("POST", "/records/Lead", json={"records": [lead(LastName="Two")]}).json()["ids"]
    org.call("PATCH", f"sobjects/Lead/{created}", json={"Rating": "Hot"})  # an edit calls nothing
    org.call("POST", "sobjects/Account", json={"Name": "A"})  # nor does another object
    org.control("POST", "/seed", json={"sobject": "Lead", "count": 5})  # nor data that was already there
    settle(empty_sandbox)
    calls = receiver.at("/webhooks/crm/salesforce/token/")
    assert [call.json() for call in calls] == [
        {"leadId": created, "orgId": org.org_id},
        {"leadId": by_control, "orgId": org.org_id},
    ]
    assert calls[0].headers["Content-Type"] == "application/json"
    assert calls[0].headers["User-Agent"].startswith("SFDC-Callout/")
    assert [d["kind"] for d in requests.get(f"{empty_sandbox.url}/_sandbox/outbox", timeout=TIMEOUT).json()] == [
        "salesforce_flow",
        "salesforce_flow",
    ]


def test_a_collection_create_calls_out_after_commit_and_a_rolled_back_one_never(empty_sandbox, receiver):
    org = new_org(empty_sandbox)
    org.patch_settings(callout_url=f"{receiver.url}/flow")
    records = [
        {"attributes": {"type": "Lead"}, "LastName": "A", "Company": "A"},
        {"attributes": {"type": "Lead"}, "Company": "no last name"},
    ]
    org.call("POST", "composite/sobjects", json={"allOrNone": True, "records": records})
    results = org.call("POST", "composite/sobjects", json={"allOrNone": False, "records": records}).json()
    settle(empty_sandbox)
    assert [call.json()["leadId"] for call in receiver.at("/flow")] == [results[0]["id"]]


def test_a_failed_callout_is_tried_again(empty_sandbox, receiver):
    org = new_org(empty_sandbox)
    org.patch_settings(callout_url=f"{receiver.url}/flow", callout_retries=1, callout_retry_seconds=0.1)
    receiver.status["/flow"] = 503
    org.call("POST", "sobjects/Lead", json=lead())
    settle(empty_sandbox)
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while len(receiver.at("/flow")) < 2 and datetime.now(UTC) < deadline:
        settle(empty_sandbox)
    assert len(receiver.at("/flow")) == 2


def test_the_demo_world_has_the_summit_org_with_leads_and_its_callout(sandbox):
    org = sandbox.state.salesforce.orgs[worlds.DEMO_SF_ORG_ID]
    assert org.name == worlds.DEMO_SF_ORG_NAME
    assert len(org.stores["Lead"]) == worlds.DEMO_SF_LEADS
    assert [user["Email"] for user in org.users.values()] == [user["email"] for user in worlds.DEMO_SF_USERS]
    assert org.callout_url == sandbox.state.config.product_base_url + worlds.DEMO_SF_LEAD_WEBHOOK_PATH


def test_the_people_page_offers_both_crms_and_their_owners(sandbox):
    crms = requests.get(f"{sandbox.url}/_sandbox/people/crms", timeout=TIMEOUT).json()
    assert [crm["kind"] for crm in crms] == ["zoho", "salesforce"]
    assert crms[1]["org_id"] == worlds.DEMO_SF_ORG_ID
    owners = requests.get(f"{sandbox.url}/_sandbox/people/users", params={"crm": "salesforce"}, timeout=TIMEOUT)
    assert [owner["id"] for owner in owners.json()] == [user["id"] for user in worlds.DEMO_SF_USERS]
    newest = control(sandbox, "GET", f"/{worlds.DEMO_SF_ORG_ID}/records/Lead", params={"order": "newest", "limit": 3})
    rows = newest.json()
    assert len(rows) == 3
    assert rows[0]["CreatedDate"] >= rows[-1]["CreatedDate"]
