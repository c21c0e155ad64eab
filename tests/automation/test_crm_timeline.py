"""Texts on the CRM timeline, against the sandbox's Zoho CRM over HTTP: the welcome text and the lead's reply become
completed tasks on the lead; batches, refusals of one activity, an unavailable CRM, a used-up allowance and a
refused connection each end as the queue says."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from django.utils import timezone

from automation.services import crm_timeline
from automation.services.crm_timeline import crm_timeline_flush
from crm.errors import CrmQuotaExhausted
from crm.providers.zoho.provider import ZohoCrmProvider
from messaging.models import CrmTimelineEntry, MessagingSettings
from sandbox import worlds
from sync.models import CrmPhone
from tests.factories import OrganizationFactory
from tests.messaging.factories import ContactFactory, ConversationFactory, MessageFactory
from tests.messaging.test_mirror_use import mirror_lead

pytestmark = pytest.mark.django_db(transaction=True)

Status = CrmTimelineEntry.Status


def entries(world):
    return CrmTimelineEntry.objects.for_organization(world.organization).order_by("created_at", "pk")


def completed_on(world, record_id: str) -> list[dict]:
    return [
        task
        for task in world.tasks()
        if task.get("Status") == "Completed" and str((task.get("What_Id") or {}).get("id")) == str(record_id)
    ]


def welcomed_lead(world, **fields) -> dict:
    """A new lead that got its welcome text (the contact is linked to the lead)."""
    lead = world.lead_create(**fields)
    world.wait_for_events(1)
    return lead


def test_the_welcome_text_and_the_reply_become_completed_tasks_on_the_lead(automation_world):
    lead = welcomed_lead(automation_world, First_Name="Lena", Mobile="+14155559020")
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="YES please", sender="+14155559020")
    result = crm_timeline_flush()
    assert (result.logged, result.failed, result.skipped, result.waiting) == (2, 0, 0, 0)
    tasks = sorted(completed_on(automation_world, lead["id"]), key=lambda task: int(task["id"]))
    assert [task["Subject"] for task in tasks] == ["SMS to +14155559020", "SMS from +14155559020"]
    assert tasks[0]["Description"].startswith("Hi Lena, thanks for your interest in Downtown!")
    assert "Sent from +1" in tasks[0]["Description"]
    assert "by Leadline automation (Downtown)" in tasks[0]["Description"]
    assert tasks[1]["Description"].startswith("YES please\n\nReceived on ")
    rows = list(entries(automation_world))
    assert [row.status for row in rows] == [Status.DONE, Status.DONE]
    assert [row.crm_activity_id for row in rows] == [task["id"] for task in tasks]
    assert {(row.crm_object, row.crm_record_id) for row in rows} == {("lead", lead["id"])}
    assert crm_timeline_flush().settled == 0  # nothing twice


def test_subjects_follow_the_organizations_templates(automation_world):
    MessagingSettings.unscoped_objects.create(
        organization=automation_world.organization,
        crm_timeline_subject_sent="{studio_name} texted {contact_name|the lead}",
        crm_timeline_subject_received="Text from {contact_name} on {our_number}",
    )
    lead = welcomed_lead(automation_world, First_Name="Rita", Last_Name="Row", Mobile="+14155559021")
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="Hi", sender="+14155559021")
    crm_timeline_flush()
    subjects = sorted(task["Subject"] for task in completed_on(automation_world, lead["id"]))
    number = automation_world.downtown_number.number
    assert subjects == ["Downtown texted Rita Row", f"Text from Rita Row on {number}"]


def test_an_unlinked_phone_is_found_in_the_crm_and_an_unknown_one_is_skipped(automation_world):
    lead = automation_world.lead_create(
        First_Name="Una", Mobile="+14155559022", Owner={"id": worlds.DEMO_USERS[0]["id"]}
    )
    automation_world.wait_for_events(1)  # the manager owns it: no studio, no text, so no link to the contact
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="Hello?", sender="+14155559022")
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="Who is this", sender="+14155559023")
    result = crm_timeline_flush()
    assert (result.logged, result.skipped) == (1, 1)
    assert [task["Subject"] for task in completed_on(automation_world, lead["id"])] == ["SMS from +14155559022"]
    skipped = entries(automation_world).get(status=Status.SKIPPED)
    assert "no lead or contact in the CRM has +14155559023" in skipped.last_error


def test_batches_follow_the_providers_limit_and_a_deleted_lead_fails_alone(automation_world, monkeypatch):
    monkeypatch.setattr(ZohoCrmProvider, "max_activities_per_call", 2)
    kept = welcomed_lead(automation_world, Mobile="+14155559024")
    gone = automation_world.lead_create(Mobile="+14155559025")
    automation_world.wait_for_events(2)
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="one", sender="+14155559024")
    automation_world.control("DELETE", f"/_sandbox/zoho/Leads/{gone['id']}")
    inserts = []
    real = ZohoCrmProvider.log_activities

    def counted(self, *, activities):
        inserts.append(len(activities))
        return real(self, activities=activities)

    monkeypatch.setattr(ZohoCrmProvider, "log_activities", counted)
    result = crm_timeline_flush()
    assert inserts == [2, 1]
    assert (result.logged, result.failed) == (2, 1)
    failed = entries(automation_world).get(status=Status.FAILED)
    assert failed.crm_record_id == gone["id"]
    assert failed.last_error.startswith("the CRM refused the activity:")
    assert len(completed_on(automation_world, kept["id"])) == 2


def test_an_unavailable_crm_leaves_the_rows_pending_with_a_backoff(automation_world):
    welcomed_lead(automation_world, Mobile="+14155559026")
    automation_world.fault(path="^/crm/v8/Tasks$", method="POST", status=503, times=0)
    now = timezone.now()
    result = crm_timeline_flush(now=now)
    assert result.waiting == 1
    row = entries(automation_world).get()
    assert (row.status, row.attempts) == (Status.PENDING, 1)
    assert row.next_attempt_at > now
    assert "unavailable" in row.last_error
    assert crm_timeline_flush(now=now).settled == 0  # not due yet
    automation_world.clear_faults()
    assert crm_timeline_flush(now=row.next_attempt_at).logged == 1


def test_a_used_up_allowance_waits_without_counting_a_try(automation_world, monkeypatch):
    welcomed_lead(automation_world, Mobile="+14155559027")

    def exhausted(self, *, activities):
        raise CrmQuotaExhausted("the day's API credits are used up", provider="zoho", retry_after=7200)

    monkeypatch.setattr(ZohoCrmProvider, "log_activities", exhausted)
    now = timezone.now()
    assert crm_timeline_flush(now=now).waiting == 1
    row = entries(automation_world).get()
    assert (row.status, row.attempts) == (Status.PENDING, 0)
    assert row.next_attempt_at == now + timedelta(seconds=7200)
    assert "allowance" in row.last_error


def test_a_refused_connection_pauses_its_rows_until_it_is_connected_again(automation_world):
    welcomed_lead(automation_world, Mobile="+14155559028")
    automation_world.control("POST", "/oauth/v2/token/revoke", params={"token": worlds.DEMO_CRM_REFRESH_TOKEN})
    automation_world.control("POST", "/_sandbox/zoho/revoke-tokens", json={})
    now = timezone.now()
    assert crm_timeline_flush(now=now).waiting == 1
    row = entries(automation_world).get()
    assert row.status == Status.PENDING
    assert row.next_attempt_at == now + crm_timeline.AUTH_PAUSE
    assert "connected again" in row.last_error


def test_a_flush_claims_its_rows_so_another_does_not_log_them_too(automation_world):
    lead = welcomed_lead(automation_world, Mobile="+14155559029")
    claimed = crm_timeline._claim(limit=10, now=timezone.now())
    assert len(claimed) == 1
    assert crm_timeline_flush().settled == 0  # the lease holds them
    assert completed_on(automation_world, lead["id"]) == []


def test_rows_of_an_organization_without_a_crm_are_skipped(automation_world):
    other = OrganizationFactory(slug="no-crm")
    contact = ContactFactory(organization=other, phone="+14155559030")
    message = MessageFactory(conversation=ConversationFactory(contact=contact, studio=None, organization=other))
    CrmTimelineEntry.unscoped_objects.create(organization=other, message=message)
    result = crm_timeline_flush()
    assert result.skipped == 1
    row = CrmTimelineEntry.objects.for_organization(other).get()
    assert (row.status, row.last_error) == (Status.SKIPPED, "the organization has no CRM connection")


def test_a_mirrored_lead_is_found_without_asking_the_crm(automation_world):
    manager = {"id": worlds.DEMO_USERS[0]["id"]}
    lead = automation_world.lead_create(First_Name="Mia", Mobile="+14155559031", Owner=manager)
    automation_world.wait_for_events(1)  # no studio, no text: the contact is linked to nothing
    tenant = SimpleNamespace(organization=automation_world.organization, zoho=automation_world.zoho)
    record = mirror_lead(tenant, phone="+14155559031", owner_id=manager["id"])
    CrmPhone.unscoped_objects.filter(external_id=record.external_id).update(external_id=lead["id"])
    record.external_id = lead["id"]
    record.save(update_fields=["external_id"])
    automation_world.fault(path="/search$", status=503, times=0)  # a phone search would fail the flush
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="Hi there", sender="+14155559031")
    assert crm_timeline_flush().logged == 1
    assert [task["Subject"] for task in completed_on(automation_world, lead["id"])] == ["SMS from +14155559031"]


def test_beat_runs_the_flush_every_minute_on_the_crm_queue(automation_world, settings):
    from automation.tasks import crm_timeline_flush_task

    entry = settings.CELERY_BEAT_SCHEDULE["crm-timeline-flush"]
    assert (entry["task"], entry["schedule"]) == (crm_timeline_flush_task.name, 60.0)
    assert settings.CELERY_TASK_ROUTES["automation.*"] == {"queue": "crm"}
    welcomed_lead(automation_world, Mobile="+14155559032")
    assert crm_timeline_flush_task() == 1  # the task runs the flush and says how many rows it settled


def test_a_contact_linked_to_another_organizations_connection_is_never_logged_there(automation_world):
    other = OrganizationFactory(slug="other-org")
    contact = ContactFactory(
        organization=other, phone="+14155559033", connection=automation_world.zoho, crm_object="lead", crm_record_id="1"
    )
    message = MessageFactory(conversation=ConversationFactory(contact=contact, studio=None, organization=other))
    CrmTimelineEntry.unscoped_objects.create(organization=other, message=message)
    result = crm_timeline_flush()
    assert (result.skipped, result.logged) == (1, 0)
    row = CrmTimelineEntry.objects.for_organization(other).get()
    assert row.last_error == "the linked CRM connection is another organization's"


def test_a_providers_unexpected_error_backs_off_instead_of_stopping_the_flush(automation_world, monkeypatch):
    welcomed_lead(automation_world, Mobile="+14155559034")

    def broken(self, *, activities):
        raise KeyError("id")

    monkeypatch.setattr(ZohoCrmProvider, "log_activities", broken)
    now = timezone.now()
    assert crm_timeline_flush(now=now).waiting == 1
    row = entries(automation_world).get()
    assert (row.status, row.attempts) == (Status.PENDING, 1)
    assert row.next_attempt_at > now
    assert "unexpected error (KeyError)" in row.last_error


def test_texts_queued_before_the_timeline_was_turned_off_are_not_logged(automation_world):
    lead = welcomed_lead(automation_world, Mobile="+14155559035")
    MessagingSettings.unscoped_objects.create(organization=automation_world.organization, crm_timeline_enabled=False)
    assert crm_timeline_flush().skipped == 1
    assert entries(automation_world).get().last_error == "the organization turned the CRM timeline off"
    assert completed_on(automation_world, lead["id"]) == []
