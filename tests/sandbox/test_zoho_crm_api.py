"""Zoho CRM v8 in the sandbox, reading: records, paging, users, fields, org, search, auth and limits, over HTTP.

Answers are checked against Zoho's own OpenAPI files where the brief names them (tests/sandbox/openapi.py)."""

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
from tests.sandbox.openapi import assert_matches_openapi, assert_matches_schema

__all__ = ["crm"]  # the fixture


def test_get_records_answers_only_the_requested_fields_and_id_in_zohos_shape(crm):
    response = crm.get("/Leads", fields="First_Name,Last_Name,Email,Owner,Modified_Time,Interests", per_page=5)
    assert response.status_code == 200
    body = response.json()
    assert_matches_openapi(RECORDS, MODULE_PATH, "get", 200, body)
    assert len(body["data"]) == 5
    for record in body["data"]:
        assert set(record) == {"id", "First_Name", "Last_Name", "Email", "Owner", "Modified_Time", "Interests"}
        assert ZOHO_ID.match(record["id"])
        assert ZOHO_DATETIME.match(record["Modified_Time"])
        assert record["Modified_Time"].endswith("-05:00")
        assert set(record["Owner"]) == {"name", "id", "email"}
        assert isinstance(record["Interests"], list)
    info = body["info"]
    assert set(info) == {
        "call",
        "per_page",
        "next_page_token",
        "count",
        "sort_by",
        "page",
        "page_token_expiry",
        "sort_order",
        "email",
        "more_records",
        "previous_page_token",
    }
    assert (info["per_page"], info["count"], info["page"], info["more_records"]) == (5, 5, 1, True)
    assert (info["sort_by"], info["sort_order"]) == ("id", "desc")
    assert info["next_page_token"]
    assert ZOHO_DATETIME.match(info["page_token_expiry"])
    ids = [record["id"] for record in body["data"]]
    assert ids == sorted(ids, reverse=True)


def test_get_records_refuses_missing_too_many_or_unknown_fields(crm):
    missing = crm.get("/Leads")
    assert missing.status_code == 400
    assert missing.json() == {
        "code": "REQUIRED_PARAM_MISSING",
        "details": {"param_name": "fields"},
        "message": "required param is missing",
        "status": "error",
    }
    names = [meta["api_name"] for meta in crm.get("/settings/fields", module="Leads").json()["fields"]]
    assert len(names) > 50
    too_many = crm.get("/Leads", fields=",".join(names[:51]))
    assert error_of(too_many) == ("LIMIT_EXCEEDED", {"limit": 50, "param_name": "fields"})
    assert crm.get("/Leads", fields=",".join(names[:50])).status_code == 200
    assert error_of(crm.get("/Leads", fields="Last_Name,Nickname"))[0] == "INVALID_DATA"


def test_an_unknown_module_is_invalid_module(crm):
    response = crm.get("/Widgets", fields="Name")
    assert response.status_code == 400
    assert response.json() == {
        "code": "INVALID_MODULE",
        "details": {"resource_path_index": 0},
        "message": "the module name given seems to be invalid",
        "status": "error",
    }


def test_per_page_is_at_most_200_and_page_reaches_only_the_first_2000_records(crm):
    assert error_of(crm.get("/Leads", fields="Last_Name", per_page=201)) == ("INVALID_DATA", {"param_name": "per_page"})
    assert crm.get("/Leads", fields="Last_Name", page=10, per_page=200).status_code == 204  # within 2,000: empty
    beyond = crm.get("/Leads", fields="Last_Name", page=11, per_page=200)
    assert beyond.status_code == 400
    assert beyond.json() == {
        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "details": {"limit": 2000},
        "message": "You can only get the first 2000 records without using page_token param",
        "status": "error",
    }


