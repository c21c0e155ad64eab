"""What two-way sync needs of the HubSpot emulator (docs/vendors/hubspot.md, Writing): the unique `leadline_id`
property a portal has as our install guide asks, its unique-value rule, switchable property validation rules,
batch update and upsert refused whole on a bad value (multi-status only on batch create), `objectWriteTraceId`
echoed, archive answering 204 for any id, and the tally of records written through the API."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.hubspot.hs_support import error_body, new_hub, ok

V3 = "/crm/v3/objects"
DATED = "/crm/objects/2026-03"
KEY = "leadline_id"


def written(hub) -> int:
    counters = ok(requests.get(f"{hub.server.url}/_sandbox/counters", timeout=15))
    return int(counters.get(f"hubspot.records_written:{hub.portal_id}", 0))


@pytest.mark.parametrize("object_type", ["contacts", "companies", "deals"])
def test_a_portal_has_the_unique_leadline_id_property(hub, object_type):
    found = ok(hub.api("GET", f"/crm/v3/properties/{object_type}/{KEY}"))
    assert (found["type"], found["hasUniqueValue"], found["hubspotDefined"]) == ("string", True, False)


def test_a_portal_made_without_it_has_no_leadline_id(hs_server):
    bare = new_hub(hs_server, name="Bare", external_id_property=False)
    assert bare.api("GET", f"/crm/v3/properties/contacts/{KEY}").status_code == 404


def test_a_unique_value_another_record_holds_is_refused(hub):
    first = hub.create("contacts", {KEY: "ll-1", "lastname": "One"})
    second = hub.create("contacts", {KEY: "ll-2", "lastname": "Two"})
    body = error_body(
        hub.api("POST", f"{V3}/contacts", json={"properties": {KEY: "ll-1", "lastname": "Again"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert "already has that value" in body["message"]
    assert body["errors"][0]["context"] == {"propertyName": [KEY]}
    refused = hub.api("PATCH", f"{V3}/contacts/{second['id']}", json={"properties": {KEY: "ll-1"}})
    error_body(refused, 400, "VALIDATION_ERROR")
    ok(hub.api("PATCH", f"{V3}/contacts/{first['id']}", json={"properties": {KEY: "ll-1", "city": "Denver"}}))


def test_a_validation_rule_refuses_api_writes_setting_its_property_until_removed(hub):
    rule = {"object_type": "contacts", "property": "jobtitle", "message": "Job titles come from HR"}
    ok(hub.control("POST", "/validation-rules", json=rule))
    body = error_body(
        hub.api("POST", f"{V3}/contacts", json={"properties": {"jobtitle": "Coach", "lastname": "X"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert "Job titles come from HR" in body["message"]
    assert body["errors"][0]["context"] == {"propertyName": ["jobtitle"]}
    hub.create("contacts", {"lastname": "No title"})  # writes not setting it are fine
    person = ok(hub.control("POST", "/records/contacts", json={"properties": {"jobtitle": "Coach"}}), 201)
    assert person["properties"]["jobtitle"] == "Coach"  # people in HubSpot's UI are not the API
    ok(hub.control("DELETE", "/validation-rules", json={"object_type": "contacts"}))
    hub.create("contacts", {"jobtitle": "Coach", "lastname": "Titled"})


@pytest.mark.parametrize("family", [V3, DATED])
def test_batch_update_and_upsert_are_refused_whole_on_a_bad_value_even_with_trace_ids(hub, family):
    made = hub.create("contacts", {KEY: "ll-1", "lastname": "One"})
    update = [
        {"id": made["id"], "properties": {"city": "Denver"}, "objectWriteTraceId": "a"},
        {"id": made["id"] + "0", "properties": {"lifecyclestage": "nope"}, "objectWriteTraceId": "b"},
    ]
    error_body(hub.api("POST", f"{family}/contacts/batch/update", json={"inputs": update}), 400, "VALIDATION_ERROR")
    upsert = [
        {"id": "ll-1", "idProperty": KEY, "properties": {"city": "Denver"}, "objectWriteTraceId": "a"},
        {"id": "ll-2", "idProperty": KEY, "properties": {"lifecyclestage": "nope"}, "objectWriteTraceId": "b"},
    ]
    error_body(hub.api("POST", f"{family}/contacts/batch/upsert", json={"inputs": upsert}), 400, "VALIDATION_ERROR")
    assert "city" not in hub.raw("contacts", made["id"])["properties"]

    answer = ok(hub.api("POST", f"{family}/contacts/batch/upsert", json={"inputs": upsert[:1]}))
    assert [(r["id"], r["new"], r["objectWriteTraceId"]) for r in answer["results"]] == [(made["id"], False, "a")]
    answer = ok(hub.api("POST", f"{family}/contacts/batch/update", json={"inputs": update[:1]}))
    assert answer["results"][0]["objectWriteTraceId"] == "a"


def test_records_written_through_the_api_are_tallied(hub):
    made = hub.create("contacts", {KEY: "ll-1", "lastname": "One"})
    ok(hub.api("PATCH", f"{V3}/contacts/{made['id']}", json={"properties": {"city": "Denver"}}))
    upsert = [{"id": f"ll-{n}", "idProperty": KEY, "properties": {"lastname": str(n)}} for n in (1, 2, 3)]
    ok(hub.api("POST", f"{V3}/contacts/batch/upsert", json={"inputs": upsert}))
    assert written(hub) == 5
    hub.api("POST", f"{V3}/contacts", json={"properties": {"lifecyclestage": "nope"}})  # refused: none
    assert hub.api("DELETE", f"{V3}/contacts/999999").status_code == 204  # HubSpot's answer; nothing written
    ok(hub.control("POST", "/records/contacts", json={"properties": {"lastname": "Person"}}), 201)  # a person
    assert written(hub) == 5
    assert hub.api("DELETE", f"{V3}/contacts/{made['id']}").status_code == 204
    assert written(hub) == 6


def test_a_contact_email_another_contact_holds_refuses_the_batch(hub):
    hub.create("contacts", {"email": "ada@example.com", KEY: "ll-1"})
    upsert = [
        {"id": "ll-2", "idProperty": KEY, "properties": {"lastname": "Fine"}},
        {"id": "ll-3", "idProperty": KEY, "properties": {"email": "ADA@example.com"}},
    ]
    body = error_body(hub.api("POST", f"{V3}/contacts/batch/upsert", json={"inputs": upsert}), 409, "CONFLICT")
    assert "Contact already exists" in body["message"]
    ok(hub.api("POST", f"{V3}/contacts/batch/upsert", json={"inputs": upsert[:1]}))
