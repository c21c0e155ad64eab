"""HubSpot writes against the emulator over real HTTP: tasks (hs_timestamp at the organization's day start, NOT_STARTED,
the connection's owner when none is named, associated with a contact or a deal by the type the labels endpoint
names, read once per process), field updates as HubSpot's property text ("" clears, a refused property named),
record creates, and upserts by a unique-value property (another refused before any write). Every vendor error
leaves as a crm.errors type.

Fixtures from conftest.py: `hs` (the portal's control API), `hs_connection` (its owner is the installing user's),
`provider`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.hubspot import writes
from crm.providers.hubspot.errors import HubSpotMissingScopes
from tests.crm.harness_hubspot import HubSpotPortal
from tests.factories import StudioFactory

pytestmark = pytest.mark.django_db

LEAD = "lead"
OPT_OUT = "leadline_sms_opt_out"


@pytest.fixture(autouse=True)
def _fresh_association_types():
    """The association type ids are cached per process: each test reads them afresh (and counts the call)."""
    writes.forget_association_types()
    yield
    writes.forget_association_types()


def new_contact(hs: HubSpotPortal, **properties: str) -> str:
    return str(hs.create("contacts", {"firstname": "Ada", "lastname": "Lovelace", **properties})["id"])


def links(hs: HubSpotPortal, object_type: str, record_id: str, to_type: str) -> list[dict[str, Any]]:
    """A record's associations of one type as the emulator holds them: [{id, type_ids}]."""
    return (hs.read(object_type, record_id).get("associations") or {}).get(to_type) or []


def owner_ids(hs: HubSpotPortal) -> list[str]:
    return [str(owner["id"]) for owner in hs.owners()]


def timestamp_ms(value: str) -> int:
    """hs_timestamp as the emulator holds it (ISO) or as sent (ms) in epoch milliseconds."""
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


# --- tasks -----------------------------------------------------------------------------------------------------
def test_a_task_on_a_contact_is_due_at_the_organizations_day_start_and_associated(hs, provider, organization):
    StudioFactory(organization=organization, time_zone="America/Denver")
    contact = new_contact(hs)
    owner = owner_ids(hs)[1]
    task_id = provider.create_task(
        object=LEAD,
        record_id=contact,
        owner_id=owner,
        subject="Call the new lead",
        due_date=date(2026, 12, 8),
        description="Booked a trial class",
    )
    task = hs.read("tasks", task_id)
    held = task["properties"]
    assert (held["hs_task_subject"], held["hs_task_body"], held["hs_task_status"]) == (
        "Call the new lead",
        "Booked a trial class",
        "NOT_STARTED",
    )
    assert held["hubspot_owner_id"] == owner
    assert held["hs_task_priority"]
    due = datetime(2026, 12, 8, tzinfo=ZoneInfo("America/Denver"))
    assert timestamp_ms(held["hs_timestamp"]) == int(due.timestamp() * 1000)
    assert task["associations"]["contacts"] == [{"id": contact, "type_ids": [204]}]
    assert [link["id"] for link in links(hs, "contacts", contact, "tasks")] == [task_id]


def test_without_studios_a_task_is_due_at_the_day_start_in_the_portal_time_zone_setting(hs, provider, settings):
    settings.HUBSPOT_PORTAL_TIME_ZONE = "Europe/Berlin"
    task_id = provider.create_task(object=LEAD, record_id="", owner_id="", subject="x", due_date=date(2026, 12, 8))
    due = datetime(2026, 12, 8, tzinfo=ZoneInfo("Europe/Berlin"))
    assert timestamp_ms(hs.read("tasks", task_id)["properties"]["hs_timestamp"]) == int(due.timestamp() * 1000)


def test_a_task_without_an_owner_is_the_connections_and_without_a_date_due_now(hs, hs_connection, provider):
    contact = new_contact(hs)
    before = datetime.now(UTC).timestamp() * 1000
    task_id = provider.create_task(object="contact", record_id=contact, owner_id="", subject="Follow up")
    held = hs.read("tasks", task_id)["properties"]
    assert held["hubspot_owner_id"] == hs_connection.owner_id
    assert before - 60_000 <= timestamp_ms(held["hs_timestamp"]) <= datetime.now(UTC).timestamp() * 1000 + 60_000


