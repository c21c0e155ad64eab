"""The objects API one record at a time, on both path families (docs/vendors/hubspot.md, Reading changes and
Writing)."""

from __future__ import annotations

import re

import pytest

from tests.sandbox.hubspot.hs_support import error_body, ok

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FAMILIES = ("/crm/v3/objects", "/crm/objects/2026-03", "/crm/objects/2025-09")


@pytest.mark.parametrize("family", FAMILIES)
def test_list_pages_every_record_once_with_after_cursors(hub, family):
    hub.seed("contacts", 57)
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 10, **({"after": after} if after else {})}
        body = ok(hub.api("GET", f"{family}/contacts", params=params))
        pages += 1
        seen += [record["id"] for record in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].startswith(f"{hub.base}{family}/contacts?")
        assert f"after={after}" in body["paging"]["next"]["link"]
    assert pages == 6
    assert len(seen) == len(set(seen)) == 57
    assert seen == sorted(seen, key=int)


def test_object_type_ids_and_singular_names_are_accepted(hub):
    hub.seed("contacts", 3)
    for name in ("contacts", "contact", "0-1"):
        assert len(ok(hub.api("GET", f"/crm/v3/objects/{name}"))["results"]) == 3
    error_body(hub.api("GET", "/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
    error_body(hub.api("GET", "/crm/objects/2019-03/contacts"), 404, "OBJECT_NOT_FOUND")


def test_default_and_chosen_properties(hub):
    hub.seed("contacts", 1)
    hub.seed("companies", 1)
    record = ok(hub.api("GET", "/crm/v3/objects/contacts"))["results"][0]
    assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert set(record["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert record["properties"]["hs_object_id"] == record["id"]
    assert record["properties"]["lastmodifieddate"] == record["updatedAt"]
    assert ISO_MS.match(record["updatedAt"])
    assert ISO_MS.match(record["createdAt"])
    company = ok(hub.api("GET", "/crm/v3/objects/companies"))["results"][0]
    assert "hs_lastmodifieddate" in company["properties"]
    assert "lastmodifieddate" not in company["properties"]
    chosen = ok(hub.api("GET", "/crm/v3/objects/contacts", params={"properties": "phone,fax,no_such_thing"}))
    assert set(chosen["results"][0]["properties"]) == {"phone", "fax"}
    assert chosen["results"][0]["properties"]["fax"] is None
    assert isinstance(chosen["results"][0]["properties"]["phone"], str)


def test_list_limit_is_capped(hub):
    error_body(hub.api("GET", "/crm/v3/objects/contacts", params={"limit": 101}), 400, "VALIDATION_ERROR")
    assert hub.api("GET", "/crm/v3/objects/contacts", params={"limit": 100}).status_code == 200


def test_create_read_update_clear_and_archive(hub):
    made = hub.create(
        "contacts",
        {
            "email": "Mai.Ng@Example.com",
            "firstname": "Mai",
            "phone": "(415) 555-0199",
            "leadline_sms_opt_out": True,
            "lifecyclestage": "lead",
        },
    )
    assert made["properties"]["leadline_sms_opt_out"] == "true"
    assert made["properties"]["hs_object_id"] == made["id"]
    got = ok(
        hub.api("GET", f"/crm/objects/2026-03/contacts/{made['id']}", params={"properties": "phone,lifecyclestage"})
    )
    assert got["properties"] == {"phone": "(415) 555-0199", "lifecyclestage": "lead"}
    by_email = ok(hub.api("GET", "/crm/v3/objects/contacts/mai.ng@example.com", params={"idProperty": "email"}))
    assert by_email["id"] == made["id"]
    hub.server.state.clock.advance(5)
    updated = ok(hub.api("PATCH", f"/crm/v3/objects/contacts/{made['id']}", json={"properties": {"phone": ""}}))
    assert "phone" not in updated["properties"]
    assert updated["updatedAt"] > made["updatedAt"]
    assert updated["properties"]["lastmodifieddate"] == updated["updatedAt"]
    assert hub.api("DELETE", f"/crm/v3/objects/contacts/{made['id']}").status_code == 204
    error_body(hub.api("GET", f"/crm/v3/objects/contacts/{made['id']}"), 404, "OBJECT_NOT_FOUND")
    archived = ok(hub.api("GET", "/crm/v3/objects/contacts", params={"archived": "true"}))["results"]
    assert [record["id"] for record in archived] == [made["id"]]
    assert archived[0]["archived"] is True
    assert ISO_MS.match(archived[0]["archivedAt"])
    assert ok(hub.api("GET", "/crm/v3/objects/contacts"))["results"] == []
    assert hub.api("DELETE", f"/crm/v3/objects/contacts/{made['id']}").status_code == 204  # again: still 204
    error_body(hub.api("PATCH", "/crm/v3/objects/contacts/999999", json={"properties": {}}), 404, "OBJECT_NOT_FOUND")


def test_writes_refuse_unknown_and_read_only_properties_and_bad_values(hub):
    body = error_body(
        hub.api("POST", "/crm/v3/objects/contacts", json={"properties": {"nope": "x", "hs_object_id": "5"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert body["message"].startswith("Property values were not valid: ")
    codes = {error["code"] for error in body["errors"]}
    assert codes == {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"}
    body = error_body(
        hub.api("POST", "/crm/v3/objects/contacts", json={"properties": {"lifecyclestage": "vip"}}),
        400,
        "VALIDATION_ERROR",
    )
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    error_body(
        hub.api("POST", "/crm/v3/objects/contacts", json={"properties": {"hubspot_owner_id": "123"}}),
        400,
        "VALIDATION_ERROR",
    )
    error_body(
        hub.api("POST", "/crm/v3/objects/tasks", json={"properties": {"hs_task_subject": "x"}}), 400, "VALIDATION_ERROR"
    )
    assert ok(hub.api("GET", "/crm/v3/objects/contacts"))["results"] == []


def test_a_second_contact_with_the_same_email_conflicts(hub):
    first = hub.create("contacts", {"email": "dup@example.com"})
    body = error_body(
        hub.api("POST", "/crm/v3/objects/contacts", json={"properties": {"email": "DUP@example.com"}}), 409, "CONFLICT"
    )
    assert body["message"] == f"Contact already exists. Existing ID: {first['id']}"


def test_values_are_stored_as_hubspot_text(hub):
    task = hub.create(
        "tasks",
        {
            "hs_timestamp": 1765111111123,
            "hs_task_subject": "Call back",
            "hs_task_status": "NOT_STARTED",
            "hubspot_owner_id": 500002,
        },
    )
    assert task["properties"]["hs_timestamp"] == "2025-12-07T12:38:31.123Z"
    assert task["properties"]["hubspot_owner_id"] == "500002"
    deal = hub.create("deals", {"dealname": "Annual", "amount": 1200.0, "closedate": "2026-12-24"})
    assert deal["properties"]["amount"] == "1200"
    assert deal["properties"]["closedate"] == "2026-12-24T00:00:00.000Z"


def test_create_with_associations_and_read_them_back(hub):
    contact = hub.create("contacts", {"email": "a@example.com"})
    company = hub.create("companies", {"name": "Acme"})
    task = hub.create(
        "tasks",
        {"hs_timestamp": "2026-12-08T09:00:00Z", "hs_task_subject": "Welcome call"},
        associations=[
            {
                "to": {"id": contact["id"]},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
            }
        ],
    )
    ok(hub.api("PUT", f"/crm/objects/2026-03/contacts/{contact['id']}/associations/default/companies/{company['id']}"))
    got = ok(hub.api("GET", f"/crm/v3/objects/contacts/{contact['id']}", params={"associations": "companies,tasks"}))
    assert got["associations"]["companies"]["results"] == [
        {"id": company["id"], "type": "contact_to_company_unlabeled"}
    ]
    assert got["associations"]["tasks"]["results"] == [{"id": task["id"], "type": "contact_to_task"}]
    bad = hub.api(
        "POST",
        "/crm/v3/objects/tasks",
        json={
            "properties": {"hs_timestamp": "2026-12-08T09:00:00Z"},
            "associations": [
                {
                    "to": {"id": "424242"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
                }
            ],
        },
    )
    error_body(bad, 400, "VALIDATION_ERROR")


def test_writes_are_announced_as_the_apps_and_control_edits_as_a_person(hub):
    changes = []
    hub.server.state.hubspot.listeners.append(changes.append)
    made = hub.create("contacts", {"email": "echo@example.com"})
    ok(
        hub.control(
            "PATCH", f"/records/contacts/{made['id']}", json={"properties": {"firstname": "Eve"}, "user_id": 700001}
        )
    )
    creation, edit = changes
    assert (creation.operation, creation.object_type_id, creation.object_id) == ("creation", "0-1", made["id"])
    assert creation.source.change_source == "INTEGRATION"
    assert creation.source.source_id == hub.app["app_id"]
    assert creation.properties == {"email": "echo@example.com"}
    assert (edit.operation, edit.properties) == ("propertyChange", {"firstname": "Eve"})
    assert (edit.source.change_source, edit.source.source_id) == ("CRM_UI", "700001")


def test_properties_with_history_name_who_wrote_each_value(hub):
    made = hub.create("contacts", {"email": "h@example.com", "firstname": "Ann"})
    hub.server.state.clock.advance(1)
    ok(
        hub.control(
            "PATCH", f"/records/contacts/{made['id']}", json={"properties": {"firstname": "Anne"}, "user_id": 700001}
        )
    )
    got = ok(
        hub.api("GET", f"/crm/v3/objects/contacts/{made['id']}", params={"propertiesWithHistory": "firstname,email"})
    )
    first = got["propertiesWithHistory"]["firstname"]
    assert [entry["value"] for entry in first] == ["Anne", "Ann"]
    assert [entry["sourceType"] for entry in first] == ["CRM_UI", "INTEGRATION"]
    assert first[1]["sourceId"] == hub.app["app_id"]
    assert first[0]["timestamp"] > first[1]["timestamp"]
    assert got["propertiesWithHistory"]["email"][0]["value"] == "h@example.com"
