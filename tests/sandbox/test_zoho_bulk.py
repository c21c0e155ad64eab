"""Bulk Read in the sandbox: jobs on the sandbox clock, the ZIP/CSV export, the download limit, callbacks."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
import requests

from tests.sandbox.zoho_support import (
    Receiver,
    access_token,
    assert_matches_schema,
    auth,
    demo_org,
    freeze,
    module_store,
    owner,
    wait_until,
)

READ = "/crm/bulk/v8/read"
# The schemas the OAS lists for a 400 from POST /read.
BAD_REQUEST_SCHEMAS = (
    "Bulk_Read_API_Exception",
    "Request_Body_Not_Supported",
    "Field_Criteria_Not_Supported",
    "Ambiguous_Criteria",
    "Invalid_Callback",
    "Group_Operator_Not_Supported",
    "Page_Range_Exceeded",
    "Module_Not_Supported",
    "Cvid_Not_Supported",
    "Invalid_Criteria",
    "Value_Type_Not_Supported",
)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def create_job(sandbox, body, *, headers=None):
    return requests.post(f"{sandbox.url}{READ}", json=body, headers=headers or auth(sandbox), timeout=10)


def leads_query(**query):
    return {"query": {"module": {"api_name": "Leads"}, **query}}


def add_leads(sandbox, count, **values):
    store = module_store(sandbox)
    who = owner(sandbox)
    return [
        store.insert(
            {"Last_Name": f"Lead {number}", "Email": f"lead{number}@example.com", **values},
            by_user=who,
        )
        for number in range(count)
    ]


def status(sandbox, job_id, headers=None):
    return requests.get(f"{sandbox.url}{READ}/{job_id}", headers=headers or auth(sandbox), timeout=10)


def download_rows(sandbox, job_id, headers=None):
    response = requests.get(f"{sandbox.url}{READ}/{job_id}/result", headers=headers or auth(sandbox), timeout=60)
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [f"{job_id}.csv"]
    return list(csv.DictReader(io.StringIO(archive.read(f"{job_id}.csv").decode("utf-8"))))


def complete(sandbox, job_id):
    response = requests.post(f"{sandbox.url}/_sandbox/zoho/bulk/{job_id}/complete", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["data"][0]


def test_a_job_moves_through_added_queued_in_progress_and_completed_on_the_sandbox_clock(empty_sandbox):
    freeze(empty_sandbox)
    empty_sandbox.state.config.bulk_read_seconds_per_state = 60
    add_leads(empty_sandbox, 3)
    headers = auth(empty_sandbox)

    created = create_job(empty_sandbox, leads_query(), headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert body["info"] == {}
    entry = body["data"][0]
    assert (entry["status"], entry["code"], entry["message"]) == (
        "success",
        "ADDED_SUCCESSFULLY",
        "Added successfully.",
    )
    assert entry["details"]["state"] == "ADDED"
    assert entry["details"]["operation"] == "read"
    assert entry["details"]["created_by"]["id"] == owner(empty_sandbox)["id"]
    assert_matches_schema("bulk_read.json", "Success_Response", entry)
    job_id = entry["details"]["id"]

    seen = []
    for _ in range(4):
        response = status(empty_sandbox, job_id, headers)
        assert response.status_code == 200
        assert_matches_schema("bulk_read.json", "Response_Wrapper", response.json())
        seen.append(response.json()["data"][0])
        empty_sandbox.state.clock.advance(60)
    assert [job["state"] for job in seen] == ["ADDED", "QUEUED", "IN PROGRESS", "COMPLETED"]
    assert all("result" not in job for job in seen[:3])
    assert seen[0]["query"] == {"module": {"id": "4150868000000002175", "api_name": "Leads"}, "page": 1}
    assert seen[0]["file_type"] == "csv"
    assert seen[3]["result"] == {
        "page": 1,
        "per_page": 200000,
        "count": 3,
        "download_url": f"/crm/bulk/v8/read/{job_id}/result",
        "more_records": False,
    }


def test_the_export_is_a_zip_with_one_csv_of_every_field_and_an_id_column(empty_sandbox):
    leads = add_leads(empty_sandbox, 2500, Lead_Source="Web Form", Interests=["Yoga", "Spin"], Email_Opt_Out=False)
    job_id = create_job(empty_sandbox, leads_query(fields=[])).json()["data"][0]["details"]["id"]
    complete(empty_sandbox, job_id)

    rows = download_rows(empty_sandbox, job_id)

    assert len(rows) == 2500
    header = list(rows[0])
    assert header[0] == "id"
    metadata = [meta["api_name"] for meta in demo_org(empty_sandbox).fields["Leads"]]
    assert set(metadata) - {"id"} <= set(header)  # empty `fields` means every field of the module
    assert [row["id"] for row in rows] == sorted(lead["id"] for lead in leads)
    first = rows[0]
    assert first["Owner"] == owner(empty_sandbox)["id"]  # lookups, Owner included, as ids
    assert first["Created_By"] == owner(empty_sandbox)["id"]
    assert first["Created_Time"] == leads[0]["Created_Time"]  # ISO 8601 with the org's offset
    assert first["Interests"] == "Yoga;Spin"
    assert first["Email_Opt_Out"] == "false"
    assert first["Last_Name"] == "Lead 0"
    assert first["Phone"] == ""


def test_requested_fields_dotted_lookups_and_criteria_narrow_the_export(empty_sandbox):
    store = module_store(empty_sandbox)
    who = owner(empty_sandbox)
    store.insert({"Last_Name": "Ada", "Lead_Source": "Web Form", "Annual_Revenue": 500}, by_user=who)
    store.insert({"Last_Name": "Bo", "Lead_Source": "Advertisement", "Annual_Revenue": 90_000}, by_user=who)
    store.insert({"Last_Name": "Cy", "Lead_Source": "Cold Call", "Annual_Revenue": 20_000}, by_user=who)
    criteria = {
        "group_operator": "or",
        "group": [
            {"api_name": "Lead_Source", "comparator": "equal", "value": "web form"},
            {"field": {"api_name": "Annual_Revenue"}, "comparator": "greater_than", "value": 50_000},
        ],
    }
    body = leads_query(fields=["Last_Name", "Owner", "Owner.last_name"], criteria=criteria)
    job_id = create_job(empty_sandbox, body).json()["data"][0]["details"]["id"]
    job = complete(empty_sandbox, job_id)
    assert job["query"]["fields"] == ["Last_Name", "Owner", "Owner.last_name"]
    assert job["query"]["criteria"] == criteria

    rows = download_rows(empty_sandbox, job_id)

    assert list(rows[0]) == ["id", "Last_Name", "Owner", "Owner.last_name"]
    last_name = demo_org(empty_sandbox).users[who["id"]]["last_name"]
    assert [(row["Last_Name"], row["Owner"], row["Owner.last_name"]) for row in rows] == [
        ("Ada", who["id"], last_name),
        ("Bo", who["id"], last_name),
    ]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"api_name": "Last_Name", "comparator": "starts_with", "value": "sm"}, ["Smith", "Smythe"]),
        ({"api_name": "Last_Name", "comparator": "ends_with", "value": "THE"}, ["Smythe"]),
        ({"api_name": "Last_Name", "comparator": "contains", "value": "on"}, ["Jones"]),
        ({"api_name": "Last_Name", "comparator": "not_equal", "value": "Jones"}, ["Smith", "Smythe"]),
        ({"api_name": "Last_Name", "comparator": "in", "value": ["Jones", "Smith"]}, ["Smith", "Jones"]),
        ({"api_name": "Annual_Revenue", "comparator": "between", "value": [10, 20]}, ["Smith", "Jones"]),
        ({"api_name": "Annual_Revenue", "comparator": "less_equal", "value": 10}, ["Smith"]),
        ({"api_name": "Annual_Revenue", "comparator": "greater_equal", "value": 20}, ["Jones", "Smythe"]),
        ({"api_name": "Created_Time", "comparator": "less_than", "value": "2026-11-22T10:30:00-05:00"}, ["Smith"]),
        ({"api_name": "Email", "comparator": "equal", "value": "${EMPTY}"}, ["Smythe"]),
    ],
)
def test_criteria_comparators_filter_like_zoho(empty_sandbox, criteria, expected):
    freeze(empty_sandbox, "2026-11-22T15:00:00+00:00")  # 10:00 in the org's -05:00
    store = module_store(empty_sandbox)
    store.insert({"Last_Name": "Smith", "Annual_Revenue": 10, "Email": "s@example.com"})
    empty_sandbox.state.clock.advance(3600)
    store.insert({"Last_Name": "Jones", "Annual_Revenue": 20, "Email": "j@example.com"})
    store.insert({"Last_Name": "Smythe", "Annual_Revenue": 30})
    job_id = create_job(empty_sandbox, leads_query(fields=["Last_Name"], criteria=criteria)).json()["data"][0]
    complete(empty_sandbox, job_id["details"]["id"])
    assert [row["Last_Name"] for row in download_rows(empty_sandbox, job_id["details"]["id"])] == expected


def test_an_export_holds_what_the_store_holds_when_the_job_completes(empty_sandbox):
    first, second = add_leads(empty_sandbox, 2)
    job_id = create_job(empty_sandbox, leads_query(fields=["Last_Name"])).json()["data"][0]["details"]["id"]
    store = module_store(empty_sandbox)
    store.update(second["id"], {"Last_Name": "Renamed"})
    store.delete(first["id"])
    third = store.insert({"Last_Name": "Late"})

    complete(empty_sandbox, job_id)
    store.insert({"Last_Name": "After completion"})

    rows = download_rows(empty_sandbox, job_id)
    assert [(row["id"], row["Last_Name"]) for row in rows] == [(second["id"], "Renamed"), (third["id"], "Late")]


def test_the_eleventh_download_within_a_minute_is_refused_with_429(empty_sandbox):
    freeze(empty_sandbox)
    add_leads(empty_sandbox, 1)
    headers = auth(empty_sandbox)
    job_id = create_job(empty_sandbox, leads_query(), headers=headers).json()["data"][0]["details"]["id"]
    complete(empty_sandbox, job_id)
    url = f"{empty_sandbox.url}{READ}/{job_id}/result"

    statuses = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(11)]

    assert statuses == [200] * 10 + [429]
    refused = requests.get(url, headers=headers, timeout=10)
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert refused.json()["status"] == "error"
    empty_sandbox.state.clock.advance(61)
    assert requests.get(url, headers=headers, timeout=10).status_code == 200


def test_the_callback_is_posted_with_the_job_details_when_the_job_completes(empty_sandbox, receiver):
    add_leads(empty_sandbox, 2)
    body = {**leads_query(), "callback": {"url": f"{receiver.url}/zoho/bulk-callback?org=42", "method": "post"}}
    job_id = create_job(empty_sandbox, body).json()["data"][0]["details"]["id"]

    complete(empty_sandbox, job_id)
    assert empty_sandbox.state.sender.drain()

    [callback] = receiver.at("/zoho/bulk-callback")
    assert callback.method == "POST"
    assert callback.query == {"org": ["42"]}
    assert not [name for name in callback.headers if "signature" in name.lower()]  # Zoho does not sign it
    job = callback.json()["data"][0]
    assert_matches_schema("bulk_read.json", "Response_Wrapper", callback.json())
    assert (job["id"], job["state"], job["result"]["count"]) == (job_id, "COMPLETED", 2)
    complete(empty_sandbox, job_id)  # completing again sends nothing more
    assert empty_sandbox.state.sender.drain()
    assert len(receiver.at("/zoho/bulk-callback")) == 1


def test_the_callback_arrives_without_polling_once_the_clock_has_moved(empty_sandbox, receiver):
    freeze(empty_sandbox)
    add_leads(empty_sandbox, 1)
    body = {**leads_query(), "callback": {"url": f"{receiver.url}/cb", "method": "post"}}
    create_job(empty_sandbox, body)

    requests.post(f"{empty_sandbox.url}/_sandbox/clock", json={"advance_seconds": 3}, timeout=5)

    callback = wait_until(lambda: receiver.at("/cb"))
    assert callback[0].json()["data"][0]["state"] == "COMPLETED"


def test_a_failed_job_reports_failure_posts_its_callback_and_offers_no_download(empty_sandbox, receiver):
    body = {**leads_query(), "callback": {"url": f"{receiver.url}/cb", "method": "post"}}
    job_id = create_job(empty_sandbox, body).json()["data"][0]["details"]["id"]

    failed = requests.post(f"{empty_sandbox.url}/_sandbox/zoho/bulk/{job_id}/fail", json={}, timeout=5)
    assert failed.status_code == 200

    assert status(empty_sandbox, job_id).json()["data"][0]["state"] == "FAILURE"
    download = requests.get(f"{empty_sandbox.url}{READ}/{job_id}/result", headers=auth(empty_sandbox), timeout=5)
    assert download.status_code == 400
    assert download.json()["code"] == "RESOURCE_NOT_FOUND"
    assert empty_sandbox.state.sender.drain()
    assert receiver.at("/cb")[0].json()["data"][0]["state"] == "FAILURE"
    again = requests.post(f"{empty_sandbox.url}/_sandbox/zoho/bulk/{job_id}/complete", timeout=5)
    assert again.json()["data"][0]["state"] == "FAILURE"


def test_an_unknown_job_is_404_resource_not_found(empty_sandbox):
    response = status(empty_sandbox, "4150868000099999999")
    assert response.status_code == 404
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"
    assert_matches_schema("bulk_read.json", "Resource_Not_Found", response.json())


def test_a_download_before_completion_is_refused(empty_sandbox):
    freeze(empty_sandbox)
    job_id = create_job(empty_sandbox, leads_query()).json()["data"][0]["details"]["id"]
    response = requests.get(f"{empty_sandbox.url}{READ}/{job_id}/result", headers=auth(empty_sandbox), timeout=5)
    assert response.status_code == 400
    assert response.json()["code"] == "RESOURCE_NOT_FOUND"


def test_the_v2_era_module_string_is_accepted(empty_sandbox):
    add_leads(empty_sandbox, 1)
    created = create_job(empty_sandbox, {"query": {"module": "Leads"}})
    assert created.status_code == 201
    job = complete(empty_sandbox, created.json()["data"][0]["details"]["id"])
    assert job["query"]["module"]["api_name"] == "Leads"
    assert job["result"]["count"] == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": {"module": {"api_name": "Nope"}}}, "MODULE_NOT_AVAILABLE"),
        ({"query": {}}, "MANDATORY_NOT_FOUND"),
        (leads_query(fields=["Not_A_Field"]), "FIELD_NOT_AVAILABLE"),
        (leads_query(criteria={"api_name": "Last_Name", "comparator": "like", "value": "x"}), None),
        (leads_query(criteria={"group_operator": "xor", "group": [{"api_name": "Last_Name"}]}), None),
        (leads_query(criteria={"api_name": "Nope", "comparator": "equal", "value": 1}), None),
        ({**leads_query(), "callback": {"url": "ftp://example.com", "method": "post"}}, "INVALID_CALLBACK_URL"),
        ({**leads_query(), "callback": {"url": "https://example.com", "method": "get"}}, "INVALID_CALLBACK_METHOD"),
        ({**leads_query(), "file_type": "ics"}, "NOT_SUPPORTED_FEATURE"),
        (leads_query(page=51), "PAGE_RANGE_EXCEEDED"),
        (leads_query(page_token="made-up"), "INVALID_DATA"),
    ],
)
def test_bad_requests_are_refused_in_zohos_shape(empty_sandbox, body, code):
    response = create_job(empty_sandbox, body)
    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"code", "details", "message", "status"}
    assert error["status"] == "error"
    if code is not None:
        assert error["code"] == code
    if error["code"] not in ("MANDATORY_NOT_FOUND", "INVALID_DATA"):  # Zoho's generic codes, not in this OAS
        assert_matches_schema("bulk_read.json", BAD_REQUEST_SCHEMAS, error)


def test_more_than_a_page_gives_more_records_and_a_next_page_token_that_continues(empty_sandbox):
    leads = add_leads(empty_sandbox, 2500)
    empty_sandbox.state.crm.bulk.per_page = 1000
    ids, token, pages = [], None, []
    while True:
        query = {"fields": ["Last_Name"], **({"page_token": token} if token else {})}
        job_id = create_job(empty_sandbox, leads_query(**query)).json()["data"][0]["details"]["id"]
        result = complete(empty_sandbox, job_id)["result"]
        pages.append((result["page"], result["count"], result["more_records"]))
        ids += [row["id"] for row in download_rows(empty_sandbox, job_id)]
        token = result.get("next_page_token")
        if not result["more_records"]:
            assert token is None
            break
    assert pages == [(1, 1000, True), (2, 1000, True), (3, 500, False)]
    assert ids == [lead["id"] for lead in leads]

    page_two = create_job(empty_sandbox, leads_query(fields=["Last_Name"], page=2)).json()["data"][0]["details"]
    assert complete(empty_sandbox, page_two["id"])["result"]["count"] == 1000
    assert [row["id"] for row in download_rows(empty_sandbox, page_two["id"])] == ids[1000:2000]


def test_events_export_as_ics_in_a_zip(empty_sandbox):
    org = demo_org(empty_sandbox)
    events = org.add_module("Events", [{"api_name": "Event_Title", "data_type": "text"}])
    start = empty_sandbox.state.clock.now()
    events.insert(
        {
            "Event_Title": "Intro class, Studio A",
            "Start_DateTime": events.now_text(start),
            "End_DateTime": events.now_text(start + timedelta(hours=1)),
        }
    )
    job_id = create_job(empty_sandbox, {"query": {"module": {"api_name": "Events"}}, "file_type": "ics"}).json()
    job_id = job_id["data"][0]["details"]["id"]
    assert complete(empty_sandbox, job_id)["file_type"] == "ics"

    response = requests.get(f"{empty_sandbox.url}{READ}/{job_id}/result", headers=auth(empty_sandbox), timeout=10)
    ics = zipfile.ZipFile(io.BytesIO(response.content)).read(f"{job_id}.ics").decode()
    assert ics.startswith("BEGIN:VCALENDAR")
    assert "SUMMARY:Intro class\\, Studio A" in ics


def test_a_token_without_the_bulk_scope_is_refused(empty_sandbox):
    accounts = empty_sandbox.state.accounts
    refresh = accounts.refresh_tokens["1000.demo.refresh-token"]
    narrow = accounts.add_refresh_token(
        "1000.narrow.refresh", refresh.client_id, refresh.org_id, refresh.user_id, ("ZohoCRM.modules.ALL",)
    )
    headers = {"Authorization": f"Zoho-oauthtoken {access_token(empty_sandbox, narrow.token)}"}
    response = create_job(empty_sandbox, leads_query(), headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_jobs_of_another_org_are_not_found(empty_sandbox):
    add_leads(empty_sandbox, 1)
    job_id = create_job(empty_sandbox, leads_query()).json()["data"][0]["details"]["id"]
    crm, accounts = empty_sandbox.state.crm, empty_sandbox.state.accounts
    other = crm.create_org(
        "20000001",
        "Other Gym",
        [{"id": "5550001000000000001", "first_name": "Olga", "last_name": "Other", "email": "o@other.test"}],
        prefix="5550001",
    )
    refresh = accounts.refresh_tokens["1000.demo.refresh-token"]
    theirs = accounts.add_refresh_token(
        "1000.other.refresh", refresh.client_id, other.org_id, other.admin_user_id, refresh.scopes
    )
    headers = {"Authorization": f"Zoho-oauthtoken {access_token(empty_sandbox, theirs.token)}"}
    assert status(empty_sandbox, job_id, headers).status_code == 404
