"""A client written from Microsoft's Web API documentation, with plain `requests`: a token from the token endpoint
(client credentials, scope `<environment URL>/.default`), then WhoAmI, a create answered 204 with OData-EntityId,
a row retrieved with $select, a collection read with `Prefer: odata.maxpagesize` following `@odata.nextLink`, and
change tracking through `@odata.deltaLink`. Nothing here knows the emulator beyond its URLs."""

from __future__ import annotations

import requests

from sandbox.dynamics.seed import DEMO_DV_CLIENT_ID, DEMO_DV_CLIENT_SECRET


def test_the_documented_requests(dv_server, env):
    token = requests.post(
        f"{dv_server.tls_url}/{env.environment.tenant_id}/oauth2/v2.0/token",
        data={
            "client_id": DEMO_DV_CLIENT_ID,
            "client_secret": DEMO_DV_CLIENT_SECRET,
            "grant_type": "client_credentials",
            "scope": f"{env.url}/.default",
        },
        verify=dv_server.ca_path,
        timeout=10,
    ).json()["access_token"]
    web_api = f"{env.url}/api/data/v9.2/"
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
        "If-None-Match": "null",
    }

    who = requests.get(web_api + "WhoAmI", headers=headers, timeout=10)
    assert who.status_code == 200
    assert set(who.json()) >= {"BusinessUnitId", "UserId", "OrganizationId"}

    created = requests.post(
        web_api + "accounts",
        headers={**headers, "Content-Type": "application/json; charset=utf-8"},
        json={"name": "Sample Account", "telephone1": "555-0100", "industrycode": 25},
        timeout=10,
    )
    assert created.status_code == 204
    assert created.content == b""
    entity_id = created.headers["OData-EntityId"]
    account_id = entity_id[entity_id.index("(") + 1 : -1]

    row = requests.get(f"{web_api}accounts({account_id})?$select=name,telephone1", headers=headers, timeout=10)
    assert row.status_code == 200
    body = row.json()
    assert body["name"] == "Sample Account"
    assert body["accountid"] == account_id
    assert body["@odata.etag"].startswith('W/"')

    for number in range(4):
        requests.post(web_api + "accounts", headers=headers, json={"name": f"Account {number}"}, timeout=10)
    names, url = [], f"{web_api}accounts?$select=name"
    while url:
        page = requests.get(url, headers={**headers, "Prefer": "odata.maxpagesize=2"}, timeout=10)
        assert page.status_code == 200, page.text
        assert page.headers.get("Preference-Applied") == "odata.maxpagesize=2"
        names += [item["name"] for item in page.json()["value"]]
        url = page.json().get("@odata.nextLink")
    assert sorted(names) == sorted(["Sample Account", *(f"Account {number}" for number in range(4))])


def test_the_documented_change_tracking_requests(dv_server, env):
    """Microsoft's change-tracking walkthrough: `Prefer: odata.track-changes` answers every row and, on the last
    page, `@odata.deltaLink`; a GET of that link answers what changed since, deletions as `$deletedEntity`."""
    headers = {
        "Authorization": f"Bearer {env.token}",
        "Accept": "application/json",
        "OData-MaxVersion": "4.0",
        "OData-Version": "4.0",
    }
    web_api = f"{env.url}/api/data/v9.2/"
    kept = env.create("accounts", {"name": "Kept", "telephone1": "555-0100"})
    gone = env.create("accounts", {"name": "Gone"})

    first = requests.get(
        f"{web_api}accounts?$select=name,telephone1", headers={**headers, "Prefer": "odata.track-changes"}, timeout=10
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["@odata.context"].endswith("/$delta")
    assert {row["name"] for row in body["value"]} == {"Kept", "Gone"}
    delta_link = body["@odata.deltaLink"]
    assert "$deltatoken=" in delta_link

    env.api("PATCH", f"accounts({kept})", json={"telephone1": "555-0199"}, headers={"If-Match": "*"})
    env.api("DELETE", f"accounts({gone})")
    added = env.create("accounts", {"name": "Added"})

    changes = requests.get(delta_link, headers={**headers, "Prefer": "odata.track-changes"}, timeout=10)
    assert changes.status_code == 200, changes.text
    rows = changes.json()["value"]
    changed = {row["accountid"]: row for row in rows if "accountid" in row}
    assert changed[kept]["telephone1"] == "555-0199"
    assert added in changed
    deleted = [row for row in rows if row.get("@odata.context", "").endswith("$deletedEntity")]
    assert [(row["id"], row["reason"]) for row in deleted] == [(gone, "deleted")]
    assert "@odata.deltaLink" in changes.json()