def test_a_task_on_a_deal_uses_the_task_to_deal_type(hs, hs_connection, provider):
    deal = str(hs.create("deals", {"dealname": "Annual"})["id"])
    task_id = provider.create_task(
        object="deal", record_id=deal, owner_id=hs_connection.owner_id, subject="Renewal call"
    )
    assert hs.read("tasks", task_id)["associations"]["deals"] == [{"id": deal, "type_ids": [216]}]


def test_a_task_on_no_record_has_no_association(hs, provider):
    task_id = provider.create_task(object=LEAD, record_id="", owner_id="", subject="A reply no lead matched")
    task = hs.read("tasks", task_id)
    assert task["associations"] == {}
    assert task["properties"]["hs_task_subject"] == "A reply no lead matched"


def test_association_types_are_read_from_the_labels_endpoint_once_per_process(hs, provider):
    first, second = new_contact(hs), new_contact(hs)
    calls = provider.client.calls
    provider.create_task(object=LEAD, record_id=first, owner_id="", subject="one")
    assert provider.client.calls - calls == 2  # the labels, then the task
    assert writes._type_ids[("tasks", "contacts")] == 204
    calls = provider.client.calls
    provider.create_task(object=LEAD, record_id=second, owner_id="", subject="two")
    assert provider.client.calls - calls == 1


def test_labels_naming_no_type_fall_back_to_the_known_ids(provider, monkeypatch):
    monkeypatch.setattr(type(provider.client), "association_labels", lambda self, a, b: [])
    assert writes.association_type_id(provider, "tasks", "deals") == 216
    monkeypatch.setattr(
        type(provider.client),
        "association_labels",
        lambda self, a, b: [
            {"category": "USER_DEFINED", "typeId": 7, "label": "Coach"},
            {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"},
            {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None},
        ],
    )
    assert writes.association_type_id(provider, "tasks", "companies") == 279  # the unlabeled one


def test_a_refused_labels_read_falls_back_to_the_known_id_and_asks_again_later(provider, monkeypatch):
    def refused(self, from_type, to_type):
        raise HubSpotMissingScopes("This app hasn't been granted all required scopes", status=403)

    monkeypatch.setattr(type(provider.client), "association_labels", refused)
    assert writes.association_type_id(provider, "tasks", "contacts") == 204
    assert ("tasks", "contacts") not in writes._type_ids
    with pytest.raises(HubSpotMissingScopes):
        writes.association_type_id(provider, "tasks", "leads")  # no known id to fall back on


def test_a_task_on_a_record_id_that_is_no_hubspot_id_is_not_found_without_a_call(provider):
    calls = provider.client.calls
    with pytest.raises(CrmNotFound):
        provider.create_task(object=LEAD, record_id="00Q000000000001", owner_id="", subject="x")
    assert provider.client.calls == calls


def test_a_task_on_a_deleted_contact_is_rejected(hs, provider):
    contact = new_contact(hs)
    hs.archive("contacts", contact)
    with pytest.raises(CrmRejected) as caught:
        provider.create_task(object=LEAD, record_id=contact, owner_id="", subject="x")
    assert caught.value.provider == "hubspot"


# --- field updates and creates ---------------------------------------------------------------------------------
def test_fields_are_written_as_hubspot_text_and_an_empty_value_clears(hs, provider):
    contact = new_contact(hs, jobtitle="Coach")
    provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: True, "jobtitle": "", "lastname": "Byron"})
    held = hs.read("contacts", contact)["properties"]
    assert (held[OPT_OUT], held["lastname"]) == ("true", "Byron")
    assert not held.get("jobtitle")
    provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: False})
    assert hs.read("contacts", contact)["properties"][OPT_OUT] == "false"
    assert provider.record(object=LEAD, record_id=contact).get(OPT_OUT) is False


