"""Messaging uses the CRM mirror: an inbound text on a shared number reaches the studio of the mirrored
record's owner, and the widget's CRM context comes from the mirror without a Zoho call."""

from __future__ import annotations

import pytest

from django.utils import timezone

from messaging.models import Message
from messaging.services.receiving import message_receive
from sync.models import CrmPhone, CrmRecord, SyncRun
from tests.messaging.factories import ContactFactory

pytestmark = pytest.mark.django_db

LEAD = "+14155559400"


def mirror_lead(tenant, *, phone: str, owner_id: str, name: str = "Mira Mirror", status: str = "Contacted"):
    now = timezone.now()
    run = SyncRun.unscoped_objects.create(organization=tenant.organization, module="Leads", started_at=now)
    record = CrmRecord.unscoped_objects.create(
        organization=tenant.organization,
        module="Leads",
        zoho_id="4150868000000777001",
        name=name,
        owner_id=owner_id,
        owner_name="Staff Member",
        modified_time=now,
        content_hash="x",
        fields={"lead_status": status},
        synced_at=now,
        run=run,
    )
    CrmPhone.unscoped_objects.create(
        organization=tenant.organization, module="Leads", zoho_id=record.zoho_id, field="Mobile", e164=phone
    )
    return record


def test_a_text_to_a_shared_number_from_a_mirrored_lead_goes_to_its_owners_studio(tenant_a, tenant_b):
    tenant_a.staff.zoho_user_id = "4150868000000225777"
    tenant_a.staff.save()
    mirror_lead(tenant_a, phone=LEAD, owner_id="4150868000000225777")
    mirror_lead(tenant_b, phone="+14155559401", owner_id="4150868000000225777")  # another org's mirror: ignored
    message, created = message_receive(
        phone_number=tenant_a.shared_number, from_number=LEAD, body="Hi", provider="twilio", provider_message_id="SM1"
    )
    assert created
    assert message.studio == tenant_a.studio
    other, _ = message_receive(
        phone_number=tenant_a.shared_number,
        from_number="+14155559401",
        body="Hi",
        provider="twilio",
        provider_message_id="SM2",
    )
    assert other.studio is None  # B's mirror never routes A's texts
    assert Message.objects.for_organization(tenant_a.organization).count() == 2


def test_the_crm_context_comes_from_the_mirror_without_zoho(client, tenant_a, monkeypatch):
    from widget.api import crm

    record = mirror_lead(tenant_a, phone=LEAD, owner_id="4150868000000225777")
    contact = ContactFactory(
        organization=tenant_a.organization, phone=LEAD, crm_module="Leads", crm_record_id=record.zoho_id
    )
    from tests.messaging.factories import ConversationFactory

    ConversationFactory(contact=contact, studio=tenant_a.studio)
    monkeypatch.setattr(crm, "ZohoClient", None)  # any Zoho call would fail the test
    client.force_login(tenant_a.manager.user)
    answer = client.get(f"/api/v1/contacts/{contact.pk}/crm/").json()
    assert answer["source"] == "mirror"
    assert (answer["name"], answer["status"], answer["owner_id"]) == ("Mira Mirror", "Contacted", record.owner_id)