def test_page_tokens_walk_past_2000_records_without_gaps_or_repeats(empty_sandbox):
    url = empty_sandbox.url
    seeded = control(url, "POST", "/zoho/seed", json={"module": "Leads", "count": 2600, "seed": 7}).json()
    assert seeded["total"] == 2600
    crm = Crm(url)
    params = {"fields": "Last_Name,Modified_Time", "per_page": 200, "converted": "both"}
    seen = []
    for page in range(1, 11):  # the first 2,000 by page number
        body = crm.get("/Leads", page=page, **params).json()
        seen += [record["id"] for record in body["data"]]
    token = body["info"]["next_page_token"]
    pages = 0
    while token:
        response = crm.get("/Leads", page_token=token, **params)
        assert response.status_code == 200
        body = response.json()
        assert body["info"]["previous_page_token"] == token
        seen += [record["id"] for record in body["data"]]
        token = body["info"]["next_page_token"]
        pages += 1
    assert pages == 3
    assert body["info"]["more_records"] is False
    assert body["info"]["page_token_expiry"] is None
    assert len(seen) == len(set(seen)) == 2600
    assert seen == sorted(seen, reverse=True)


def test_a_page_token_is_bound_to_its_parameters_and_expires(sandbox, crm):
    first = crm.get("/Leads", fields="Last_Name", per_page=50).json()
    token = first["info"]["next_page_token"]
    mismatch = crm.get("/Leads", fields="Last_Name,Email", per_page=50, page_token=token)
    assert mismatch.status_code == 400
    assert mismatch.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    assert mismatch.json()["details"] == {"param_name": "page_token"}
    garbage = crm.get("/Leads", fields="Last_Name", per_page=50, page_token="c8582xx9e7c7")
    assert garbage.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    together = crm.get("/Leads", fields="Last_Name", per_page=50, page=2, page_token=token)
    assert together.status_code == 400
    assert together.json()["code"] == "AMBIGUITY_DURING_PROCESSING"
    assert crm.get("/Leads", fields="Last_Name", per_page=50, page_token=token).status_code == 200
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 86_401})
    fresh = Crm(sandbox.url)
    expired = fresh.get("/Leads", fields="Last_Name", per_page=50, page_token=token)
    assert expired.json() == {
        "code": "EXPIRED_VALUE",
        "details": {"api_name": "page_token", "json_path": "$.query.page_token"},
        "message": "Page token expired",
        "status": "error",
    }


def test_page_tokens_stop_at_100000_records(sandbox, crm):
    token = crm.get("/Leads", fields="Last_Name", per_page=10).json()["info"]["next_page_token"]
    org(sandbox).page_tokens[token].offset = 100_000  # as if 100,000 records had been read with it
    response = crm.get("/Leads", fields="Last_Name", per_page=10, page_token=token)
    assert response.json() == {
        "code": "PAGINATION_LIMIT_EXCEEDED",
        "details": {"param_name": "page_token"},
        "message": "You can only get upto 100000 records using page_token param",
        "status": "error",
    }


def test_ids_pick_records_and_keep_the_sort_order(sandbox, crm):
    ids = sorted(org(sandbox).modules["Accounts"].records)[:3]
    body = crm.get("/Accounts", fields="Account_Name", ids=",".join(ids), sort_order="asc").json()
    assert [record["id"] for record in body["data"]] == ids
    assert crm.get("/Accounts", fields="Account_Name", ids="4150868000099999999").status_code == 204
    assert error_of(crm.get("/Accounts", fields="Account_Name", ids="abc"))[0] == "INVALID_DATA"


def test_records_sort_by_modified_and_created_time_both_ways(crm):
    for field in ("Modified_Time", "Created_Time"):
        for order in ("asc", "desc"):
            body = crm.get("/Contacts", fields=field, sort_by=field, sort_order=order, per_page=200).json()
            moments = [datetime.fromisoformat(record[field]) for record in body["data"]]
            assert moments == sorted(moments, reverse=order == "desc")
            assert (body["info"]["sort_by"], body["info"]["sort_order"]) == (field, order)
    assert crm.get("/Leads", fields="Last_Name", sort_by="Last_Name").json()["code"] == "INVALID_DATA"


