"""The properties API, owners, and associations v4 with labels (docs/vendors/hubspot.md, Field metadata and
Reading changes)."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.hubspot.hs_support import error_body, ok

DEFINITION_KEYS = {
    "name",
    "label",
    "type",
    "fieldType",
    "groupName",
    "options",
    "hasUniqueValue",
    "hidden",
    "calculated",
    "hubspotDefined",
    "modificationMetadata",
    "formField",
    "displayOrder",
    "archived",
    "description",
}


@pytest.mark.parametrize("path", ["/crm/v3/properties/contacts", "/crm/properties/2026-03/0-1"])
def test_contact_properties_describe_types_options_and_read_only_ones(hub, path):
    results = {meta["name"]: meta for meta in ok(hub.api("GET", path))["results"]}
    assert DEFINITION_KEYS <= set(results["email"])
    assert (results["phone"]["type"], results["phone"]["fieldType"]) == ("string", "phonenumber")
    stage = results["lifecyclestage"]
    assert stage["type"] == "enumeration"
    assert "lead" in [option["value"] for option in stage["options"]]
    assert results["lastmodifieddate"]["modificationMetadata"]["readOnlyValue"] is True
    assert results["hs_object_id"]["type"] == "number"
    opt_out = results["leadline_sms_opt_out"]
    assert (opt_out["type"], opt_out["fieldType"], opt_out["hubspotDefined"]) == ("bool", "booleancheckbox", False)
    owners = [option["value"] for option in results["hubspot_owner_id"]["options"]]
    assert owners == ["500001", "500002", "500003"]


def test_create_a_property_and_refuse_it_twice(hub):
    spec = {
        "name": "favourite_class",
        "label": "Favourite class",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": "Yoga", "value": "yoga"}, {"label": "Spin", "value": "spin"}],
    }
    made = ok(hub.api("POST", "/crm/v3/properties/contacts", json=spec), 201)
    assert made["hubspotDefined"] is False
    assert made["modificationMetadata"]["archivable"] is True
    error_body(hub.api("POST", "/crm/properties/2026-03/contacts", json=spec), 409, "CONFLICT")
    assert ok(hub.api("GET", "/crm/v3/properties/contacts/favourite_class"))["options"][1]["value"] == "spin"
    contact = hub.create("contacts", {"favourite_class": "yoga"})
    assert contact["properties"]["favourite_class"] == "yoga"
    error_body(hub.api("POST", "/crm/v3/properties/contacts", json={"name": "x"}), 400, "VALIDATION_ERROR")
    error_body(hub.api("GET", "/crm/v3/properties/contacts/nope"), 404, "OBJECT_NOT_FOUND")
    assert hub.api("DELETE", "/crm/v3/properties/contacts/favourite_class").status_code == 204
    error_body(
        hub.api("PATCH", f"/crm/v3/objects/contacts/{contact['id']}", json={"properties": {"favourite_class": "spin"}}),
        400,
        "VALIDATION_ERROR",
    )
    error_body(hub.api("DELETE", "/crm/v3/properties/contacts/email"), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("base", ["/crm/v3/owners", "/crm/owners/2026-03"])
def test_owners_list_filter_page_and_lookup_by_user_id(hub, base):
    everyone = ok(hub.api("GET", f"{base}/"))["results"]
    assert [owner["id"] for owner in everyone] == ["500001", "500002", "500003"]
    assert set(everyone[0]) >= {"id", "email", "type", "firstName", "lastName", "userId", "createdAt", "archived"}
    page = ok(hub.api("GET", f"{base}/", params={"limit": 2}))
    assert len(page["results"]) == 2
    rest = ok(hub.api("GET", f"{base}/", params={"limit": 2, "after": page["paging"]["next"]["after"]}))
    assert [owner["id"] for owner in rest["results"]] == ["500003"]
    assert "paging" not in rest
    found = ok(hub.api("GET", f"{base}/", params={"email": "Owner.Two@hub.test"}))["results"]
    assert [owner["id"] for owner in found] == ["500002"]
    by_user = ok(hub.api("GET", f"{base}/700003", params={"idProperty": "userId"}))
    assert by_user["id"] == "500003"
    assert ok(hub.api("GET", f"{base}/500001"))["userId"] == 700001
    error_body(hub.api("GET", f"{base}/700003"), 404, "OBJECT_NOT_FOUND")


def test_association_labels_include_primary_for_contact_to_company(hub):
    labels = ok(hub.api("GET", "/crm/v4/associations/contacts/companies/labels"))["results"]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None} in labels
    assert {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"} in labels
    tasks = ok(hub.api("GET", "/crm/associations/2026-03/tasks/deals/labels"))["results"]
    assert tasks == [{"category": "HUBSPOT_DEFINED", "typeId": 216, "label": None}]


@pytest.mark.parametrize("base", ["/crm/v4/associations", "/crm/associations/2026-03"])
def test_batch_read_associations_pages_only_when_there_are_more(hub, base):
    ok(requests.patch(f"{hub.server.url}/_sandbox/config", json={"hs_associations_page_max": 2}, timeout=10))
    deal = hub.create("deals", {"dealname": "Annual"})
    contacts = [hub.create("contacts", {"email": f"c{n}@example.com"}) for n in range(3)]
    lonely = hub.create("deals", {"dealname": "Nobody"})
    for contact in contacts:
        ok(hub.api("PUT", f"/crm/v4/objects/deals/{deal['id']}/associations/default/contacts/{contact['id']}"))
    response = hub.api(
        "POST", f"{base}/deals/contacts/batch/read", json={"inputs": [{"id": deal["id"]}, {"id": lonely["id"]}]}
    )
    assert response.status_code == 207
    answer = response.json()
    first = answer["results"][0]
    assert first["from"] == {"id": deal["id"]}
    assert [item["toObjectId"] for item in first["to"]] == [int(contacts[0]["id"]), int(contacts[1]["id"])]
    assert first["to"][0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}]
    after = first["paging"]["next"]["after"]
    assert answer["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    more = ok(
        hub.api("POST", f"{base}/deals/contacts/batch/read", json={"inputs": [{"id": deal["id"], "after": after}]})
    )
    assert [item["toObjectId"] for item in more["results"][0]["to"]] == [int(contacts[2]["id"])]
    assert "paging" not in more["results"][0]
    back = ok(hub.api("POST", f"{base}/contacts/deals/batch/read", json={"inputs": [{"id": contacts[0]["id"]}]}))
    assert back["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 4


def test_associations_skip_archived_records_and_can_be_removed(hub):
    contact = hub.create("contacts", {"email": "x@example.com"})
    company = hub.create("companies", {"name": "Acme"})
    made = hub.api(
        "PUT",
        f"/crm/v4/objects/contacts/{contact['id']}/associations/companies/{company['id']}",
        json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert ok(made, 201)["labels"] == ["Primary"]
    listed = ok(hub.api("GET", f"/crm/v4/objects/contacts/{contact['id']}/associations/companies"))["results"]
    assert [kind["typeId"] for kind in listed[0]["associationTypes"]] == [1, 279]
    hub.api("DELETE", f"/crm/v3/objects/companies/{company['id']}")
    gone = hub.api(
        "POST", "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": contact["id"]}]}
    )
    assert gone.status_code == 207
    assert gone.json()["results"] == []
    error_body(
        hub.api("PUT", f"/crm/v4/objects/contacts/{contact['id']}/associations/default/companies/{company['id']}"),
        404,
        "OBJECT_NOT_FOUND",
    )
    error_body(hub.api("GET", "/crm/v4/associations/owners/contacts/labels"), 400, "VALIDATION_ERROR")


def test_a_new_primary_company_moves_associatedcompanyid_and_the_contacts_modified_time(hub):
    contact = hub.create("contacts", {"email": "p@example.com"})
    first = hub.create("companies", {"name": "First"})
    second = hub.create("companies", {"name": "Second"})
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    hub.server.state.clock.advance(2)
    ok(
        hub.api("PUT", f"/crm/v4/objects/contacts/{contact['id']}/associations/companies/{first['id']}", json=primary),
        201,
    )
    after_first = hub.raw("contacts", contact["id"])
    assert after_first["properties"]["associatedcompanyid"] == first["id"]
    assert after_first["updatedAt"] > contact["updatedAt"]
    ok(
        hub.api(
            "PUT",
            f"/crm/v4/objects/companies/{second['id']}/associations/contacts/{contact['id']}",
            json=[{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 2}],
        ),
        201,
    )
    assert hub.raw("contacts", contact["id"])["properties"]["associatedcompanyid"] == second["id"]
    linked = ok(hub.api("GET", f"/crm/v4/objects/contacts/{contact['id']}/associations/companies"))["results"]
    types = {item["toObjectId"]: [kind["typeId"] for kind in item["associationTypes"]] for item in linked}
    assert types == {int(first["id"]): [279], int(second["id"]): [1, 279]}


def test_gdpr_delete_removes_a_contact_for_good(hub):
    changes = []
    hub.server.state.hubspot.listeners.append(changes.append)
    contact = hub.create("contacts", {"email": "forget@example.com"})
    assert (
        hub.api(
            "POST",
            "/crm/v3/objects/contacts/gdpr-delete",
            json={"objectId": "forget@example.com", "idProperty": "email"},
        ).status_code
        == 204
    )
    error_body(hub.api("GET", f"/crm/v3/objects/contacts/{contact['id']}"), 404, "OBJECT_NOT_FOUND")
    assert ok(hub.api("GET", "/crm/v3/objects/contacts", params={"archived": "true"}))["results"] == []
    assert changes[-1].operation == "privacyDeletion"
    error_body(
        hub.api("POST", "/crm/objects/2026-03/contacts/gdpr-delete", json={"objectId": contact["id"]}),
        404,
        "OBJECT_NOT_FOUND",
    )
