"""Texts on a Dataverse record's timeline against the emulator over real HTTP: completed tasks regarding the lead
(statecode 1, statuscode 5, when the text happened, its owner) in one $batch call, rows of the connection's custom
SMS activity table when it says so, a retry that logs nothing new (the same uuid5 row ids, create-only), a deleted
lead's text refused alone while the others land, and batches no larger than ACTIVITY_BATCH_SIZE."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.dynamics import activities as timeline
from crm.records import Activity, Capability
from crm.registry import provider_for
from tests.crm.harness_hubspot import control

pytestmark = pytest.mark.django_db

OTHER_CRMS_ID = "00Q5g00000abcdeEAA"  # a Salesforce lead id: no row id of Dataverse's


def lead_of(dv, **values) -> str:
    """A lead made by a person of the environment (not by Leadline); its id."""
    number = len(dv.rows("lead")) + 1
    return dv.create("lead", {"firstname": "Pat", "lastname": f"Lead {number}", "subject": "Trial class", **values})


MOMENT = datetime(2026, 12, 7, 15, 4, 5, tzinfo=UTC)


def texts(record_ids: list[str], *, object: str = "lead", **options) -> list[Activity]:
    return [
        Activity(
            key=f"msg-{number}",
            object=object,
            record_id=record_id,
            subject=f"SMS to +1415555{number:04d}",
            description=f"Text {number}: see you at 6",
            occurred_at=MOMENT + timedelta(minutes=number),
            **options,
        )
        for number, record_id in enumerate(record_ids)
    ]


class BatchSpy:
    """The client's $batch calls as sent (they still go to the emulator): how many, how many operations each."""

    def __init__(self, client, monkeypatch) -> None:
        self.sizes: list[int] = []
        self.original = client.batch

        def batch(operations, *args, **kwargs):
            operations = list(operations)
            self.sizes.append(len(operations))
            return self.original(operations, *args, **kwargs)

        monkeypatch.setattr(client, "batch", batch)


@pytest.fixture
def batches(provider, monkeypatch) -> BatchSpy:
    return BatchSpy(provider.client, monkeypatch)


def use_custom_table(connection, table: str = "lh_sms") -> None:
    connection.timeline_activity = "custom"
    connection.custom_activity_table = table
    connection.save(update_fields=["timeline_activity", "custom_activity_table"])


def test_texts_are_completed_tasks_regarding_the_lead_in_one_batch(dv, provider, batches):
    assert provider.supports(Capability.ACTIVITY_LOGGING)
    lead = lead_of(dv)
    owner = dv.users[1]["systemuserid"]
    activities = texts([lead, lead], owner_id=owner)
    logged = provider.log_activities(activities=activities)
    assert batches.sizes == [2]
    assert [item.key for item in logged] == ["msg-0", "msg-1"]
    assert all(item.ok and item.activity_id for item in logged), logged
    for item, activity in zip(logged, activities, strict=True):
        task = dv.row("task", item.activity_id)
        assert (task["subject"], task["description"]) == (activity.subject, activity.description)
        assert (task["statecode"], task["statuscode"]) == (1, 5)  # completed
        assert (task["regardingobjectid"], task["regardingobjectid@table"]) == (lead, "lead")
        assert task["actualend"] == activity.occurred_at
        assert task["ownerid"] == owner
    assert len(dv.rows("task")) == 2


def test_a_text_without_an_owner_is_the_application_users(dv, provider):
    (logged,) = provider.log_activities(activities=texts([lead_of(dv)]))
    assert dv.row("task", logged.activity_id)["ownerid"] == dv.application_user_id


def test_texts_go_to_the_custom_sms_activity_table_when_the_connection_says_so(dv, dv_connection, provider):
    use_custom_table(dv_connection)
    contact = dv.create("contact", {"firstname": "Robin", "lastname": "Hale"})
    (logged,) = provider.log_activities(activities=texts([contact], object="contact"))
    row = dv.row("lh_sms", logged.activity_id)
    assert row is not None
    assert (row["subject"], row["lh_leadlinemessageid"]) == ("SMS to +14155550000", "msg-0")
    assert (row["regardingobjectid"], row["regardingobjectid@table"]) == (contact, "contact")
    assert row["statecode"] == 1
    assert dv.rows("task") == []


def test_a_retry_logs_nothing_new(dv, dv_connection, provider):
    lead = lead_of(dv)
    first = provider.log_activities(activities=texts([lead, lead, lead]))
    again = provider.log_activities(activities=texts([lead, lead, lead]))
    assert [item.activity_id for item in again] == [item.activity_id for item in first]
    assert all(item.ok for item in again)
    assert len(dv.rows("task")) == 3
    use_custom_table(dv_connection)
    provider.log_activities(activities=texts([lead]))
    provider.log_activities(activities=texts([lead]))
    assert len(dv.rows("lh_sms")) == 1


def test_the_row_id_is_the_same_for_the_same_text_of_the_same_organization():
    assert timeline.activity_id(7, "msg-1") == timeline.activity_id(7, "msg-1")
    assert timeline.activity_id(7, "msg-1") != timeline.activity_id(8, "msg-1")
    assert timeline.activity_id(7, "msg-1") != timeline.activity_id(7, "msg-2")


