"""Batch read, create, update, upsert and archive: per-item errors, 207 Multi-Status, unique idProperty
(docs/vendors/hubspot.md, Writing)."""

from __future__ import annotations

import pytest

from tests.sandbox.hubspot.hs_support import error_body, ok

V3 = "/crm/v3/objects"
DATED = "/crm/objects/2026-03"


@pytest.mark.parametrize("family", [V3, DATED])
def test_batch_read_reports_missing_ids_as_one_error(hub, family):
    first = hub.create("contacts", {"email": "one@example.com", "phone": "415 555 0100"})
    second = hub.create("contacts", {"email": "two@example.com"})
    body = {"inputs": [{"id": first["id"]}, {"id": "999999"}, {"id": second["id"]}], "properties": ["phone", "email"]}
    response = hub.api("POST", f"{family}/contacts/batch/read", json=body)
    assert response.status_code == 207
    answer = response.json()
    assert answer["status"] == "COMPLETE"
    assert [record["id"] for record in answer["results"]] == [first["id"], second["id"]]
    assert answer["results"][1]["properties"] == {"phone": None, "email": "two@example.com"}
    assert answer["numErrors"] == 1
    assert answer["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert answer["errors"][0]["context"] == {"ids": ["999999"]}
    by_email = ok(
        hub.api(
            "POST",
            f"{family}/contacts/batch/read",
            json={"inputs": [{"id": "two@example.com"}], "idProperty": "email", "properties": []},
        )
    )
    assert by_email["results"][0]["id"] == second["id"]
    assert "startedAt" in by_email
    assert "completedAt" in by_email


def test_batch_read_of_archived_records(hub):
    made = hub.create("contacts", {"email": "gone@example.com"})
    assert hub.api("POST", f"{V3}/contacts/batch/archive", json={"inputs": [{"id": made["id"]}]}).status_code == 204
    answer = ok(
        hub.api(
            "POST",
            f"{V3}/contacts/batch/read",
            params={"archived": "true"},
            json={"inputs": [{"id": made["id"]}], "properties": ["email"]},
        )
    )
    assert answer["results"][0]["archived"] is True
    assert answer["results"][0]["properties"]["email"] == "gone@example.com"


def test_batch_create_fails_whole_without_trace_ids_and_per_item_with_them(hub):
    inputs = [{"properties": {"email": "ok@example.com"}}, {"properties": {"nope": "x"}}]
    error_body(hub.api("POST", f"{V3}/contacts/batch/create", json={"inputs": inputs}), 400, "VALIDATION_ERROR")
    assert ok(hub.api("GET", f"{V3}/contacts"))["results"] == []
    traced = [dict(item, objectWriteTraceId=f"t{n}") for n, item in enumerate(inputs)]
    response = hub.api("POST", f"{V3}/contacts/batch/create", json={"inputs": traced})
    assert response.status_code == 207
    answer = response.json()
    assert [record["properties"]["email"] for record in answer["results"]] == ["ok@example.com"]
    assert answer["errors"][0]["category"] == "VALIDATION_ERROR"
    assert answer["errors"][0]["context"] == {"objectWriteTraceId": ["t1"]}
    assert answer["errors"][0]["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


def test_batch_create_of_communications_associated_with_contacts(hub):
    contact = hub.create("contacts", {"email": "sms@example.com"})
    inputs = [
        {
            "properties": {
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "CRM",
                "hs_communication_body": f"Hi {n}",
                "hs_timestamp": "2026-12-07T10:00:00Z",
            },
            "associations": [
                {
                    "to": {"id": contact["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}],
                }
            ],
        }
        for n in range(3)
    ]
    answer = ok(hub.api("POST", f"{DATED}/communications/batch/create", json={"inputs": inputs}), 201)
    assert len(answer["results"]) == 3
    linked = hub.raw("contacts", contact["id"])["associations"]["communications"]
    assert sorted(item["id"] for item in linked) == sorted(record["id"] for record in answer["results"])
    assert all(item["type_ids"] == [82] for item in linked)


def test_batch_update_by_id_and_by_unique_property(hub):
    first = hub.create("contacts", {"email": "u1@example.com"})
    response = hub.api(
        "POST",
        f"{V3}/contacts/batch/update",
        json={
            "inputs": [
                {"id": first["id"], "properties": {"firstname": "Una"}},
                {"id": "999999", "properties": {"firstname": "Nobody"}},
            ]
        },
    )
    assert response.status_code == 207
    answer = response.json()
    assert answer["results"][0]["properties"]["firstname"] == "Una"
    assert answer["errors"][0]["context"] == {"ids": ["999999"]}
    answer = ok(
        hub.api(
            "POST",
            f"{V3}/contacts/batch/update",
            json={"inputs": [{"id": "u1@example.com", "idProperty": "email", "properties": {"firstname": ""}}]},
        )
    )
    assert "firstname" not in answer["results"][0]["properties"]
    duplicate = {"inputs": [{"id": first["id"], "properties": {}}, {"id": first["id"], "properties": {}}]}
    error_body(hub.api("POST", f"{V3}/contacts/batch/update", json=duplicate), 400, "VALIDATION_ERROR")
    bad = {"inputs": [{"id": first["id"], "properties": {"createdate": "2020-01-01"}}]}
    error_body(hub.api("POST", f"{V3}/contacts/batch/update", json=bad), 400, "VALIDATION_ERROR")


def test_batch_upsert_needs_a_unique_property_and_says_what_was_new(hub):
    ok(
        hub.api(
            "POST",
            "/crm/v3/properties/contacts",
            json={
                "name": "member_key",
                "label": "Member key",
                "type": "string",
                "fieldType": "text",
                "groupName": "contactinformation",
                "hasUniqueValue": True,
            },
        ),
        201,
    )
    existing = hub.create("contacts", {"email": "old@example.com", "member_key": "M-1"})
    inputs = [
        {"id": "M-1", "idProperty": "member_key", "properties": {"firstname": "Olga"}},
        {"id": "M-2", "idProperty": "member_key", "properties": {"firstname": "Nina"}},
    ]
    answer = ok(hub.api("POST", f"{DATED}/contacts/batch/upsert", json={"inputs": inputs}))
    by_key = {record["properties"]["member_key"]: record for record in answer["results"]}
    assert by_key["M-1"]["id"] == existing["id"]
    assert by_key["M-1"]["new"] is False
    assert by_key["M-2"]["new"] is True
    assert by_key["M-2"]["properties"]["firstname"] == "Nina"
    by_email = ok(
        hub.api(
            "POST",
            f"{V3}/contacts/batch/upsert",
            json={"inputs": [{"id": "old@example.com", "idProperty": "email", "properties": {"lastname": "Ode"}}]},
        )
    )
    assert by_email["results"][0]["id"] == existing["id"]
    refused = {"inputs": [{"id": "Olga", "idProperty": "firstname", "properties": {}}]}
    error_body(hub.api("POST", f"{V3}/contacts/batch/upsert", json=refused), 400, "VALIDATION_ERROR")


def test_batches_are_capped(hub):
    inputs = [{"id": str(n)} for n in range(101)]
    error_body(hub.api("POST", f"{V3}/contacts/batch/read", json={"inputs": inputs}), 400, "VALIDATION_ERROR")
    error_body(hub.api("POST", f"{V3}/contacts/batch/read", json={"nope": 1}), 400, "VALIDATION_ERROR")
    error_body(hub.api("POST", f"{V3}/contacts/batch/read", data="not json"), 400, "VALIDATION_ERROR")


def test_concurrent_writers_and_readers_see_no_errors(hub):
    from concurrent.futures import ThreadPoolExecutor

    import requests

    requests.patch(f"{hub.server.url}/_sandbox/config", json={"hs_requests_per_10s": 100_000}, timeout=10)

    def work(worker: int) -> list[int]:
        statuses = []
        for n in range(15):
            inputs = [
                {"id": f"w{worker}-{n}-{k}@example.com", "idProperty": "email", "properties": {"firstname": "W"}}
                for k in range(5)
            ]
            statuses.append(hub.api("POST", f"{V3}/contacts/batch/upsert", json={"inputs": inputs}).status_code)
            statuses.append(hub.api("GET", f"{V3}/contacts", params={"limit": 100}).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [status for statuses in pool.map(work, range(6)) for status in statuses]
    assert set(results) == {200}
    assert len(hub.server.state.hubspot.portal(hub.portal_id).stores["contacts"]) == 6 * 15 * 5
