"""The Salesforce emulator's Bulk API 2.0 query jobs over HTTP: the state machine on the sandbox clock, CSV pages
by Sforce-Locator, 412 before completion, 409 on another version, compound fields refused, and the controls."""

from __future__ import annotations

import csv
import io

import pytest

from sandbox.server import SandboxServer
from tests.sandbox.salesforce.query_support import Org, errors, make_org


@pytest.fixture(scope="module")
def server():
    with SandboxServer(world="empty") as running:
        yield running


@pytest.fixture
def org(server) -> Org:
    server.state.clock.reset()
    server.state.clock.freeze()
    yield make_org(server)
    server.state.clock.reset()


def _create(org: Org, token: str, soql: str, **extra) -> dict:
    answer = org.request("POST", "jobs/query", token, json={"operation": "query", "query": soql, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_states_on_the_clock_then_pages_by_locator(org: Org) -> None:
    token = org.token()
    org.add("Lead", 25, LastName=lambda n: f"Bulk{n:02d}", Company='Say "hi", Inc.', IsConverted=lambda n: n == 0)
    job = _create(org, token, "SELECT Id, LastName, Company, IsConverted, Owner.Name FROM Lead ORDER BY LastName")
    assert job["state"] == "UploadComplete"
    assert job["id"].startswith("750")
    assert (job["object"], job["operation"], job["contentType"], job["apiVersion"]) == ("Lead", "query", "CSV", 66.0)
    assert (job["lineEnding"], job["columnDelimiter"]) == ("LF", "COMMA")

    results = f"jobs/query/{job['id']}/results"
    assert errors(org.get(results, token)) == (412, "JOB_NOT_COMPLETE")
    step = org.state.config.sf_bulk_seconds_per_state
    org.state.clock.advance(step)
    assert org.get(f"jobs/query/{job['id']}", token).json()["state"] == "InProgress"
    assert errors(org.get(results, token)) == (412, "JOB_NOT_COMPLETE")
    org.state.clock.advance(step)
    info = org.get(f"jobs/query/{job['id']}", token).json()
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 25

    first = org.get(results, token, params={"maxRecords": 10})
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/csv")
    assert first.headers["Sforce-NumberOfRecords"] == "10"
    assert first.text.startswith('"Id","LastName","Company","IsConverted","Owner.Name"\n')
    rows = _rows(first.text)
    assert rows[1][1:] == ["Bulk00", 'Say "hi", Inc.', "true", "User0 Tester"]
    assert rows[2][3] == "false"
    collected = rows[1:]
    locator = first.headers["Sforce-Locator"]
    while locator != "null":
        page = org.get(results, token, params={"maxRecords": 10, "locator": locator})
        collected += _rows(page.text)[1:]
        locator = page.headers["Sforce-Locator"]
    assert [row[1] for row in collected] == [f"Bulk{n:02d}" for n in range(25)]
    assert errors(org.get(results, token, params={"locator": "not-a-locator"}))[0] == 400


def test_query_all_jobs_include_deleted_rows(org: Org) -> None:
    token = org.token()
    kept, gone = org.add("Lead", 2, LastName="Q")
    org.org.delete_record("Lead", gone["Id"])
    job = _create(org, token, "SELECT Id, IsDeleted FROM Lead ORDER BY Id", operation="queryAll")
    org.request("POST", f"/_sandbox/salesforce/bulk/{job['id']}/finish", token)
    rows = _rows(org.get(f"jobs/query/{job['id']}/results", token).text)
    assert rows[1:] == [[kept["Id"], "false"], [gone["Id"], "true"]]


def test_refusals(org: Org) -> None:
    token = org.token()
    refused = org.request(
        "POST", "jobs/query", token, json={"operation": "query", "query": "SELECT Id, Address FROM Lead"}
    )
    assert refused.status_code == 400
    assert "Compound fields" in refused.json()[0]["message"]
    bad = org.request("POST", "jobs/query", token, json={"operation": "query", "query": "SELECT Nope FROM Lead"})
    assert errors(bad) == (400, "INVALID_FIELD")
    assert org.request("POST", "jobs/query", token, json={"operation": "insert", "query": "x"}).status_code == 400
    job = _create(org, token, "SELECT Id FROM Lead")
    other_version = org.get(f"{org.server.url}/services/data/v65.0/jobs/query/{job['id']}", token)
    assert other_version.status_code == 409
    assert org.get("jobs/query/750000000000000AAA", token).status_code == 404


def test_abort_delete_list_and_controls(org: Org) -> None:
    token = org.token()
    org.add("Lead", 3, LastName="C")
    aborted = _create(org, token, "SELECT Id FROM Lead")
    answer = org.request("PATCH", f"jobs/query/{aborted['id']}", token, json={"state": "Aborted"})
    assert answer.json()["state"] == "Aborted"
    org.state.clock.advance(10)
    assert org.get(f"jobs/query/{aborted['id']}", token).json()["state"] == "Aborted"
    assert org.request("PATCH", f"jobs/query/{aborted['id']}", token, json={"state": "Aborted"}).status_code == 400

    held = org.request("POST", f"/_sandbox/salesforce/orgs/{org.org.org_id}/bulk/hold", token, json={"hold": True})
    assert held.json()["hold"] is True
    waiting = _create(org, token, "SELECT Id FROM Lead")
    org.state.clock.advance(60)
    assert org.get(f"jobs/query/{waiting['id']}", token).json()["state"] == "UploadComplete"
    org.request("POST", f"/_sandbox/salesforce/orgs/{org.org.org_id}/bulk/hold", token, json={"hold": False})
    org.state.clock.advance(2 * org.state.config.sf_bulk_seconds_per_state)
    assert org.get(f"jobs/query/{waiting['id']}", token).json()["state"] == "JobComplete"

    failing = _create(org, token, "SELECT Id FROM Lead")
    failed = org.request("POST", f"/_sandbox/salesforce/bulk/{failing['id']}/fail", token, json={"message": "boom"})
    assert failed.json()["state"] == "Failed"
    info = org.get(f"jobs/query/{failing['id']}", token).json()
    assert (info["state"], info["errorMessage"]) == ("Failed", "boom")

    listed = org.get("jobs/query", token).json()
    assert listed["done"] is True
    assert {job["id"] for job in listed["records"]} >= {aborted["id"], waiting["id"], failing["id"]}

    assert org.request("DELETE", f"jobs/query/{waiting['id']}", token).status_code == 204
    assert org.get(f"jobs/query/{waiting['id']}", token).status_code == 404
    org.request("POST", f"/_sandbox/salesforce/bulk/{failing['id']}/expire", token)
    assert org.get(f"jobs/query/{failing['id']}", token).status_code == 404


def test_finished_jobs_are_forgotten_after_seven_days(org: Org) -> None:
    token = org.token()
    old = _create(org, token, "SELECT Id FROM Lead")
    org.request("POST", f"/_sandbox/salesforce/bulk/{old['id']}/finish", token)
    org.state.clock.advance(7 * 24 * 3600 + 60)
    token = org.token()  # the first session timed out meanwhile
    fresh = _create(org, token, "SELECT Id FROM Lead")
    assert org.get(f"jobs/query/{old['id']}", token).status_code == 404
    assert org.get(f"jobs/query/{fresh['id']}", token).status_code == 200
