"""Salesforce writes against the emulator: upserts by external id (created, updated, several matches), completed
activities by sObject Collections (upserted by Leadline_Message_Id__c: a retry logs nothing twice; created when the
org has no such field), a task for a lead's owner (WhoId), and a record's Lightning URL. Every write carries
`Sforce-Call-Options: client=leadline`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.salesforce import writes as writes_module
from crm.records import Activity

LEAD = "lead"


def test_an_upsert_by_external_id_creates_then_updates_the_same_record(sf, provider):
    record_id, created = provider.upsert(
        object=LEAD,
        external_id_field="Leadline_Id__c",
        values={"Leadline_Id__c": "intake-7", "LastName": "Upserted", "Company": "Summit"},
    )
    assert created
    again, created_again = provider.upsert(
        object=LEAD, external_id_field="Leadline_Id__c", values={"Leadline_Id__c": "intake-7", "Title": "Coach"}
    )
    assert (again, created_again) == (record_id, False)
    held = sf.read("Lead", record_id)
    assert (held["LastName"], held["Title"], held["Leadline_Id__c"]) == ("Upserted", "Coach", "intake-7")
    assert held["_last_client"] == "leadline"  # Sforce-Call-Options: our own write, told apart later


def test_an_upsert_matching_several_records_is_refused(sf, provider):
    sf.insert("Lead", [{"LastName": name, "Company": "Twice", "External_Ref__c": "ref-1"} for name in ("A", "B")])
    with pytest.raises(CrmRejected, match="several records match"):
        provider.upsert(
            object=LEAD, external_id_field="External_Ref__c", values={"External_Ref__c": "ref-1", "Title": "X"}
        )


def test_a_task_for_the_owner_names_the_lead_in_whoid(sf, provider):
    (lead_id,) = sf.seed("Lead", 1)
    owner = sf.users()[-1]["id"]
    task_id = provider.create_task(
        object=LEAD, record_id=lead_id, owner_id=owner, subject="Call the new lead", due_date=date(2026, 12, 8)
    )
    (task,) = sf.tasks_on(lead_id)
    assert task["Id"] == task_id
    assert (task["WhoId"], task["OwnerId"], task["Status"], task["ActivityDate"]) == (
        lead_id,
        owner,
        "Not Started",
        "2026-12-08",
    )
    assert not task.get("WhatId")
    with pytest.raises(CrmNotFound):
        provider.create_task(object=LEAD, record_id="not-an-id", owner_id=owner, subject="x")


def activities(lead_id: str, *keys: str) -> list[Activity]:
    return [
        Activity(
            key=key,
            object=LEAD,
            record_id=lead_id,
            subject=f"SMS to +14155550142 ({key})",
            description="Hi! Your first class is on us.",
            occurred_at=datetime(2026, 12, 7, 14, 3, tzinfo=UTC),
            activity_type="SMS",
        )
        for key in keys
    ]


def test_activities_upserted_by_message_id_are_logged_once_however_often_they_are_sent(sf, provider):
    (lead_id,) = sf.seed("Lead", 1)
    first = provider.log_activities(activities=activities(lead_id, "msg-1", "msg-2"))
    assert [result.ok for result in first] == [True, True]
    again = provider.log_activities(activities=activities(lead_id, "msg-1", "msg-2", "msg-3"))
    assert [result.activity_id for result in again[:2]] == [result.activity_id for result in first]
    tasks = sf.tasks_on(lead_id)
    assert sorted(task["Leadline_Message_Id__c"] for task in tasks) == ["msg-1", "msg-2", "msg-3"]
    assert {(task["Status"], task["Type"], task["ActivityDate"]) for task in tasks} == {
        ("Completed", "SMS", "2026-12-07")
    }


def test_without_the_message_id_field_activities_are_created_and_refusals_are_per_activity(sf, provider):
    sf.settings(drop_fields={"Task": [writes_module.ACTIVITY_KEY_FIELD]})  # an org that did not create it
    lead_id, gone = sf.seed("Lead", 2)
    sf.delete("Lead", gone)
    batch = [*activities(lead_id, "m-1"), *activities(gone, "m-2"), *activities("bad id", "m-3")]
    results = provider.log_activities(activities=batch)
    assert [result.key for result in results] == ["m-1", "m-2", "m-3"]
    assert results[0].ok
    assert results[0].activity_id
    assert isinstance(results[1].error, CrmRejected)
    assert isinstance(results[2].error, CrmRejected)
    assert [task["Subject"] for task in sf.tasks_on(lead_id)] == ["SMS to +14155550142 (m-1)"]


def test_the_record_url_is_its_lightning_page_on_the_instance(sf, provider):
    url = provider.record_url(object=LEAD, record_id="00Q5g00000ABCDEEA5")
    assert url == f"{sf.org['instance_url'].rstrip('/')}/lightning/r/Lead/00Q5g00000ABCDEEA5/view"
    assert provider.record_url(object=LEAD, record_id="x') or 1=1") == ""
