"""Workflow rules with webhook actions in the sandbox: when they fire, what they send, and failures."""

import socket

import pytest
import requests

from tests.sandbox.zoho_support import (
    Receiver,
    assert_matches_schema,
    auth,
    demo_org,
    freeze,
    module_store,
    owner,
)

RULES = "/_sandbox/zoho/workflows"
FAILURES = "/crm/v8/settings/automation/webhook_failures"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def add_rule(sandbox, **spec):
    response = requests.post(f"{sandbox.url}{RULES}", json=spec, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def new_lead(sandbox, **values):
    return module_store(sandbox).insert(
        {"Last_Name": "Ng", "First_Name": "Mai", "Email": "mai@example.com", **values}, by_user=owner(sandbox)
    )


def settle(sandbox):
    assert sandbox.state.sender.drain()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_one_post_creates_the_new_lead_webhook_and_a_ui_created_lead_fires_it(empty_sandbox, receiver):
    rule = add_rule(empty_sandbox, url=f"{receiver.url}/webhooks/zoho/lead/?secret=s3cret")
    assert (rule["module"], rule["on"], rule["webhook"]["method"]) == ("Leads", "create", "POST")

    lead = new_lead(empty_sandbox)  # made in the UI (not through the REST API)
    settle(empty_sandbox)

    [call] = receiver.at("/webhooks/zoho/lead/")
    assert call.method == "POST"
    assert call.query == {"secret": ["s3cret"]}
    assert call.headers["Content-Type"] == "application/json"
    assert call.json() == {
        "lead_id": lead["id"],
        "email": "mai@example.com",
        "owner": owner(empty_sandbox)["full_name"],
    }
    assert not [name for name in call.headers if "signature" in name.lower() or "hmac" in name.lower()]


def test_a_rest_api_insert_fires_the_rule_only_when_its_trigger_asks_for_workflow(empty_sandbox, receiver):
    add_rule(empty_sandbox, url=f"{receiver.url}/hook")
    store = module_store(empty_sandbox)

    store.insert({"Last_Name": "Silent"}, by_api=True, triggers=())
    store.insert({"Last_Name": "Approval only"}, by_api=True, triggers=("approval",))
    loud = store.insert({"Last_Name": "Loud"}, by_api=True, triggers=("workflow",))
    settle(empty_sandbox)

    assert [call.json()["lead_id"] for call in receiver.at("/hook")] == [loud["id"]]


def test_merge_fields_render_record_values_owner_names_and_lookup_parts(empty_sandbox, receiver):
    who = owner(empty_sandbox)
    template = (
        '{"id":"${!Leads.Id}","name":"${!Leads.First_Name} ${!Leads.Last_Name}","owner":"${!Leads.Owner}",'
        '"owner_id":"${!Leads.Owner.id}","owner_email":"${!Leads.Owner.email}","interests":"${!Leads.Interests}",'
        '"blank":"${!Leads.Phone}","other":"${!Contacts.Email}","opt_out":"${!Leads.SMS_Opt_Out}"}'
    )
    add_rule(
        empty_sandbox,
        url=f"{receiver.url}/hook/${{!Leads.Id}}",
        raw_json=template,
        headers={"X-App-Secret": "s3cret", "X-Lead": "${!Leads.Id}"},
    )

    lead = new_lead(empty_sandbox, Interests=["Yoga", "Spin"], SMS_Opt_Out=False)
    settle(empty_sandbox)

    [call] = receiver.at(f"/hook/{lead['id']}")
    assert call.headers["X-App-Secret"] == "s3cret"
    assert call.headers["X-Lead"] == lead["id"]
    assert call.json() == {
        "id": lead["id"],
        "name": "Mai Ng",
        "owner": who["full_name"],
        "owner_id": who["id"],
        "owner_email": who["email"],
        "interests": "Yoga,Spin",
        "blank": "",
        "other": "${!Contacts.Email}",
        "opt_out": "false",
    }


def test_form_data_and_module_parameters_are_sent_form_encoded(empty_sandbox, receiver):
    add_rule(
        empty_sandbox,
        url=f"{receiver.url}/form",
        module_parameters={"lead_id": "${!Leads.Id}", "email": "${!Leads.Email}"},
        form_data={"source": "zoho"},
    )
    lead = new_lead(empty_sandbox)
    settle(empty_sandbox)
    [call] = receiver.at("/form")
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.form() == {"lead_id": [lead["id"]], "email": ["mai@example.com"], "source": ["zoho"]}


def test_a_get_webhook_carries_its_parameters_in_the_url(empty_sandbox, receiver):
    add_rule(empty_sandbox, url=f"{receiver.url}/get?x=1", method="GET", module_parameters={"id": "${!Leads.Id}"})
    lead = new_lead(empty_sandbox)
    settle(empty_sandbox)
    [call] = receiver.at("/get")
    assert (call.method, call.query, call.body) == ("GET", {"x": ["1"], "id": [lead["id"]]}, b"")


def test_edit_rules_run_once_per_record_unless_repeat_and_can_watch_fields(empty_sandbox, receiver):
    add_rule(empty_sandbox, url=f"{receiver.url}/once", on="edit")
    add_rule(empty_sandbox, url=f"{receiver.url}/every", on=["edit"], repeat=True)
    add_rule(empty_sandbox, url=f"{receiver.url}/phone", on="edit", repeat=True, fields=["Phone"])
    add_rule(empty_sandbox, url=f"{receiver.url}/both", on=["create", "edit"], repeat=True)
    store = module_store(empty_sandbox)
    lead = new_lead(empty_sandbox)

    store.update(lead["id"], {"Email": "a@example.com"})
    store.update(lead["id"], {"Phone": "415 555 0100"})
    settle(empty_sandbox)

    counts = {path: len(receiver.at(path)) for path in ("/once", "/every", "/phone", "/both")}
    assert counts == {"/once": 1, "/every": 2, "/phone": 1, "/both": 3}


def test_rule_criteria_select_the_records_it_fires_for(empty_sandbox, receiver):
    add_rule(
        empty_sandbox,
        url=f"{receiver.url}/web",
        criteria={"api_name": "Lead_Source", "comparator": "equal", "value": "Web Form"},
    )
    new_lead(empty_sandbox, Lead_Source="Cold Call")
    web = new_lead(empty_sandbox, Lead_Source="Web Form")
    settle(empty_sandbox)
    assert [call.json()["lead_id"] for call in receiver.at("/web")] == [web["id"]]


def test_rules_of_other_modules_and_deletes_do_not_fire(empty_sandbox, receiver):
    add_rule(empty_sandbox, url=f"{receiver.url}/contacts", module="Contacts", on="create_or_edit", repeat=True)
    lead = new_lead(empty_sandbox)
    module_store(empty_sandbox).delete(lead["id"])
    settle(empty_sandbox)
    assert receiver.at("/contacts") == []


def test_failed_calls_are_listed_by_webhook_failures_in_zohos_shape(empty_sandbox, receiver):
    freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    headers = auth(empty_sandbox)
    assert requests.get(f"{empty_sandbox.url}{FAILURES}", headers=headers, timeout=5).status_code == 204
    receiver.status["/gone"] = 404
    missing = add_rule(empty_sandbox, url=f"{receiver.url}/gone", name="Notify Leadline")
    refused = add_rule(empty_sandbox, url=f"http://127.0.0.1:{closed_port()}/hook", name="Nobody home")
    fine = add_rule(empty_sandbox, url=f"{receiver.url}/fine")

    lead = new_lead(empty_sandbox)
    settle(empty_sandbox)

    response = requests.get(f"{empty_sandbox.url}{FAILURES}", headers=headers, timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["info"] == {"per_page": 200, "count": 2, "page": 1, "more_records": False}
    by_webhook = {failure["webhook"]["id"]: failure for failure in body["webhook_failures"]}
    assert set(by_webhook) == {missing["webhook"]["id"], refused["webhook"]["id"]}
    assert fine["webhook"]["id"] not in by_webhook
    assert by_webhook[missing["webhook"]["id"]] == {
        "webhook": {"name": "Notify Leadline", "id": missing["webhook"]["id"]},
        "entity_details": {
            "module": {"api_name": "Leads", "id": "4150868000000002175"},
            "name": "Mai Ng",
            "id": lead["id"],
        },
        "failure_time": "2026-11-22T10:00:00-05:00",
        "failure_reason": "page_notfound",
        "workflow_rule": {"name": "Notify Leadline", "id": missing["id"]},
    }
    assert by_webhook[refused["webhook"]["id"]]["failure_reason"] == "connection_refused"
    only = requests.get(
        f"{empty_sandbox.url}{FAILURES}", params={"webhook_id": missing["webhook"]["id"]}, headers=headers, timeout=5
    )
    assert [failure["webhook"]["id"] for failure in only.json()["webhook_failures"]] == [missing["webhook"]["id"]]
    other_module = requests.get(
        f"{empty_sandbox.url}{FAILURES}", params={"module": "Deals"}, headers=headers, timeout=5
    )
    assert other_module.status_code == 204


def test_webhook_failures_default_to_the_last_30_days(empty_sandbox, receiver):
    freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")
    receiver.status["/gone"] = 500
    add_rule(empty_sandbox, url=f"{receiver.url}/gone")
    new_lead(empty_sandbox)
    settle(empty_sandbox)
    headers = auth(empty_sandbox)
    assert (
        requests.get(f"{empty_sandbox.url}{FAILURES}", headers=headers, timeout=5).json()["webhook_failures"][0][
            "failure_reason"
        ]
        == "internal_server_error"
    )

    empty_sandbox.state.clock.advance(31 * 86400)
    assert requests.get(f"{empty_sandbox.url}{FAILURES}", headers=auth(empty_sandbox), timeout=5).status_code == 204
    old = requests.get(
        f"{empty_sandbox.url}{FAILURES}",
        params={"from": "2026-11-01", "to": "2026-11-30"},
        headers=auth(empty_sandbox),
        timeout=5,
    )
    assert old.json()["info"]["count"] == 1
    too_wide = requests.get(
        f"{empty_sandbox.url}{FAILURES}",
        params={"from": "2026-01-01", "to": "2026-11-30"},
        headers=auth(empty_sandbox),
        timeout=5,
    )
    assert too_wide.status_code == 400
    assert_matches_schema("common.json", "API_Exception", too_wide.json())


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({}, "url is required"),
        ({"url": "ftp://x"}, "url is required"),
        ({"url": "http://x", "raw_json": "x" * 501}, "500 characters"),
        ({"url": "http://x", "headers": {"Host": "evil"}}, "Host"),
        ({"url": "http://x", "headers": {f"H{n}": "v" for n in range(11)}}, "at most 10"),
        ({"url": "http://x", "on": "delete"}, "on must be"),
        ({"url": "http://x", "method": "PATCH"}, "method must be"),
        ({"url": "http://x", "raw_json": "{}", "form_data": {"a": "b"}}, "not both"),
    ],
)
def test_the_control_api_refuses_rules_zoho_would_not_save(empty_sandbox, spec, reason):
    response = requests.post(f"{empty_sandbox.url}{RULES}", json=spec, timeout=5)
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_rules_are_listed_and_deleted_through_the_control_api(empty_sandbox, receiver):
    first = add_rule(empty_sandbox, url=f"{receiver.url}/a")
    second = add_rule(empty_sandbox, url=f"{receiver.url}/b")
    assert [rule["id"] for rule in requests.get(f"{empty_sandbox.url}{RULES}", timeout=5).json()] == [
        first["id"],
        second["id"],
    ]
    assert requests.delete(f"{empty_sandbox.url}{RULES}/{first['id']}", timeout=5).status_code == 200
    assert requests.get(f"{empty_sandbox.url}{RULES}/{first['id']}", timeout=5).status_code == 404
    new_lead(empty_sandbox)
    settle(empty_sandbox)
    assert (len(receiver.at("/a")), len(receiver.at("/b"))) == (0, 1)
    assert requests.delete(f"{empty_sandbox.url}{RULES}", timeout=5).json() == []
    assert demo_org(empty_sandbox).org_id == second["org_id"]


def test_the_outbox_records_workflow_deliveries(empty_sandbox, receiver):
    add_rule(empty_sandbox, url=f"{receiver.url}/hook")
    lead = new_lead(empty_sandbox)
    settle(empty_sandbox)
    [delivery] = requests.get(
        f"{empty_sandbox.url}/_sandbox/outbox", params={"kind": "zoho_workflow_webhook"}, timeout=5
    ).json()
    assert delivery["status"] == 200
    assert lead["id"] in delivery["body"]