def test_property_text_is_what_hubspot_takes():
    moment = datetime(2026, 12, 8, 17, 30, tzinfo=UTC)
    values = {"a": True, "b": False, "c": date(2026, 12, 8), "d": moment, "e": None, "f": 3, "g": ""}
    assert writes.properties_text(values) == {
        "a": "true",
        "b": "false",
        "c": "2026-12-08",
        "d": str(int(moment.timestamp() * 1000)),
        "e": "",
        "f": "3",
        "g": "",
    }


def test_a_value_hubspot_refuses_is_rejected_naming_its_property(hs, provider):
    contact = new_contact(hs)
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object=LEAD, record_id=contact, values={OPT_OUT: "not a boolean"})
    assert not isinstance(caught.value, CrmNotFound)
    assert OPT_OUT in caught.value.field_errors
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object=LEAD, record_id=contact, values={"no_such_property": "x"})
    assert "no_such_property" in caught.value.field_errors
    assert caught.value.message


def test_an_update_of_a_missing_record_is_not_found(hs, provider):
    contact = new_contact(hs)
    hs.archive("contacts", contact)
    with pytest.raises(CrmNotFound):
        provider.update_fields(object=LEAD, record_id=contact, values={"lastname": "Gone"})
    with pytest.raises(CrmNotFound):
        provider.update_fields(object=LEAD, record_id="not-an-id", values={"lastname": "Gone"})


def test_creating_a_contact_returns_an_id_hubspot_knows(hs, provider):
    record_id = provider.create_record(object=LEAD, values={"lastname": "Created", OPT_OUT: False, "phone": None})
    held = hs.read("contacts", record_id)["properties"]
    assert (held["lastname"], held[OPT_OUT]) == ("Created", "false")
    assert not held.get("phone")


# --- upserts ---------------------------------------------------------------------------------------------------
def unique_property(provider, name: str = "intake_id") -> str:
    """A unique-value contact property made through the properties API (the portal already has leadline_id)."""
    provider.client.post(
        provider.client.paths.properties("contacts"),
        json={
            "name": name,
            "label": "Leadline id",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        },
        expect=(201,),
    )
    return name


def test_an_upsert_by_a_unique_property_creates_then_updates_the_same_record(hs, provider):
    field = unique_property(provider)
    record_id, created = provider.upsert(
        object=LEAD, external_id_field=field, values={field: "intake-7", "lastname": "Upserted"}
    )
    assert created
    again, created_again = provider.upsert(
        object=LEAD, external_id_field=field, values={field: "intake-7", "jobtitle": "Coach"}
    )
    assert (again, created_again) == (record_id, False)
    held = hs.read("contacts", record_id)["properties"]
    assert (held["lastname"], held["jobtitle"], held[field]) == ("Upserted", "Coach", "intake-7")


def test_contacts_upsert_by_email(hs, provider):
    record_id, created = provider.upsert(
        object=LEAD, external_id_field="email", values={"email": "ada@example.com", "lastname": "Lovelace"}
    )
    assert created
    assert provider.upsert(object=LEAD, external_id_field="email", values={"email": "ADA@example.com"}) == (
        record_id,
        False,
    )


def test_an_upsert_by_a_property_without_unique_values_is_refused_before_any_write(hs, provider):
    provider._properties("contacts")  # the definitions read (and cached) first
    calls = provider.client.calls
    with pytest.raises(CrmRejected, match="not a unique-value property") as caught:
        provider.upsert(object=LEAD, external_id_field="jobtitle", values={"jobtitle": "Coach", "lastname": "X"})
    assert "jobtitle" in caught.value.field_errors
    assert provider.client.calls == calls
    assert hs.ids("contacts") == []
    with pytest.raises(CrmRejected, match="no property"):
        provider.upsert(object=LEAD, external_id_field="nothing_like_it", values={"nothing_like_it": "1"})
    with pytest.raises(CrmRejected, match="needs a value"):
        provider.upsert(object=LEAD, external_id_field="email", values={"lastname": "X"})
