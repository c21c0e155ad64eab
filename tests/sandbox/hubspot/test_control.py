"""The HubSpot emulator's control API: fast realistic seeding, one-timestamp batches, people's edits at a chosen
moment, merges, and the demo portal."""

from __future__ import annotations

import re
import time

import requests

from tests.sandbox.hubspot.hs_support import ok

E164ISH = re.compile(r"^[\d\s()+.\-]{10,}$")


def test_twelve_thousand_contacts_seed_in_seconds_with_one_modified_time(hub):
    started = time.monotonic()
    made = hub.seed("contacts", 12_000, same_modified="2026-11-30T23:59:59.123Z")
    assert time.monotonic() - started < 5
    assert made["count"] == 12_000
    page = ok(hub.api("GET", "/crm/v3/objects/contacts", params={"limit": 100, "properties": "lastmodifieddate"}))
    assert {record["updatedAt"] for record in page["results"]} == {"2026-11-30T23:59:59.123Z"}
    store = hub.server.state.hubspot.portal(hub.portal_id).stores["contacts"]
    assert len({key[0] for key in store.modified_index}) == 1


def test_seeded_contacts_look_like_a_gyms_crm(hub):
    hub.seed("companies", 5)
    hub.seed("contacts", 300, with_companies=True)
    records = ok(hub.control("GET", "/records/contacts", params={"limit": 300}))["results"]
    props = [record["properties"] for record in records]
    assert all(E164ISH.match(values["phone"]) for values in props)
    assert len({values["phone"][:2] for values in props}) > 3  # formats as people type them
    stages = {values.get("lifecyclestage") for values in props}
    assert {"lead", "customer", None} <= stages
    assert {values["hubspot_owner_id"] for values in props} == {"500001", "500002", "500003"}
    assert any(values.get("leadline_sms_opt_out") == "true" for values in props)
    assert any(record["associations"].get("companies") for record in records)
    assert len({values["email"] for values in props}) == 300


def test_stamp_gives_many_records_one_time_and_announces_nothing_unless_asked(hub):
    hub.seed("contacts", 50)
    changes = []
    hub.server.state.hubspot.listeners.append(changes.append)
    answer = ok(
        hub.control("POST", "/stamp", json={"object_type": "contacts", "at": "2026-11-30T12:00:00Z", "count": 40})
    )
    assert answer == {"stamped": 40, "at": "2026-11-30T12:00:00.000Z"}
    records = ok(hub.control("GET", "/records/contacts"))["results"]
    assert sum(record["updatedAt"] == "2026-11-30T12:00:00.000Z" for record in records) == 40
    assert all(record["properties"]["lastmodifieddate"] == record["updatedAt"] for record in records)
    assert changes == []


def test_people_edit_records_at_a_frozen_moment_as_crm_ui_changes(hub):
    hub.seed("contacts", 20)
    changes = []
    hub.server.state.hubspot.listeners.append(changes.append)
    answer = ok(
        hub.control(
            "POST",
            "/edit",
            json={"object_type": "contacts", "count": 5, "at": "2026-12-01T08:00:00.5Z", "user_id": 700002},
        )
    )
    assert answer["edited"] == 5
    for record_id in answer["ids"]:
        assert hub.raw("contacts", record_id)["updatedAt"] == "2026-12-01T08:00:00.500Z"
    assert {change.source.change_source for change in changes} == {"CRM_UI"}
    assert {change.operation for change in changes} == {"propertyChange"}
    made = ok(hub.control("POST", "/records/contacts", json={"properties": {"email": "ui@example.com"}}), 201)
    assert changes[-1].operation == "creation"
    assert changes[-1].object_id == made["id"]


def test_merge_archives_the_secondary_and_moves_its_associations(hub):
    primary = hub.create("contacts", {"email": "p@example.com"})
    secondary = hub.create("contacts", {"email": "s@example.com", "phone": "415-555-0101"})
    company = hub.create("companies", {"name": "Acme"})
    ok(
        hub.control(
            "POST",
            "/associations",
            json={"from_type": "contacts", "from_id": secondary["id"], "to_type": "companies", "to_id": company["id"]},
        ),
        201,
    )
    changes = []
    hub.server.state.hubspot.listeners.append(changes.append)
    merged = ok(hub.control("POST", "/merge", json={"primary_id": primary["id"], "secondary_id": secondary["id"]}))
    assert merged["properties"]["phone"] == "415-555-0101"
    assert merged["properties"]["hs_merged_object_ids"] == secondary["id"]
    assert [item["id"] for item in merged["associations"]["companies"]] == [company["id"]]
    archived = ok(hub.api("GET", "/crm/v3/objects/contacts", params={"archived": "true"}))["results"]
    assert [record["id"] for record in archived] == [secondary["id"]]
    assert changes[-1].operation == "merge"
    assert changes[-1].merged_ids == [secondary["id"]]
    restored = ok(hub.control("POST", "/restore", json={"object_type": "contacts", "id": secondary["id"]}))
    assert restored["id"] == secondary["id"]
    assert hub.api("GET", f"/crm/v3/objects/contacts/{secondary['id']}").status_code == 200


def test_control_refusals(hub):
    assert hub.control("GET", "/records/widgets").status_code == 400
    assert hub.control("GET", "/records/contacts/424242").status_code == 404
    assert hub.control("POST", "/records/contacts", json={"properties": {"nope": 1}}).status_code == 400
    assert requests.get(f"{hub.server.url}/_sandbox/hubspot/portals/1", timeout=10).status_code == 404


def test_the_demo_portal(sandbox):
    from sandbox import worlds

    portal = sandbox.state.hubspot.portal(worlds.DEMO_HS_PORTAL_ID)
    assert portal.name == worlds.DEMO_HS_PORTAL_NAME
    assert len(portal.stores["contacts"]) == worlds.DEMO_HS_CONTACTS
    assert len(portal.stores["companies"]) == worlds.DEMO_HS_COMPANIES
    assert len(portal.stores["deals"]) == worlds.DEMO_HS_DEALS
    assert "leadline_sms_opt_out" in portal.properties["contacts"]
    assert [owner["id"] for owner in portal.owners] == [owner["id"] for owner in worlds.DEMO_HS_OWNERS]


def test_the_record_page_shows_the_timeline(hub):
    contact = hub.create("contacts", {"firstname": "Mai", "lastname": "Ng", "email": "mai@example.com"})
    hub.api(
        "POST",
        "/crm/v3/objects/communications",
        json={
            "properties": {
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "CRM",
                "hs_communication_body": "Welcome to Peak!",
                "hs_timestamp": "2026-12-07T10:00:00Z",
            },
            "associations": [
                {
                    "to": {"id": contact["id"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}],
                }
            ],
        },
    )
    page = requests.get(f"{hub.base}/contacts/{hub.portal_id}/record/0-1/{contact['id']}", timeout=10)
    assert page.status_code == 200
    assert "Mai Ng" in page.text
    assert "Welcome to Peak!" in page.text
    assert requests.get(f"{hub.base}/contacts/{hub.portal_id}/record/0-1/424242", timeout=10).status_code == 404
