"""The environment's organization row as Dataverse answers it: by its id and as the one-row collection, with
$select, read by the application user (how a connection names its customer)."""

from __future__ import annotations

import uuid

from tests.sandbox.dynamics.dv_support import ok


def test_the_organization_by_its_id_with_select(env):
    org_id = env.environment.organization_id
    response = env.api("GET", f"organizations({org_id})?$select=name")
    row = ok(response)
    assert row["@odata.context"] == f"{env.base}/$metadata#organizations(name)/$entity"
    assert row["name"] == "Contoso Fitness"
    assert row["organizationid"] == org_id
    assert row["@odata.etag"].startswith('W/"')
    assert response.headers["OData-Version"] == "4.0"

    braced = ok(env.api("GET", f"organizations({{{org_id.upper()}}})"))
    assert braced["name"] == "Contoso Fitness"


def test_the_organizations_collection_holds_the_one_row(env):
    body = ok(env.api("GET", "organizations?$select=name,organizationid"))
    assert body["@odata.context"] == f"{env.base}/$metadata#organizations(name,organizationid)"
    assert [(row["name"], row["organizationid"]) for row in body["value"]] == [
        ("Contoso Fitness", env.environment.organization_id)
    ]


def test_another_id_an_unknown_column_and_no_token_are_refused(env):
    other = str(uuid.uuid4())
    missing = env.api("GET", f"organizations({other})")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"organization With Id = {other} Does Not Exist"

    unknown = env.api("GET", f"organizations({env.environment.organization_id})?$select=nickname")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "0x80060888"

    assert env.api("GET", "organizations", token="not-a-token").status_code == 401


def test_other_environments_name_their_own_organization(env, dv_server):
    from tests.sandbox.dynamics.dv_support import new_env

    other = new_env(dv_server, "fabrikam", organization_name="Fabrikam Gyms")
    body = ok(other.api("GET", "organizations?$select=name"))
    assert [row["name"] for row in body["value"]] == ["Fabrikam Gyms"]
    assert other.api("GET", f"organizations({env.environment.organization_id})").status_code == 404
