"""Messaging uses the CRM mirror without importing it: an inbound text on a shared number reaches the studio of the
mirrored record's owner (sync registers the lookup with messaging's `crm_owner_finder` hook), and the widget's CRM
context comes from the mirror without a CRM call."""

from __future__ import annotations

import pytest

from django.utils import timezone

from messaging import hooks
from messaging.models import Message
from messaging.services.receiving import message_receive
from studios.models import MemberCrmUser
from sync.models import CrmPhone, CrmRecord, SyncRun
from tests.messaging.factories import ContactFactory

pytestmark = pytest.mark.django_db

LEAD = "+14155559400"
OWNER = "4150868000000225777"


def mirror_lead(tenant, *, phone: str, owner_id: str, name: str = "Mira Mirror", status: str = "Contacted"):
    now = timezone.now()
    org, connection = tenant.organization, tenant.zoho
    run = SyncRun.unscoped_objects.create(organization=org, connection=connection, object="lead", started_at=now)
    record = CrmRecord.unscoped_objects.create(
        organization=org,
        connection=connection,
        object="lead",
        external_id="4150868000000777001",
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
        organization=org,
        connection=connection,
        object="lead",
        external_id=record.external_id,
        field="Mobile",
        e164=phone,
    )
    return record


def test_sync_registers_the_mirrors_owner_lookup_with_messaging():
    from sync.receivers import mirrored_crm_owner

    assert mirrored_crm_owner in hooks.CRM_OWNER_FINDERS


def test_a_text_to_a_shared_number_from_a_mirrored_lead_goes_to_its_owners_studio(tenant_a, tenant_b):
    MemberCrmUser.unscoped_objects.create(
        organization=tenant_a.organization, membership=tenant_a.staff, connection=tenant_a.zoho, crm_user_id=OWNER
    )
    mirror_lead(tenant_a, phone=LEAD, owner_id=OWNER)
    mirror_lead(tenant_b, phone="+14155559401", owner_id=OWNER)  # another org's mirror: ignored
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


def test_an_owner_of_another_connection_routes_nothing(tenant_a):
    """The CRM user id is the owner's in the mirrored record's connection, not in any other CRM of the org."""
    from tests.factories import ZohoCrmAccountFactory

    other = ZohoCrmAccountFactory(organization=tenant_a.organization, name="second-crm", is_default=False)
    MemberCrmUser.unscoped_objects.create(
        organization=tenant_a.organization, membership=tenant_a.staff, connection=other, crm_user_id=OWNER
    )
    mirror_lead(tenant_a, phone=LEAD, owner_id=OWNER)
    message, _ = message_receive(
        phone_number=tenant_a.shared_number, from_number=LEAD, body="Hi", provider="twilio", provider_message_id="SM3"
    )
    assert message.studio is None


def test_the_crm_context_comes_from_the_mirror_without_a_crm_call(client, tenant_a, monkeypatch):
    from widget.api import crm

    record = mirror_lead(tenant_a, phone=LEAD, owner_id=OWNER)
    contact = ContactFactory(
        organization=tenant_a.organization,
        phone=LEAD,
        connection=tenant_a.zoho,
        crm_object="lead",
        crm_record_id=record.external_id,
    )
    from tests.messaging.factories import ConversationFactory

    ConversationFactory(contact=contact, studio=tenant_a.studio)
    monkeypatch.setattr(crm, "provider_for", None)  # any CRM call would fail the test
    client.force_login(tenant_a.manager.user)
    answer = client.get(f"/api/v1/contacts/{contact.pk}/crm/").json()
    assert answer["source"] == "mirror"
    assert (answer["name"], answer["status"], answer["owner_id"]) == ("Mira Mirror", "Contacted", record.owner_id)
