"""The sandbox's Dataverse fault actions as a test names them through the control API: "dv_edit_records" (people
edit rows of a table while a sync pages: a new versionnumber and modifiedon each, announced as a person's edit)."""

from __future__ import annotations

import requests

from sandbox.dynamics.seed import seed_rows
from tests.sandbox.dynamics.dv_support import TIMEOUT, ok


def add_fault(server, **rule):
    answer = requests.post(f"{server.url}/_sandbox/faults", json=rule, timeout=TIMEOUT)
    assert answer.status_code in (200, 201), answer.text


def test_people_edit_the_first_rows_while_a_sync_pages(dv_server, env):
    ids = sorted(str(row_id) for row_id in seed_rows(env.environment, "lead", 5))
    before = {row_id: dict(env.environment.row("lead", row_id)) for row_id in ids}
    heard = []
    env.server.state.dynamics.listeners.append(heard.append)
    add_fault(dv_server, path=r"/leads(\?|$)", method="GET", after=1, times=1, action="dv_edit_records", count=2)

    first = ok(env.api("GET", "leads?$select=leadid", headers={"Prefer": "odata.maxpagesize=2"}))
    assert not heard  # the first call is let through untouched
    ok(env.api("GET", "leads?$select=leadid"))

    edited, untouched = ids[:2], ids[2:]
    assert [(change.operation, change.row_id) for change in heard] == [("Update", row_id) for row_id in edited]
    person = env.users[0]["systemuserid"]
    assert {change.by_user for change in heard} == {person} != {env.application_user_id}
    for row_id in edited:
        row = env.environment.row("lead", row_id)
        assert row["versionnumber"] > max(old["versionnumber"] for old in before.values())
        assert row["modifiedon"] > before[row_id]["modifiedon"]
        assert row["description"] == "edited while a sync paged"
    for row_id in untouched:
        assert env.environment.row("lead", row_id)["versionnumber"] == before[row_id]["versionnumber"]
    assert len(first["value"]) == 2


def test_the_table_is_a_parameter_and_other_environments_are_edited_too(dv_server, env):
    from tests.sandbox.dynamics.dv_support import new_env

    other = new_env(dv_server, "fabrikam", organization_name="Fabrikam Gyms")
    contacts = {name: seed_rows(e.environment, "contact", 3) for name, e in (("a", env), ("b", other))}
    leads = seed_rows(env.environment, "lead", 2)
    lead_versions = {row_id: env.environment.row("lead", row_id)["versionnumber"] for row_id in leads}
    add_fault(dv_server, path="/WhoAmI$", times=1, action="dv_edit_records", table="contact", count=1)

    ok(env.api("GET", "WhoAmI"))

    for name, e in (("a", env), ("b", other)):
        edited = [
            row_id
            for row_id in contacts[name]
            if e.environment.row("contact", row_id)["description"] == "edited while a sync paged"
        ]
        assert edited == [min(str(row_id) for row_id in contacts[name])]
    assert {row_id: env.environment.row("lead", row_id)["versionnumber"] for row_id in leads} == lead_versions