def test_converted_leads_are_hidden_unless_asked_for_and_stay_readable_by_id(sandbox, crm):
    leads = org(sandbox).modules["Leads"].records.values()
    converted = {record["id"] for record in leads if record.get("$converted")}
    assert converted  # the demo world has some
    default = crm.get("/Leads", fields="Last_Name,$converted", per_page=200, converted="false").json()["data"]
    assert not converted & {record["id"] for record in default}
    hidden = crm.get("/Leads", fields="Last_Name", per_page=200).json()["data"]
    assert {record["id"] for record in hidden} == {record["id"] for record in default}
    only = crm.get("/Leads", fields="Last_Name,Converted_Date_Time", converted="true", per_page=200).json()["data"]
    assert {record["id"] for record in only} == converted
    assert all(ZOHO_DATETIME.match(record["Converted_Date_Time"]) for record in only)
    both = crm.get("/Leads", fields="Last_Name", converted="both", per_page=200).json()["info"]["count"]
    assert both == len(default) + len(converted)
    one = crm.get(f"/Leads/{next(iter(converted))}").json()["data"][0]
    assert one["$converted"] is True
    assert one["Converted__s"] is True
    assert one["$converted_detail"]["contact"]


def test_a_formula_change_leaves_modified_time_alone(sandbox, crm):
    changed = control(sandbox.url, "POST", "/zoho/formula", json={"count": 3, "seed": 1}).json()["ids"]
    store = org(sandbox).modules["Leads"]
    before = {record_id: dict(store.get(record_id)) for record_id in changed}
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 120})
    control(sandbox.url, "POST", "/zoho/formula", json={"count": 3, "seed": 1})
    for record_id in changed:
        now = crm.get(f"/Leads/{record_id}", fields="Lead_Score,Modified_Time").json()["data"][0]
        assert now["Lead_Score"] != before[record_id]["Lead_Score"]
        assert now["Modified_Time"] == before[record_id]["Modified_Time"]


def test_an_empty_module_answers_204_with_no_body(empty_sandbox):
    response = Crm(empty_sandbox.url).get("/Leads", fields="Last_Name")
    assert response.status_code == 204
    assert response.content == b""


def test_one_record_answers_every_field_and_204_when_it_is_gone(sandbox, crm):
    record_id = next(iter(org(sandbox).modules["Deals"].records))
    body = crm.get(f"/Deals/{record_id}").json()
    assert_matches_openapi(RECORDS, "/crm/v8/{module_api_name}/{id}", "get", 200, body)
    deal = body["data"][0]
    metadata = crm.get("/settings/fields", module="Deals").json()["fields"]
    assert {meta["api_name"] for meta in metadata} <= set(deal)
    assert deal["$currency_symbol"] == "$"
    assert isinstance(deal["Amount"], float)
    assert set(deal["Contact_Name"]) == {"name", "id"}
    control(sandbox.url, "DELETE", f"/zoho/Deals/{record_id}")
    assert crm.get(f"/Deals/{record_id}").status_code == 204
    assert error_of(crm.get("/Deals/not-an-id"))[0] == "INVALID_DATA"


def test_current_user_is_whoever_owns_the_token(sandbox, crm):
    body = crm.get("/users", type="CurrentUser").json()
    assert_matches_openapi("zoho-crm-v8/users.json", "/crm/v8/users", "get", 200, body)
    assert [user["id"] for user in body["users"]] == [worlds.DEMO_USERS[0]["id"]]
    assert body["info"] == {"per_page": 200, "count": 1, "page": 1, "more_records": False}
    everyone = crm.get("/users", type="AllUsers").json()
    assert_matches_openapi("zoho-crm-v8/users.json", "/crm/v8/users", "get", 200, everyone)
    assert [user["id"] for user in everyone["users"]] == [user["id"] for user in worlds.DEMO_USERS]
    user = everyone["users"][1]
    assert (user["full_name"], user["email"], user["status"]) == ("Ana Alvarez", "ana@demo.leadline.test", "active")
    assert user["role"]["name"]
    assert user["profile"]["name"] == "Standard"
    assert user["zuid"] != user["id"]
    assert crm.get("/users", type="Everybody").json()["code"] == "PATTERN_NOT_MATCHED"


