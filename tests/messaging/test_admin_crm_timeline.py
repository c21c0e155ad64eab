"""The admin of texts on the CRM timeline: a manager sees their organization's entries only, as records (nothing
edited), and sets the timeline's settings (on/off, subjects checked, activity type) on their own settings row."""

from __future__ import annotations

import pytest

from django.urls import reverse

from messaging.models import CrmTimelineEntry, MessagingSettings
from tests.messaging.factories import MessageFactory, MessagingSettingsFactory

pytestmark = pytest.mark.django_db

PAGE = "messaging_crmtimelineentry"


def url(page: str, view: str, *args) -> str:
    return reverse(f"admin:{page}_{view}", args=args)


def entry_of(tenant, *, record_id: str, error: str = "") -> CrmTimelineEntry:
    message = MessageFactory(studio=tenant.studio, body=f"{tenant.organization.slug} text")
    return CrmTimelineEntry.unscoped_objects.create(
        organization=tenant.organization,
        message=message,
        status=CrmTimelineEntry.Status.FAILED if error else CrmTimelineEntry.Status.DONE,
        crm_object="lead",
        crm_record_id=record_id,
        last_error=error,
    )


@pytest.fixture
def entries(tenant_a, tenant_b):
    return {
        "ours": entry_of(tenant_a, record_id="4150868000000700001", error="the CRM refused the activity: gone"),
        "theirs": entry_of(tenant_b, record_id="4150868000000700999", error="bolt's secret refusal"),
    }


def test_a_manager_lists_and_opens_only_their_organizations_entries(client, tenant_a, entries):
    client.force_login(tenant_a.manager.user)
    response = client.get(url(PAGE, "changelist"))
    assert response.status_code == 200
    assert {row.pk for row in response.context["cl"].result_list} == {entries["ours"].pk}
    content = response.content.decode()
    assert "the CRM refused the activity: gone" in content
    assert "bolt's secret refusal" not in content
    assert "4150868000000700999" not in content
    assert client.get(url(PAGE, "change", entries["theirs"].pk)).status_code == 302  # "perhaps it was deleted"


def test_entries_are_records_nobody_edits(client, tenant_a, entries):
    client.force_login(tenant_a.manager.user)
    entry = entries["ours"]
    assert client.get(url(PAGE, "add")).status_code == 403
    assert 'name="status"' not in client.get(url(PAGE, "change", entry.pk)).content.decode()  # read-only fields
    client.post(url(PAGE, "change", entry.pk), {"status": "pending", "crm_record_id": "edited"})
    entry.refresh_from_db()
    assert (entry.status, entry.crm_record_id) == (CrmTimelineEntry.Status.FAILED, "4150868000000700001")
    assert client.post(url(PAGE, "delete", entry.pk), {"post": "yes"}).status_code == 403


def test_try_again_puts_the_managers_own_failed_entries_back_in_the_queue(client, tenant_a, entries):
    client.force_login(tenant_a.manager.user)
    ours, theirs = entries["ours"], entries["theirs"]
    response = client.post(
        url(PAGE, "changelist"), {"action": "try_again", "_selected_action": [ours.pk, theirs.pk]}, follow=True
    )
    assert "1 will be logged on the next flush" in response.content.decode()
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.status, ours.attempts, ours.last_error, ours.next_attempt_at) == ("pending", 0, "", None)
    assert theirs.status == CrmTimelineEntry.Status.FAILED  # another organization's: never touched


def settings_data(**overrides) -> dict:
    data = {
        "crm_opt_out_field": "SMS_Opt_Out",
        "crm_timeline_enabled": "on",
        "crm_timeline_subject_sent": "SMS to {contact_name|a lead}",
        "crm_timeline_subject_received": "SMS from {phone}",
        "crm_timeline_activity_type": "SMS",
    }
    data.update(overrides)
    return data


def test_a_manager_sets_the_timeline_and_a_bad_subject_is_refused(client, tenant_a, tenant_b):
    ours = MessagingSettingsFactory(organization=tenant_a.organization)
    theirs = MessagingSettingsFactory(organization=tenant_b.organization)
    client.force_login(tenant_a.manager.user)
    page = url("messaging_messagingsettings", "change", ours.pk)
    assert "Texts on the CRM timeline" in client.get(page).content.decode()
    refused = client.post(page, settings_data(crm_timeline_subject_sent="SMS to {email}"))
    assert refused.status_code == 200
    assert "Unknown merge field" in str(refused.context["adminform"].form.errors["crm_timeline_subject_sent"])
    response = client.post(page, settings_data(crm_timeline_enabled=""))
    assert response.status_code == 302
    ours.refresh_from_db()
    assert ours.crm_timeline_enabled is False
    assert (ours.crm_timeline_subject_sent, ours.crm_timeline_activity_type) == ("SMS to {contact_name|a lead}", "SMS")
    assert client.get(url("messaging_messagingsettings", "change", theirs.pk)).status_code == 302
    assert MessagingSettings.unscoped_objects.get(pk=theirs.pk).crm_timeline_enabled is True
