"""Texts queued for the CRM timeline: one row per text, saved with an inbound text and when an outbound one went out,
only for an organization that logs texts there and has a CRM connected."""

from __future__ import annotations

import pytest

from django.core.exceptions import ValidationError

from messaging.models import CrmTimelineEntry, Message, MessagingSettings
from messaging.services import crm_timeline
from messaging.services.crm_timeline import crm_timeline_queue_many
from messaging.services.sending import message_send
from studios.models import ProviderAccount
from tests.factories import OrganizationFactory
from tests.messaging.support import LEAD, inline_tasks, twilio_world  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def connect_crm(organization) -> ProviderAccount:
    return ProviderAccount.unscoped_objects.create(
        organization=organization, name="crm", kind="zoho_crm", is_default=True, client_id="id", accounts_url=""
    )


def entries(world):
    return CrmTimelineEntry.objects.for_organization(world.organization)


def test_inbound_and_sent_texts_are_queued_once_each(twilio_world):  # noqa: F811
    connect_crm(twilio_world.organization)
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Hi, is the 6pm class full?")
    inbound = Message.objects.for_organization(twilio_world.organization).get(direction="inbound")
    sent = message_send(studio=twilio_world.downtown, to=LEAD, body="Not yet: see you there!")
    sent.refresh_from_db()
    assert sent.status in (Message.Status.ACCEPTED, Message.Status.SENT, Message.Status.QUEUED)
    assert sorted(entries(twilio_world).values_list("message_id", flat=True)) == sorted([inbound.pk, sent.pk])
    assert set(entries(twilio_world).values_list("status", flat=True)) == {CrmTimelineEntry.Status.PENDING}
    # Queuing again (a re-delivered text, a repeated poll) adds nothing.
    assert crm_timeline_queue_many(organization=twilio_world.organization, message_ids=[inbound.pk, sent.pk]) == 0
    assert entries(twilio_world).count() == 2


def test_a_text_that_never_went_out_is_not_queued(twilio_world):  # noqa: F811
    connect_crm(twilio_world.organization)
    twilio_world.fault(path="/Messages.json$", status=400, body={"code": 21211, "message": "Invalid 'To'"}, times=1)
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Welcome!")
    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert not entries(twilio_world).exists()


def test_nothing_is_queued_without_a_crm_or_with_the_timeline_off(twilio_world):  # noqa: F811
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Hello")
    assert not entries(twilio_world).exists()  # no CRM connected
    connect_crm(twilio_world.organization)
    MessagingSettings.unscoped_objects.create(organization=twilio_world.organization, crm_timeline_enabled=False)
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Hello again")
    assert not entries(twilio_world).exists()


def test_bulk_queuing_takes_only_the_organizations_own_texts(twilio_world):  # noqa: F811
    connect_crm(twilio_world.organization)
    other = OrganizationFactory(slug="other")
    connect_crm(other)
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Hello")
    ours = Message.objects.for_organization(twilio_world.organization).get()
    CrmTimelineEntry.objects.for_organization(twilio_world.organization).delete()
    assert crm_timeline_queue_many(organization=other, message_ids=[ours.pk]) == 0
    assert not CrmTimelineEntry.objects.unscoped().exists()
    assert crm_timeline_queue_many(organization=twilio_world.organization, message_ids=[ours.pk]) == 1
    assert entries(twilio_world).get().organization_id == twilio_world.organization.pk


@pytest.mark.django_db  # no live server here: the plain (rolled back) database is enough
@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("crm_timeline_subject_sent", "SMS to {contact_name|a lead} ({phone})", True),
        ("crm_timeline_subject_received", "{studio_name}: SMS from {phone}", True),
        ("crm_timeline_subject_sent", "SMS to {email}", False),
        ("crm_timeline_subject_received", "SMS from {phone:>900}", False),
    ],
)
def test_subject_templates_are_checked_when_saved(field, value, ok):
    row = MessagingSettings(organization=OrganizationFactory(), **{field: value})
    if ok:
        row.clean()
        return
    with pytest.raises(ValidationError) as caught:
        row.clean()
    assert field in caught.value.message_dict


def test_a_failure_to_queue_never_fails_the_text(twilio_world, monkeypatch):  # noqa: F811
    connect_crm(twilio_world.organization)

    def broken(*, organization):
        raise RuntimeError("the timeline's settings could not be read")

    monkeypatch.setattr(crm_timeline, "crm_timeline_wanted", broken)
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Still here?")
    sent = message_send(studio=twilio_world.downtown, to=LEAD, body="Yes we are")
    sent.refresh_from_db()
    assert Message.objects.for_organization(twilio_world.organization).filter(direction="inbound").count() == 1
    assert sent.status == Message.Status.ACCEPTED
    assert not entries(twilio_world).exists()