def test_a_deleted_leads_text_is_refused_alone_and_the_others_land(dv, provider, batches):
    gone, kept = lead_of(dv), lead_of(dv)
    dv.delete("lead", gone)
    landed_before, refused, landed_after, other = provider.log_activities(
        activities=texts([kept, gone, kept, OTHER_CRMS_ID])
    )
    assert isinstance(refused.error, CrmRejected)
    assert refused.error.message
    assert not refused.activity_id
    assert isinstance(other.error, CrmNotFound)  # no Dataverse id: refused before the call
    assert landed_before.ok
    assert landed_after.ok
    held = {row["activityid"] for row in dv.rows("task")}
    assert held == {landed_before.activity_id, landed_after.activity_id}
    assert sum(batches.sizes) >= 3


def test_batches_stay_within_the_setting(dv, provider, batches, settings):
    settings.DYNAMICS_ACTIVITY_BATCH_SIZE = 10
    leads = [lead_of(dv) for _ in range(3)]
    activities = texts([leads[number % 3] for number in range(25)])
    logged = provider.log_activities(activities=activities)
    assert batches.sizes == [10, 10, 5]
    assert [item.key for item in logged] == [activity.key for activity in activities]
    assert all(item.ok for item in logged)
    assert len(dv.rows("task")) == 25


def test_the_same_text_twice_in_one_call_is_one_row(dv, provider):
    lead = lead_of(dv)
    (text,) = texts([lead])
    first, second = provider.log_activities(activities=[text, text])
    assert first == second
    assert first.ok
    assert len(dv.rows("task")) == 1


def test_a_batch_that_stops_at_its_first_failure_sends_the_rest_again(dv, provider, batches, monkeypatch):
    """Without odata.continue-on-error Dataverse ends a $batch at the first refusal; what it never ran is sent in
    the next call, so one deleted lead costs the others nothing."""
    original = batches.original
    monkeypatch.setattr(batches, "original", lambda operations: original(operations, continue_on_error=False))
    kept, gone = lead_of(dv), lead_of(dv)
    dv.delete("lead", gone)
    first, refused, second, third = provider.log_activities(activities=texts([kept, gone, kept, kept]))
    assert batches.sizes == [4, 2]  # the batch ran two operations; the two it never ran went again
    assert isinstance(refused.error, CrmNotFound)
    assert all(item.ok for item in (first, second, third))
    assert len(dv.regarding("task", kept)) == 3


def test_each_batch_is_one_request_for_service_protection(dv, provider, settings):
    settings.DYNAMICS_ACTIVITY_BATCH_SIZE = 10
    leads = [lead_of(dv) for _ in range(3)]
    provider.log_activities(activities=texts(leads[:1]))  # the tables' metadata, read once
    before = requests_counted(dv)
    provider.log_activities(activities=[replace(text, key=f"again-{text.key}") for text in texts(leads * 8)])
    assert requests_counted(dv) - before == 3  # 24 texts in three $batch calls, not 24 requests


def test_a_throttled_batch_waits_out_retry_after_and_logs_each_text_once(dv, dv_server, provider, sleeps, settings):
    settings.DYNAMICS_ACTIVITY_BATCH_SIZE = 5
    leads = [lead_of(dv) for _ in range(2)]
    provider.log_activities(activities=texts(leads[:1]))  # metadata first: the limit below is for the batches
    limit = {"dv_requests_per_window": 2, "dv_window_seconds": 10, "dv_retry_after_seconds": 3}
    control(dv_server, "PATCH", "config", limit)
    activities = [replace(text, key=f"burst-{text.key}") for text in texts(leads * 6)]
    logged = provider.log_activities(activities=activities)
    assert all(item.ok for item in logged), logged
    assert len(dv.rows("task")) == 13
    counters = limits_of(dv)
    assert counters["refused_requests"] >= 1, counters
    assert counters["sent_while_blocked"] == 0, counters  # no batch went before its Retry-After ended
    waits = list(sleeps.waits)
    for seconds in counters["retry_after"]:  # each Retry-After slept in full before the batch went again
        assert any(seconds <= wait <= seconds + 1 for wait in waits), (seconds, waits)


def limits_of(dv) -> dict:
    """Service protection's counters for Leadline's application user in the environment."""
    summary = control(dv.server, "GET", f"dynamics/environments/{dv.name}/limits")
    return summary.get(dv.application_user_id.lower()) or {}


def requests_counted(dv) -> int:
    return int(limits_of(dv)["window_requests"])


def test_after_the_first_the_metadata_is_not_read_again_by_another_worker(dv, dv_account, provider, sleeps):
    lead = lead_of(dv)
    provider.log_activities(activities=texts([lead]))
    another = provider_for(dv_account, sleep=sleeps)  # another worker's provider, the same environment
    (logged,) = another.log_activities(activities=[replace(texts([lead])[0], key="msg-later")])
    assert logged.ok
    assert another.client.calls == 1  # its $batch alone


def test_a_custom_table_the_environment_lacks_is_refused_by_name(dv, dv_connection, provider):
    use_custom_table(dv_connection, "new_textmessage")
    with pytest.raises(CrmRejected) as caught:
        provider.log_activities(activities=texts([lead_of(dv)]))
    assert "new_textmessage" in caught.value.message
    assert dv.rows("task") == []
