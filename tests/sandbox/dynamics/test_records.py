"""Single rows of the emulated Dataverse Web API: create, read, upsert and delete with their headers, alternate
keys, @odata.bind lookups, duplicate detection, required columns and payload errors in Dataverse's words."""

from __future__ import annotations

import uuid

from tests.sandbox.dynamics.dv_support import ANNOTATIONS, ok

FORMATTED = "@OData.Community.Display.V1.FormattedValue"


def test_create_answers_204_with_the_entity_id_and_the_row_reads_back(env):
    owner = env.users[0]
    response = env.api(
        "POST",
        "leads",
        json={
            "firstname": "Ann",
            "lastname": "Lee",
            "telephone1": "(415) 555-0142",
            "leadsourcecode": 8,
            "ownerid@odata.bind": f"/systemusers({owner['systemuserid']})",
        },
    )
    assert response.status_code == 204
    entity_id = response.headers["OData-EntityId"]
    assert entity_id.startswith(f"{env.base}/leads(")
    lead_id = entity_id.rsplit("(", 1)[1].rstrip(")")

    row = ok(env.api("GET", f"leads({lead_id})", headers={"Prefer": ANNOTATIONS}))
    assert row["@odata.context"] == f"{env.base}/$metadata#leads/$entity"
    assert row["@odata.etag"] == f'W/"{row["versionnumber"]}"'
    assert row["fullname"] == "Ann Lee"
    assert row["_ownerid_value"] == owner["systemuserid"]
    assert row[f"_ownerid_value{FORMATTED}"] == owner["fullname"]
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"
    assert row[f"leadsourcecode{FORMATTED}"] == "Web"
    assert row["statecode"] == 0
    assert row["createdon"].endswith("Z")
    assert "ownerid" not in row

    plain = ok(env.api("GET", f"leads({lead_id})?$select=fullname,_ownerid_value"))
    assert set(plain) == {"@odata.context", "@odata.etag", "fullname", "_ownerid_value", "leadid"}


def test_create_with_return_representation_and_the_callers_changes(env):
    heard = []
    env.server.state.dynamics.listeners.append(heard.append)
    response = env.api(
        "POST",
        "contacts?$select=fullname",
        json={"firstname": "Bo", "lastname": "Diaz"},
        headers={"Prefer": "return=representation"},
    )
    body = ok(response, 201)
    assert body["fullname"] == "Bo Diaz"
    assert response.headers["OData-EntityId"].endswith(f"contacts({body['contactid']})")
    assert [(change.operation, change.by_user) for change in heard] == [("Create", env.application_user_id)]
    assert env.environment.row("contact", body["contactid"])["ownerid"] == env.application_user_id


def test_upsert_if_match_and_if_none_match(env):
    lead_id = env.create("leads", {"lastname": "Lee"})
    missing = str(uuid.uuid4())

    gone = env.api("PATCH", f"leads({missing})", json={"lastname": "X"}, headers={"If-Match": "*"})
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == f"lead With Id = {missing} Does Not Exist"

    created = env.api("PATCH", f"leads({missing})", json={"lastname": "Upserted"})
    assert created.status_code == 204
    assert env.environment.row("lead", missing)["lastname"] == "Upserted"

    exists = env.api("PATCH", f"leads({lead_id})", json={"lastname": "Y"}, headers={"If-None-Match": "*"})
    assert exists.status_code == 412
    assert exists.json()["error"]["message"] == "A record with matching key values already exists."

    version = env.environment.row("lead", lead_id)["versionnumber"]
    stale = env.api("PATCH", f"leads({lead_id})", json={"lastname": "Z"}, headers={"If-Match": f'W/"{version - 1}"'})
    assert stale.status_code == 412
    assert "RowVersion" in stale.json()["error"]["message"]

    fresh = env.api("PATCH", f"leads({lead_id})", json={"lastname": "Z"}, headers={"If-Match": f'W/"{version}"'})
    assert fresh.status_code == 204
    row = env.environment.row("lead", lead_id)
    assert row["lastname"] == "Z"
    assert row["versionnumber"] > version

    updated = env.api(
        "PATCH",
        f"leads({lead_id})?$select=lastname",
        json={"lastname": "Q"},
        headers={"If-Match": "*", "Prefer": "return=representation"},
    )
    assert ok(updated, 200)["lastname"] == "Q"


