"""The emulator's rules for two-way sync's writes: the `lh_leadlineid` alternate key on lead, contact and account
(upsert through the key's URL form, a duplicate value refused), a plug-in's refusal switched on and off through the
control API (400 0x80040265 with its message), and the `records_written` tally (rows the Web API wrote; refused
rows and rolled-back change sets count none)."""

from __future__ import annotations

import requests

from sandbox.dynamics.rules import DUPLICATE_KEY, PLUGIN_ABORTED, TALLY
from tests.sandbox.dynamics.dv_support import TIMEOUT, ok
from tests.sandbox.dynamics.test_batch import change_set, operation, send, statuses

RETURN = {"Prefer": "return=representation"}


def written(server) -> int:
    return int(server.state.counters[TALLY])


def test_lead_contact_and_account_have_the_leadline_id_alternate_key(env):
    for table in ("lead", "contact", "account"):
        keys = ok(env.api("GET", f"EntityDefinitions(LogicalName='{table}')/Keys"))["value"]
        assert [(key["LogicalName"], key["KeyAttributes"]) for key in keys] == [
            ("lh_leadlineid_key", ["lh_leadlineid"])
        ]
        column = ok(env.api("GET", f"EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='lh_leadlineid')"))
        assert (column["AttributeType"], column["IsCustomAttribute"]) == ("String", True)


def test_an_upsert_by_the_alternate_key_creates_then_updates_and_never_duplicates(env, dv_server):
    path = "contacts(lh_leadlineid='ll-1')?$select=contactid,lastname"
    created = env.api("PATCH", path, json={"lastname": "Ng"}, headers=RETURN)
    body = ok(created, 201)
    again = ok(env.api("PATCH", path, json={"lastname": "Ng-Park"}, headers=RETURN), 200)
    assert again["contactid"] == body["contactid"]
    plain = env.api("PATCH", "contacts(lh_leadlineid='LL-1')", json={"firstname": "Ana"})  # keys ignore case
    assert plain.status_code == 204
    rows = env.environment.rows("contact")
    assert len(rows) == 1
    assert (rows[0]["lastname"], rows[0]["firstname"], rows[0]["lh_leadlineid"]) == ("Ng-Park", "Ana", "ll-1")
    assert written(dv_server) == 3
    update_only = env.api("PATCH", "contacts(lh_leadlineid='ll-2')", json={"lastname": "X"}, headers={"If-Match": "*"})
    assert update_only.status_code == 404
    assert written(dv_server) == 3


def test_a_duplicate_leadline_id_is_refused(env, dv_server):
    env.create("leads", {"lastname": "First", "lh_leadlineid": "dup"})
    second = env.create("leads", {"lastname": "Second", "lh_leadlineid": "other"})
    refused = env.api("POST", "leads", json={"lastname": "Third", "lh_leadlineid": "DUP"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == DUPLICATE_KEY
    assert "lh_leadlineid_key" in refused.json()["error"]["message"]
    moved = env.api("PATCH", f"leads({second})", json={"lh_leadlineid": "dup"}, headers={"If-Match": "*"})
    assert moved.status_code == 400
    assert moved.json()["error"]["code"] == DUPLICATE_KEY
    assert env.environment.row("lead", second)["lh_leadlineid"] == "other"
    assert written(dv_server) == 2


def test_a_plugin_refusal_switched_on_and_off_through_the_control_api(env, dv_server):
    control = f"{dv_server.url}/_sandbox/dynamics/environments/{env.environment.name}/tables/lead/refusals"
    message = "Leads from the sync may not set the studio."
    answer = requests.post(control, json={"column": "lh_studio", "message": message}, timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.json() == {"lh_studio": message}
    lead = env.create("leads", {"lastname": "Fine"})  # a write that does not set the column passes
    refused = env.api("PATCH", f"leads({lead})", json={"lh_studio": "Marina"}, headers={"If-Match": "*"})
    assert refused.status_code == 400
    assert refused.json()["error"] == {"code": PLUGIN_ABORTED, "message": message}
    on_create = env.api("PATCH", "leads(lh_leadlineid='n-1')", json={"lastname": "New", "lh_studio": "Marina"})
    assert on_create.status_code == 400
    assert [row["lastname"] for row in env.environment.rows("lead")] == ["Fine"]
    assert requests.delete(control, timeout=TIMEOUT).json() == {}
    ok(env.api("PATCH", f"leads({lead})", json={"lh_studio": "Marina"}, headers={"If-Match": "*"}), 204)
    assert written(dv_server) == 2
    bad = requests.post(control, json={"column": "nope", "message": "x"}, timeout=TIMEOUT)
    assert bad.status_code == 400


def test_batch_rows_are_tallied_and_a_rolled_back_change_set_counts_none(env, dv_server):
    env.create("accounts", {"name": "Taken", "lh_leadlineid": "a-1"})
    text = send(
        env,
        [
            operation(env, "PATCH", "accounts(lh_leadlineid='a-2')", {"name": "Two"}),
            operation(env, "POST", "accounts", {"name": "Dup", "lh_leadlineid": "a-1"}),
            change_set(
                [
                    operation(env, "POST", "accounts", {"name": "Rolled back"}, content_id="1"),
                    operation(env, "POST", "accounts", {"name": "Dup too", "lh_leadlineid": "a-1"}, content_id="2"),
                ]
            ),
            operation(env, "DELETE", "accounts(lh_leadlineid='a-2')"),
        ],
        prefer="odata.continue-on-error",
    )
    assert statuses(text) == [204, 400, 400, 204]
    assert sorted(row["name"] for row in env.environment.rows("account")) == ["Taken"]
    assert written(dv_server) == 3  # the first create, the upsert, the delete
