"""Change tracking in the emulated Web API over real HTTP: a read with `Prefer: odata.track-changes`, its delta
link, changes and `$deletedEntity` rows, back-dated rows, expiry and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from tests.sandbox.dynamics.dv_support import ok
from tests.sandbox.dynamics.emq_support import configure, control, get, seed

EXPIRED = {
    "code": "0x80044352",
    "message": "Version stamp associated with the client has expired. Please perform a full sync.",
}


def full_read(env, entity_set="leads", select="firstname,lastname", page_size=None):
    """Every page of a first tracked read: (rows, delta link)."""
    prefer = "odata.track-changes" + (f",odata.maxpagesize={page_size}" if page_size else "")
    body = ok(get(env, entity_set, params={"$select": select}, prefer=prefer))
    rows = list(body["value"])
    while "@odata.nextLink" in body:
        assert "@odata.deltaLink" not in body
        body = ok(get(env, body["@odata.nextLink"], prefer=prefer))
        rows += body["value"]
    return rows, body["@odata.deltaLink"]


def test_a_page_and_a_delta_link_with_plain_requests_as_microsofts_docs_show(env):
    """Microsoft's "Use change tracking to synchronize data with external systems": GET the collection with
    `Prefer: odata.track-changes`, keep the `@odata.deltaLink`, later GET it for what changed."""
    ids = seed(env, "account", 3)
    headers = {
        "Authorization": f"Bearer {env.token}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "Prefer": "odata.track-changes",
    }
    response = requests.get(f"{env.base}/accounts?$select=name,telephone1,emailaddress1", headers=headers, timeout=15)
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.track-changes"
    first = response.json()
    assert first["@odata.context"] == f"{env.base}/$metadata#accounts(name,telephone1,emailaddress1)/$delta"
    assert sorted(row["accountid"] for row in first["value"]) == sorted(ids)
    delta_link = first["@odata.deltaLink"]
    assert delta_link.startswith(f"{env.base}/accounts?$select=name,telephone1,emailaddress1&$deltatoken=")
    token = delta_link.split("$deltatoken=")[1]
    version, _, stamp = unquote(token).partition("!")
    assert version.isdigit()
    datetime.strptime(stamp + " +0000", "%m/%d/%Y %H:%M:%S %z")  # the docs' shape: 919042!08/22/2017 08:10:44

    environment = env.environment
    person = env.users[0]["systemuserid"]
    environment.update("account", ids[0], {"telephone1": "555000"}, by=person)
    environment.delete("account", ids[1], by=person)
    created = environment.create("account", {"name": "Monte Orton"}, by=person)["accountid"]

    changes = requests.get(delta_link, headers={k: v for k, v in headers.items() if k != "Prefer"}, timeout=15)
    assert changes.status_code == 200
    body = changes.json()
    assert body["@odata.context"].endswith("/$delta")
    rows = {row.get("accountid"): row for row in body["value"] if "accountid" in row}
    assert set(rows) == {ids[0], created}
    assert rows[ids[0]]["telephone1"] == "555000"
    assert rows[created]["@odata.etag"] == f'W/"{environment.row("account", created)["versionnumber"]}"'
    deleted = [row for row in body["value"] if "accountid" not in row]
    assert deleted == [
        {"@odata.context": f"{env.base}/$metadata#accounts/$deletedEntity", "id": ids[1], "reason": "deleted"}
    ]
    again = requests.get(body["@odata.deltaLink"], headers=headers, timeout=15).json()
    assert again["value"] == []  # nothing since
    assert "@odata.deltaLink" in again


def test_a_tracked_read_pages_and_changes_while_paging_come_with_the_next_delta(env):
    ids = seed(env, "lead", 9)
    prefer = "odata.track-changes,odata.maxpagesize=4"
    first = ok(get(env, "leads", params={"$select": "firstname"}, prefer=prefer))
    assert len(first["value"]) == 4
    assert "@odata.deltaLink" not in first
    cookie = parse_qs(urlsplit(first["@odata.nextLink"]).query)["$skiptoken"][0]
    assert cookie.endswith('istracking="True" />')
    # A person edits a row the read already passed while it pages.
    passed = first["value"][0]["leadid"]
    env.environment.update("lead", passed, {"firstname": "Edited"}, by=env.users[0]["systemuserid"])
    body, seen = first, [row["leadid"] for row in first["value"]]
    while "@odata.nextLink" in body:
        body = ok(get(env, body["@odata.nextLink"], prefer=prefer))
        seen += [row["leadid"] for row in body["value"]]
    assert sorted(seen) == sorted(ids)
    delta = ok(get(env, body["@odata.deltaLink"], prefer=prefer))
    assert [(row["leadid"], row["firstname"]) for row in delta["value"]] == [(passed, "Edited")]


def test_a_large_delta_pages_and_its_last_page_carries_the_next_delta_link(env):
    ids = seed(env, "contact", 12)
    _, delta_link = full_read(env, "contacts", "lastname")
    person = env.users[1]["systemuserid"]
    for row_id in ids[:7]:
        env.environment.update("contact", row_id, {"lastname": "Changed"}, by=person)
    for row_id in ids[7:10]:
        env.environment.delete("contact", row_id, by=person)
    prefer = "odata.track-changes,odata.maxpagesize=4"
    body = ok(get(env, delta_link, prefer=prefer))
    entries = list(body["value"])
    while "@odata.nextLink" in body:
        assert "@odata.deltaLink" not in body
        body = ok(get(env, body["@odata.nextLink"], prefer=prefer))
        entries += body["value"]
    assert len(entries) == 10
    assert {row["contactid"] for row in entries if "contactid" in row} == set(ids[:7])
    assert {row["id"] for row in entries if "id" in row} == set(ids[7:10])
    assert ok(get(env, body["@odata.deltaLink"]))["value"] == []


def test_back_dated_rows_still_come_in_the_delta(env, dv_server):
    ids = seed(env, "lead", 5)
    _, delta_link = full_read(env)
    response = control(
        dv_server,
        "POST",
        f"/environments/{env.environment.name}/tables/lead/backdate",
        json={"ids": ids[:2], "modifiedon": "2020-01-01T00:00:00Z"},
    )
    assert ok(response) == {"count": 2}
    rows = ok(get(env, delta_link, params=None))["value"]
    assert sorted(row["leadid"] for row in rows) == sorted(ids[:2])
    assert all(
        env.environment.row("lead", row_id)["modifiedon"] == datetime(2020, 1, 1, tzinfo=UTC) for row_id in ids[:2]
    )


def test_a_delta_link_expires_after_the_configured_days(env, dv_server):
    configure(dv_server, dv_change_tracking_days=2, dv_access_token_ttl_seconds=10 * 86400)
    from tests.sandbox.dynamics.dv_support import token_for

    seed(env, "lead", 2)
    env.token = ok(token_for(dv_server, env.environment.tenant_id, env.url))["access_token"]  # a 10-day token
    _, delta_link = full_read(env)
    dv_server.state.clock.advance(86400)
    assert get(env, delta_link).status_code == 200
    dv_server.state.clock.advance(86400 + 60)
    expired = get(env, delta_link)
    assert expired.status_code == 400
    assert expired.json()["error"] == EXPIRED


def test_expiring_every_token_by_control(env, dv_server):
    seed(env, "lead", 2)
    _, delta_link = full_read(env)
    ok(control(dv_server, "POST", f"/environments/{env.environment.name}/expire-change-tokens"))
    expired = get(env, delta_link)
    assert expired.status_code == 400
    assert expired.json()["error"] == EXPIRED
    _, fresh = full_read(env)  # a full sync gives a link that works
    assert get(env, fresh).status_code == 200


def test_tables_without_change_tracking_and_options_tracking_refuses(env, dv_server):
    refused = get(env, "tasks", params={"$select": "subject"}, prefer="odata.track-changes")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "The entity doesn't have change tracking enabled."
    ok(
        control(
            dv_server,
            "POST",
            f"/environments/{env.environment.name}/tables/task/change-tracking",
            json={"enabled": True},
        )
    )
    assert get(env, "tasks", params={"$select": "subject"}, prefer="odata.track-changes").status_code == 200
    with_filter = get(
        env, "leads", params={"$select": "firstname", "$filter": "statecode eq 0"}, prefer="odata.track-changes"
    )
    assert with_filter.status_code == 400
    not_a_token = get(env, "leads", params={"$select": "firstname", "$deltatoken": "yesterday"})
    assert not_a_token.status_code == 400


def test_a_tracked_reads_next_link_continues_it_without_the_prefer_header(env):
    seed(env, "lead", 5)
    first = ok(get(env, "leads", params={"$select": "firstname"}, prefer="odata.track-changes,odata.maxpagesize=3"))
    rest = ok(get(env, first["@odata.nextLink"]))
    assert len(first["value"]) + len(rest["value"]) == 5
    assert "@odata.deltaLink" in rest