def test_upsert_by_alternate_key_and_unknown_keys(env):
    path = "lh_smses(lh_leadlinemessageid='msg-1')"
    first = env.api("PATCH", path, json={"subject": "Hello"}, headers={"If-None-Match": "*"})
    assert first.status_code == 204
    row = env.environment.table("lh_sms").find_by_key({"lh_leadlinemessageid": "msg-1"})
    assert row["subject"] == "Hello"
    assert row["activitytypecode"] == "lh_sms"
    assert first.headers["OData-EntityId"].endswith(f"lh_smses({row['activityid']})")

    again = env.api("PATCH", path, json={"subject": "Hello"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    assert env.api("PATCH", path, json={"subject": "Edited"}).status_code == 204
    assert len(env.environment.rows("lh_sms")) == 1
    assert ok(env.api("GET", path))["subject"] == "Edited"

    assert env.api("PATCH", "leads(emailaddress1='a@b.c')", json={"lastname": "X"}).status_code == 400


def test_task_regarding_a_lead_through_odata_bind(env):
    lead_id = env.create("leads", {"lastname": "Lee"})
    task_id = env.create(
        "tasks",
        {
            "subject": "Call back",
            "scheduledend": "2026-12-08T15:00:00Z",
            "regardingobjectid_lead_task@odata.bind": f"/leads({lead_id})",
        },
    )
    task = ok(env.api("GET", f"tasks({task_id})", headers={"Prefer": ANNOTATIONS}))
    assert task["_regardingobjectid_value"] == lead_id
    assert task["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "lead"
    assert task["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == (
        "regardingobjectid_lead_task"
    )
    assert task["scheduledend"] == "2026-12-08T15:00:00Z"

    missing = env.api(
        "POST", "tasks", json={"subject": "x", "regardingobjectid_lead_task@odata.bind": f"/leads({uuid.uuid4()})"}
    )
    assert missing.status_code == 404
    wrong = env.api(
        "POST", "tasks", json={"subject": "x", "regardingobjectid_lead_task@odata.bind": f"/contacts({uuid.uuid4()})"}
    )
    assert wrong.status_code in (400, 404)
    direct = env.api("POST", "tasks", json={"subject": "x", "regardingobjectid": lead_id})
    assert direct.status_code == 400


def test_duplicate_detection_only_when_asked(env):
    env.create("leads", {"lastname": "One", "emailaddress1": "dup@example.com"})
    body = {"lastname": "Two", "emailaddress1": "DUP@example.com"}
    refused = env.api("POST", "leads", json=body, headers={"MSCRM.SuppressDuplicateDetection": "false"})
    assert refused.status_code == 412
    assert refused.json()["error"]["code"] == "0x80040333"
    assert env.api("POST", "leads", json=body).status_code == 204

    env.server.state.config.update({"dv_duplicate_status": 500})
    again = env.api("POST", "leads", json=body, headers={"MSCRM.SuppressDuplicateDetection": "false"})
    assert again.status_code == 500


def test_payload_errors_in_dataverses_words(env):
    required = env.api("POST", "leads", json={"firstname": "No last name"})
    assert required.status_code == 400
    assert "lastname" in required.json()["error"]["message"]

    unknown = env.api("POST", "leads", json={"lastname": "X", "nosuchcolumn": 1})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "0x80048d19"
    assert (
        "The property 'nosuchcolumn' does not exist on type 'Microsoft.Dynamics.CRM.lead'"
        in (unknown.json()["error"]["message"])
    )

    too_long = env.api("POST", "leads", json={"lastname": "x" * 51})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "0x80044331"

    option = env.api("POST", "leads", json={"lastname": "X", "leadsourcecode": 999})
    assert option.status_code == 400
    assert "outside the valid range" in option.json()["error"]["message"]

    wrong_type = env.api("POST", "leads", json={"lastname": "X", "lh_smsoptout": "yes"})
    assert wrong_type.status_code == 400

    lead_id = env.create("leads", {"lastname": "Taken"})
    duplicate_id = env.api("POST", "leads", json={"leadid": lead_id, "lastname": "Again"})
    assert duplicate_id.status_code == 400
    assert duplicate_id.json()["error"]["code"] == "0x80040237"

    assert env.api("GET", "nosuchset(00000000-0000-0000-0000-000000000001)").status_code == 404


def test_delete_leaves_a_tombstone(env):
    lead_id = env.create("leads", {"lastname": "Gone"})
    assert env.api("DELETE", f"leads({lead_id})").status_code == 204
    assert env.api("GET", f"leads({lead_id})").status_code == 404
    assert env.api("DELETE", f"leads({lead_id})").status_code == 404
    assert env.environment.tombstones[-1].id == lead_id


def test_every_answer_speaks_odata_and_needs_a_token(env):
    who = env.api("GET", "WhoAmI")
    assert who.headers["OData-Version"] == "4.0"
    anonymous = env.api("GET", "WhoAmI", token="")
    assert anonymous.status_code == 401
    assert anonymous.headers["OData-Version"] == "4.0"
    assert "authorization_uri=" in anonymous.headers["WWW-Authenticate"]


def test_state_and_status_reason_agree(env):
    done = env.create("tasks", {"subject": "Texted", "statecode": 1, "statuscode": 5})
    assert (env.environment.row("task", done)["statecode"], env.environment.row("task", done)["statuscode"]) == (1, 5)
    open_task = env.create("tasks", {"subject": "Open"})
    assert env.environment.row("task", open_task)["statuscode"] == 2
    completed = env.create("tasks", {"subject": "Done", "statecode": 1})
    assert env.environment.row("task", completed)["statuscode"] == 5

    mismatch = env.api("POST", "tasks", json={"subject": "x", "statecode": 0, "statuscode": 5})
    assert mismatch.status_code == 400
    assert "is not a valid status code for state code TaskState.Open" in mismatch.json()["error"]["message"]

    lead_id = env.create("leads", {"lastname": "Q"})
    assert env.api("PATCH", f"leads({lead_id})", json={"statuscode": 4}, headers={"If-Match": "*"}).status_code == 204
    assert env.environment.row("lead", lead_id)["statecode"] == 2
