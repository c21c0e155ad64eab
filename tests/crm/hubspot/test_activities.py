"""Texts on a HubSpot contact's timeline against the emulator over real HTTP: communications (SMS, logged from the
CRM, the subject and text in the body, the time, the owner) associated with the contact, batches of 100 in one
call each, a deleted contact's activity refused alone, notes and completed tasks when the connection says so, a
batch HubSpot refuses whole sent again one by one, and what stops a batch (auth, the daily limit, HubSpot down)
raised as crm.errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from crm.errors import CrmAuthError, CrmNotFound, CrmQuotaExhausted, CrmRejected, CrmUnavailable
from crm.providers.hubspot import activities as timeline
from crm.providers.hubspot import writes
from crm.records import Activity
from tests.crm.harness_hubspot import HubSpotPortal, control
from tests.crm.hubspot.test_writes import links, new_contact, owner_ids, timestamp_ms

pytestmark = pytest.mark.django_db

LEAD = "lead"


@pytest.fixture(autouse=True)
def _fresh_association_types():
    writes.forget_association_types()
    yield
    writes.forget_association_types()


MOMENT = datetime(2026, 12, 7, 15, 4, 5, tzinfo=UTC)


def texts(record_ids: list[str], **options) -> list[Activity]:
    return [
        Activity(
            key=f"msg-{number}",
            object=LEAD,
            record_id=record_id,
            subject=f"SMS to +1415555{number:04d}",
            description=f"Text {number}: see you at 6 & bring <water>",
            occurred_at=MOMENT + timedelta(minutes=number),
            **options,
        )
        for number, record_id in enumerate(record_ids)
    ]


def set_timeline(connection, kind: str) -> None:
    connection.timeline_activity = kind
    connection.save(update_fields=["timeline_activity"])


def test_texts_are_sms_communications_on_the_contact_in_one_call(hs: HubSpotPortal, hs_connection, provider):
    contact = new_contact(hs)
    activities = texts([contact, contact])
    timeline.activity_body(activities[0].subject)  # nothing asked of HubSpot for a body
    calls = provider.client.calls
    logged = provider.log_activities(activities=activities)
    assert provider.client.calls - calls == 3  # the timeline object's properties and association labels once,
    # then one batch/create
    assert [item.key for item in logged] == ["msg-0", "msg-1"]
    assert all(item.ok and item.activity_id for item in logged), logged
    assert logged[0].activity_id != logged[1].activity_id
    for item, activity in zip(logged, activities, strict=True):
        held = hs.read("communications", item.activity_id)
        values = held["properties"]
        assert (values["hs_communication_channel_type"], values["hs_communication_logged_from"]) == ("SMS", "CRM")
        assert timeline.activity_text(values["hs_communication_body"]) == (activity.subject, activity.description)
        assert "<water>" not in values["hs_communication_body"]  # the text is escaped in HubSpot's rich text
        assert timestamp_ms(values["hs_timestamp"]) == int(activity.occurred_at.timestamp() * 1000)
        assert values["hubspot_owner_id"] == hs_connection.owner_id  # the connection's owner
        assert held["associations"]["contacts"] == [{"id": contact, "type_ids": [81]}]
    assert len(links(hs, "contacts", contact, "communications")) == 2


def test_an_activity_names_its_own_owner(hs: HubSpotPortal, provider):
    contact = new_contact(hs)
    (logged,) = provider.log_activities(activities=texts([contact], owner_id=owner_ids(hs)[1]))
    assert hs.read("communications", logged.activity_id)["properties"]["hubspot_owner_id"] == owner_ids(hs)[1]


def test_an_activity_on_a_deleted_contact_is_refused_alone(hs: HubSpotPortal, provider):
    gone, kept = new_contact(hs), new_contact(hs)
    hs.archive("contacts", gone)
    refused, landed, other = provider.log_activities(activities=texts([gone, kept, "not-an-id"]))
    assert (refused.key, landed.key, other.key) == ("msg-0", "msg-1", "msg-2")
    assert isinstance(refused.error, CrmRejected)
    assert refused.error.message
    assert not refused.activity_id
    assert landed.ok
    assert landed.activity_id
    assert isinstance(other.error, CrmNotFound)  # refused before the call: no HubSpot id
    assert [link["id"] for link in links(hs, "contacts", kept, "communications")] == [landed.activity_id]
    assert len(hs.ids("communications")) == 1


def test_a_batch_refused_whole_is_sent_again_one_by_one(hs: HubSpotPortal, provider, monkeypatch):
    monkeypatch.setattr(timeline, "TRACE", "leadlineTrace")  # HubSpot sees no trace ids: no multi-status
    gone, kept = new_contact(hs), new_contact(hs)
    hs.archive("contacts", gone)
    refused, landed = provider.log_activities(activities=texts([gone, kept]))
    assert isinstance(refused.error, CrmRejected)
    assert landed.ok
    assert [link["id"] for link in links(hs, "contacts", kept, "communications")] == [landed.activity_id]


def test_more_than_a_batch_takes_one_call_per_hundred(hs: HubSpotPortal, provider):
    contacts = [new_contact(hs) for _ in range(3)]
    activities = texts([contacts[number % 3] for number in range(150)])
    provider.log_activities(activities=activities[:1])  # the labels read
    calls = provider.client.calls
    logged = provider.log_activities(activities=activities)
    assert provider.client.calls - calls == 2
    assert [item.key for item in logged] == [activity.key for activity in activities]
    assert all(item.ok for item in logged)
    assert len({item.activity_id for item in logged}) == 150
    assert len(hs.ids("communications")) == 151


def test_notes_when_the_connection_says_note(hs: HubSpotPortal, hs_connection, provider):
    set_timeline(hs_connection, "note")
    contact = new_contact(hs)
    (logged,) = provider.log_activities(activities=texts([contact]))
    held = hs.read("notes", logged.activity_id)
    assert timeline.activity_text(held["properties"]["hs_note_body"]) == (
        "SMS to +14155550000",
        "Text 0: see you at 6 & bring <water>",
    )
    assert held["associations"]["contacts"] == [{"id": contact, "type_ids": [202]}]
    assert hs.ids("communications") == []


def test_completed_tasks_when_the_connection_says_task(hs: HubSpotPortal, hs_connection, provider):
    set_timeline(hs_connection, "task")
    contact = new_contact(hs)
    (logged,) = provider.log_activities(activities=texts([contact]))
    held = hs.read("tasks", logged.activity_id)
    values = held["properties"]
    assert (values["hs_task_subject"], values["hs_task_body"], values["hs_task_status"]) == (
        "SMS to +14155550000",
        "Text 0: see you at 6 & bring <water>",
        "COMPLETED",
    )
    assert held["associations"]["contacts"] == [{"id": contact, "type_ids": [204]}]


def test_the_body_reads_back_and_a_foreign_body_is_all_subject():
    body = timeline.activity_body("SMS from +14155550100", "line one\nline <two>")
    assert timeline.activity_text(body) == ("SMS from +14155550100", "line one\nline <two>")
    assert timeline.activity_text(timeline.activity_body("only a subject")) == ("only a subject", "")
    assert timeline.activity_text("typed in HubSpot") == ("typed in HubSpot", "")


def test_the_daily_limit_stops_the_batch(hs: HubSpotPortal, provider):
    contact = new_contact(hs)
    provider.log_activities(activities=texts([contact]))  # token and labels
    hs.call("PATCH", "", {"requests_per_day": 1})
    with pytest.raises(CrmQuotaExhausted):
        provider.log_activities(activities=texts([contact, contact]))


def test_a_revoked_install_stops_the_batch(hs: HubSpotPortal, hs_install, provider, empty_sandbox):
    contact = new_contact(hs)
    control(empty_sandbox, "POST", "hubspot/tokens/revoke", {"refresh_token": hs_install["refresh_token"]})
    with pytest.raises(CrmAuthError):
        provider.log_activities(activities=texts([contact]))


def test_hubspot_down_stops_the_batch(hs: HubSpotPortal, provider, empty_sandbox):
    contact = new_contact(hs)
    provider.log_activities(activities=texts([contact]))
    control(empty_sandbox, "POST", "faults", {"path": "/hubspot/crm/.*batch/create", "status": 503, "times": 0})
    with pytest.raises(CrmUnavailable) as caught:
        provider.log_activities(activities=texts([contact]))
    assert caught.value.retryable


# --- upserts by the activity's key ------------------------------------------------------------------------------
def key_property(hs: HubSpotPortal, provider, object_type: str = "communications") -> None:
    """The install guide's optional key property, made by the portal's admin (a private app with schema scopes)."""
    family = "contacts" if object_type == "contacts" else object_type
    token = hs.call("POST", "/private-token", {"scopes": [f"crm.schemas.{family}.write"]})["token"]
    response = requests.post(
        provider.client.base_url + provider.client.paths.properties(object_type),
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": timeline.KEY_PROPERTY,
            "label": "Leadline message id",
            "type": "string",
            "fieldType": "text",
            "groupName": f"{object_type[:-1]}information",
            "hasUniqueValue": True,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_with_the_key_property_a_retried_batch_logs_nothing_twice(hs: HubSpotPortal, provider):
    key_property(hs, provider)
    contact = new_contact(hs)
    activities = texts([contact, contact])
    first = provider.log_activities(activities=activities)
    assert all(item.ok for item in first), first
    calls = provider.client.calls
    again = provider.log_activities(activities=activities)
    assert provider.client.calls - calls == 2  # one batch/upsert, one associations batch/create
    assert [item.activity_id for item in again] == [item.activity_id for item in first]
    assert sorted(hs.ids("communications")) == sorted(item.activity_id for item in first)
    for item, activity in zip(first, activities, strict=True):
        held = hs.read("communications", item.activity_id)
        assert held["properties"][timeline.KEY_PROPERTY] == activity.key
        assert timeline.activity_text(held["properties"]["hs_communication_body"])[0] == activity.subject
        assert held["associations"]["contacts"] == [{"id": contact, "type_ids": [81]}]
    assert len(links(hs, "contacts", contact, "communications")) == 2


def test_with_the_key_property_a_deleted_contacts_text_is_refused_alone_and_leaves_nothing(hs: HubSpotPortal, provider):
    key_property(hs, provider)
    gone, kept = new_contact(hs), new_contact(hs)
    hs.archive("contacts", gone)
    refused, landed = provider.log_activities(activities=texts([gone, kept]))
    assert isinstance(refused.error, CrmRejected)
    assert not refused.activity_id
    assert landed.ok
    assert hs.ids("communications") == [landed.activity_id]  # the refused one's engagement archived
    assert [link["id"] for link in links(hs, "contacts", kept, "communications")] == [landed.activity_id]


def test_with_the_key_property_notes_are_upserted_too(hs: HubSpotPortal, hs_connection, provider):
    set_timeline(hs_connection, "note")
    key_property(hs, provider, "notes")
    contact = new_contact(hs)
    (first,) = provider.log_activities(activities=texts([contact]))
    (again,) = provider.log_activities(activities=texts([contact]))
    assert again.activity_id == first.activity_id
    assert hs.ids("notes") == [first.activity_id]


@pytest.mark.parametrize("version", ["v3", "2025-09"])
def test_writes_and_texts_on_the_other_path_families(hs: HubSpotPortal, provider, settings, version):
    settings.HUBSPOT_API_VERSION = version
    contact = new_contact(hs)
    task_id = provider.create_task(object=LEAD, record_id=contact, owner_id="", subject="Call")
    provider.update_fields(object=LEAD, record_id=contact, values={"jobtitle": "Coach"})
    (logged,) = provider.log_activities(activities=texts([contact]))
    assert provider.client.paths.legacy == (version == "v3")
    assert hs.read("tasks", task_id)["associations"]["contacts"] == [{"id": contact, "type_ids": [204]}]
    assert hs.read("contacts", contact)["properties"]["jobtitle"] == "Coach"
    assert [link["id"] for link in links(hs, "contacts", contact, "communications")] == [logged.activity_id]
