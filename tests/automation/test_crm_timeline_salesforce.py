"""Texts on a Salesforce record's timeline, against the sandbox's Salesforce emulator over HTTP: completed Tasks
with the organization's Task Type on the Lead and the Contact (WhoId), logged once, and an org whose daily
allocation is used up leaving them pending without counting a try."""

from __future__ import annotations

import pytest

from django.core.cache import cache

from automation.services.crm_timeline import crm_timeline_flush
from messaging.models import CrmTimelineEntry, Message, MessagingSettings
from messaging.services.crm_timeline import crm_timeline_queue
from tests.crm.harness_salesforce import SalesforceOrg, account_for, org_create
from tests.factories import OrganizationFactory, StudioFactory
from tests.messaging.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

Status = CrmTimelineEntry.Status


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def summit(empty_sandbox):
    organization = OrganizationFactory(slug="summit", name="Summit Fitness Co.")
    sf = SalesforceOrg(empty_sandbox, org_create(empty_sandbox))
    account = account_for(organization, empty_sandbox, sf.org)
    return organization, sf, account


def texts_with(organization, account, *, sobject: str, record_id: str, phone: str) -> list[Message]:
    studio = StudioFactory(organization=organization, name="Summit Downtown")
    contact = ContactFactory(
        organization=organization,
        phone=phone,
        name="Sam Summit",
        connection=account,
        crm_object=sobject,
        crm_record_id=record_id,
    )
    conversation = ConversationFactory(studio=studio, contact=contact)
    messages = [
        MessageFactory(conversation=conversation, body="Is the 6pm spin class full?"),
        MessageFactory(conversation=conversation, direction="outbound", body="Not yet, see you there!"),
    ]
    for message in messages:
        assert crm_timeline_queue(message=message) is not None
    return messages


def test_texts_become_completed_tasks_of_the_organizations_type_on_a_lead_and_a_contact(summit):
    organization, sf, account = summit
    MessagingSettings.unscoped_objects.create(organization=organization, crm_timeline_activity_type="SMS")
    (lead_id,) = sf.insert("Lead", [{"LastName": "Summit", "Company": "Summit", "MobilePhone": "+14155559601"}])
    (contact_id,) = sf.insert("Contact", [{"LastName": "Member", "MobilePhone": "+14155559602"}])
    texts_with(organization, account, sobject="lead", record_id=lead_id, phone="+14155559601")
    texts_with(organization, account, sobject="contact", record_id=contact_id, phone="+14155559602")
    result = crm_timeline_flush()
    assert (result.logged, result.failed, result.waiting) == (4, 0, 0), result.errors
    for record_id, phone in ((lead_id, "+14155559601"), (contact_id, "+14155559602")):
        tasks = sf.tasks_on(record_id)
        assert sorted(task["Subject"] for task in tasks) == [f"SMS from {phone}", f"SMS to {phone}"]
        assert {(task["Status"], task["Type"]) for task in tasks} == {("Completed", "SMS")}
        assert any(task["Description"].startswith("Is the 6pm spin class full?") for task in tasks)
    rows = CrmTimelineEntry.objects.for_organization(organization)
    assert {row.status for row in rows} == {Status.DONE}
    assert all(row.crm_activity_id.startswith("00T") for row in rows)
    assert crm_timeline_flush().settled == 0
    assert len(sf.tasks_on(lead_id)) == 2


def test_a_used_up_daily_allocation_leaves_the_texts_pending(summit):
    organization, sf, account = summit
    (lead_id,) = sf.insert("Lead", [{"LastName": "Late", "Company": "Summit", "MobilePhone": "+14155559603"}])
    texts_with(organization, account, sobject="lead", record_id=lead_id, phone="+14155559603")
    sf.settings(daily_api_requests=100, api_usage=100)
    result = crm_timeline_flush()
    assert (result.logged, result.waiting) == (0, 2)
    rows = list(CrmTimelineEntry.objects.for_organization(organization))
    assert {(row.status, row.attempts) for row in rows} == {(Status.PENDING, 0)}
    assert all("allowance" in row.last_error for row in rows)
    assert sf.tasks_on(lead_id) == []