def test_field_metadata_has_zohos_shape_and_every_odd_type(crm):
    for module in ("Leads", "Contacts", "Accounts", "Deals", "Tasks", "Notes"):
        body = crm.get("/settings/fields", module=module).json()
        assert_matches_openapi("zoho-crm-v8/fields.json", "/crm/v8/settings/fields", "get", 200, body)
    fields = {meta["api_name"]: meta for meta in crm.get("/settings/fields", module="Leads").json()["fields"]}
    assert len(fields) > 50
    expected = {
        "Owner": ("ownerlookup", "jsonobject"),
        "Interests": ("multiselectpicklist", "jsonarray"),
        "Annual_Revenue": ("currency", "double"),
        "No_of_Employees": ("integer", "integer"),
        "Visitor_Score": ("bigint", "string"),
        "Email_Opt_Out": ("boolean", "boolean"),
        "Trial_Date": ("date", "string"),
        "Converted_Date_Time": ("datetime", "string"),
        "Lead_Score": ("formula", "double"),
        "Lead_Status": ("picklist", "string"),
    }
    for name, (data_type, json_type) in expected.items():
        assert (fields[name]["data_type"], fields[name]["json_type"]) == (data_type, json_type), name
    assert fields["Last_Name"]["system_mandatory"] is True
    assert fields["Studio"]["custom_field"] is True
    assert {"display_value": "Harbor Point", "actual_value": "Harbor Point"}.items() <= fields["Studio"][
        "pick_list_values"
    ][-1].items()
    assert fields["Annual_Revenue"]["currency"] == {"rounding_option": "normal", "precision": 2}
    assert fields["Lead_Score"]["formula"]["return_type"] == "double"
    deals = {meta["api_name"]: meta for meta in crm.get("/settings/fields", module="Deals").json()["fields"]}
    assert deals["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert error_of(crm.get("/settings/fields")) == ("REQUIRED_PARAM_MISSING", {"param_name": "module"})
    assert error_of(crm.get("/settings/fields", module="Widgets"))[0] == "INVALID_MODULE"


def test_org_details_name_the_org_its_time_zone_and_currency(crm):
    details = crm.get("/org").json()["org"][0]
    assert details["id"] == ORG_ID
    assert details["company_name"] == worlds.DEMO_ZOHO_ORG_NAME
    assert details["time_zone"] == "America/New_York"
    assert (details["currency_symbol"], details["iso_code"]) == ("$", "USD")


def test_search_by_phone_compares_digits_only(sandbox, crm):
    crm.post("/Leads", {"data": [{"Last_Name": "Phone", "Mobile": "(415) 555-0177"}], "trigger": []})
    for typed in ("4155550177", "415.555.0177", "(415) 555 0177"):
        found = crm.get("/Leads/search", phone=typed)
        assert found.status_code == 200, typed
        assert_matches_openapi(RECORDS, "/crm/v8/{module_api_name}/search", "get", 200, found.json())
        assert [record["Last_Name"] for record in found.json()["data"]] == ["Phone"]
    assert crm.get("/Leads/search", phone="+14155550177").status_code == 204


def test_search_by_criteria_and_email_and_its_errors(crm):
    crm.post("/Leads", {"data": [{"Last_Name": "Searchable", "Email": "Find.Me@Example.com", "Studio": "Uptown"}]})
    by_email = crm.get("/Leads/search", email="find.me@example.com", fields="Last_Name,Email").json()["data"]
    assert [set(record) for record in by_email] == [{"id", "Last_Name", "Email"}]
    criteria = "((Last_Name:equals:Searchable) and (Studio:in:Uptown,Downtown))"
    assert crm.get("/Leads/search", criteria=criteria).json()["info"]["count"] == 1
    assert crm.get("/Leads/search", criteria="(Last_Name:starts_with:Searcha)").json()["info"]["count"] == 1
    assert crm.get("/Leads/search", criteria="(Last_Name:equals:Nobody)").status_code == 204
    assert error_of(crm.get("/Leads/search", criteria="Last_Name = 'x'"))[0] == "INVALID_QUERY"
    assert error_of(crm.get("/Leads/search"))[0] == "REQUIRED_PARAM_MISSING"


def test_a_missing_malformed_or_bearer_header_is_authentication_failure(sandbox, crm):
    failure = {"code": "AUTHENTICATION_FAILURE", "details": {}, "message": "Authentication failed", "status": "error"}
    for header in (None, "garbage", f"Bearer {crm.token}", "Zoho-oauthtoken"):
        headers = {"Authorization": header} if header else {}
        response = requests.get(
            f"{sandbox.url}/crm/v8/Leads", params={"fields": "Last_Name"}, headers=headers, timeout=5
        )
        assert response.status_code == 401, header
        assert response.json() == failure


def test_an_unknown_expired_or_revoked_token_is_invalid_token(sandbox, crm):
    invalid = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    assert Crm(sandbox.url, "1000.unknown.token").get("/Leads", fields="Last_Name").json() == invalid
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 3601})
    expired = crm.get("/Leads", fields="Last_Name")
    assert (expired.status_code, expired.json()) == (401, invalid)


def test_a_token_without_the_scope_is_oauth_scope_mismatch(sandbox):
    state = sandbox.state.accounts
    admin = worlds.DEMO_USERS[0]["id"]
    state.add_refresh_token("1000.users", worlds.DEMO_CLIENT_ID, ORG_ID, admin, ("ZohoCRM.users.READ",))
    state.add_refresh_token("1000.leads", worlds.DEMO_CLIENT_ID, ORG_ID, admin, ("ZohoCRM.modules.leads.READ",))
    users_only = Crm(sandbox.url, access_token(sandbox.url, "1000.users"))
    mismatch = users_only.get("/Leads", fields="Last_Name")
    assert mismatch.status_code == 401
    assert mismatch.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "Unauthorized",
        "status": "error",
    }
    assert users_only.get("/users").status_code == 200
    leads_only = Crm(sandbox.url, access_token(sandbox.url, "1000.leads"))
    assert leads_only.get("/Leads", fields="Last_Name").status_code == 200
    assert leads_only.get("/Contacts", fields="Last_Name").json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert leads_only.post("/Leads", {"data": [{"Last_Name": "X"}]}).json()["code"] == "OAUTH_SCOPE_MISMATCH"
    notes = leads_only.post("/Notes", {"data": [{"Note_Content": "x"}]}).json()
    assert notes["message"] == "invalid oauth scope to access this URL"


def test_spent_credits_answer_429_until_the_24_hour_window_rolls_on(sandbox, crm):
    control(sandbox.url, "PATCH", "/config", json={"api_credits_per_day": 3})
    assert [crm.get("/org").status_code for _ in range(3)] == [200, 200, 200]
    refused = crm.get("/org")
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert refused.json()["status"] == "error"
    control(sandbox.url, "POST", "/clock", json={"advance_seconds": 24 * 3600 + 1})
    assert Crm(sandbox.url).get("/org").status_code == 200


def test_calls_beyond_the_concurrency_limit_answer_429(sandbox, crm):
    control(sandbox.url, "PATCH", "/config", json={"concurrency_limit": 2})
    demo = org(sandbox)
    with demo.calling() as first, demo.calling() as second:  # two calls of the org's app still in flight
        assert first is None
        assert second is None
        refused = crm.get("/org")
        assert refused.status_code == 429
        assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert crm.get("/org").status_code == 200
    assert demo.in_flight == 0


def test_record_owners_are_zoho_minified_users(crm):
    owner = crm.get("/Leads", fields="Owner", per_page=1).json()["data"][0]["Owner"]
    assert_matches_schema("zoho-crm-v8/users.json", "Minified_User", owner)
