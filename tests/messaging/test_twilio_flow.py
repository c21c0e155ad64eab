"""Texts end to end through the sandbox's Twilio over real HTTP: sends, inbound webhooks, status callbacks,
STOP/START/HELP, and the provider errors that fail a message without failing over."""

from __future__ import annotations

import pytest

from core.exceptions import ApplicationError
from core.models import InboundEvent
from messaging.models import Conversation, CrmWriteBack, Message, OptOut, OptOutEvent
from messaging.services.sending import message_send
from tests.messaging.support import LEAD

pytestmark = pytest.mark.django_db(transaction=True)


def messages(world):
    return Message.objects.for_organization(world.organization)


def test_a_send_is_queued_then_handed_to_twilio_once(twilio_world):
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Hi from Downtown", sent_by=twilio_world.staff)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    assert message.provider == "twilio"
    assert message.provider_message_id.startswith("SM")
    assert message.from_number == twilio_world.downtown_number.number
    assert (message.segments, message.encoding, message.attempts) == (1, "GSM-7", 1)
    sent = twilio_world.sandbox_messages(to=LEAD)
    assert [m["sid"] for m in sent] == [message.provider_message_id]
    assert sent[0]["status_callback"] == twilio_world.product_url + "/webhooks/twilio/status/"


def test_a_duplicated_send_task_sends_nothing_more(twilio_world):
    from messaging.services.sending import message_deliver

    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Once only")
    assert message_deliver(message_id=message.pk).outcome == "skipped"
    assert len(twilio_world.sandbox_messages(to=LEAD)) == 1


def test_segments_and_encoding_are_stored(twilio_world):
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Café ☕ " * 12)
    message.refresh_from_db()
    assert message.encoding == "UCS-2"
    assert message.segments == 2


@pytest.mark.parametrize("body", ["", "   ", "x" * 1601])
def test_empty_and_overlong_bodies_are_refused_with_nothing_saved(twilio_world, body):
    with pytest.raises(ApplicationError):
        message_send(studio=twilio_world.downtown, to=LEAD, body=body)
    assert not messages(twilio_world).exists()


def test_a_national_number_is_read_in_the_sending_numbers_country(twilio_world):
    message = message_send(studio=twilio_world.downtown, to="(415) 555-9001", body="Hello")
    assert message.to_number == LEAD


def test_an_invalid_number_fails_with_a_reason_and_never_fails_over(twilio_world):
    twilio_world.fault(path="/Messages.json$", status=400, body={"code": 21211, "message": "Invalid 'To'"}, times=1)
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Hello")
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "21211")
    assert "not a valid phone number" in message.error_message
    assert not message.failed_over_from


def test_inbound_text_is_saved_routed_and_answered_with_empty_twiml(twilio_world):
    result = twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Is the pool open?")
    delivery = result["deliveries"][0] if "deliveries" in result else result
    assert delivery["status"] == 200, delivery
    assert "<Response></Response>" in delivery["response_text"]
    message = messages(twilio_world).get(direction="inbound")
    assert (message.studio, message.body, message.from_number) == (twilio_world.downtown, "Is the pool open?", LEAD)
    conversation = message.conversation
    assert conversation.unread_count == 1
    assert not conversation.needs_attention
    event = InboundEvent.objects.get(source="twilio.sms")
    assert event.status == InboundEvent.Status.PROCESSED
    assert event.idempotency_key == message.provider_message_id


def test_a_text_to_a_shared_number_goes_to_the_studio_that_last_texted_the_contact(twilio_world):
    message_send(studio=twilio_world.uptown, to=LEAD, body="Uptown here", from_number=twilio_world.shared_number)
    twilio_world.phone_texts(to=twilio_world.shared_number.number, body="Thanks!")
    inbound = messages(twilio_world).get(direction="inbound")
    assert inbound.studio == twilio_world.uptown


def test_a_text_to_a_shared_number_goes_to_the_crm_owners_studio(twilio_world):
    from messaging.services.threads import contact_get_or_create
    from studios.models import MemberCrmUser
    from tests.factories import ZohoCrmAccountFactory

    crm = ZohoCrmAccountFactory(organization=twilio_world.organization, is_default=True)
    MemberCrmUser.unscoped_objects.create(
        organization=twilio_world.organization,
        membership=twilio_world.staff,
        connection=crm,
        crm_user_id="4150868000000225777",
    )
    contact = contact_get_or_create(organization=twilio_world.organization, phone=LEAD)
    contact.connection, contact.crm_owner_id = crm, "4150868000000225777"
    contact.save()
    twilio_world.phone_texts(to=twilio_world.shared_number.number, body="Hello?")
    assert messages(twilio_world).get(direction="inbound").studio == twilio_world.downtown


def test_an_unroutable_text_lands_in_the_unassigned_queue_flagged(twilio_world):
    twilio_world.phone_texts(to=twilio_world.shared_number.number, body="Who is this?")
    inbound = messages(twilio_world).get(direction="inbound")
    assert inbound.studio is None
    conversation = Conversation.objects.for_organization(twilio_world.organization).get()
    assert conversation.studio is None
    assert conversation.needs_attention
    assert "shared number" in conversation.attention_reason
    # Staff never see the unassigned queue; managers do.
    assert not Conversation.objects.visible_to(twilio_world.staff).exists()
    assert Conversation.objects.visible_to(twilio_world.manager).count() == 1


def test_stop_opts_out_across_the_organization_and_blocks_later_sends(twilio_world):
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="  stop ")
    opt_out = OptOut.objects.for_organization(twilio_world.organization).get(phone=LEAD)
    assert opt_out.is_opted_out
    assert opt_out.source == "provider"
    assert CrmWriteBack.objects.for_organization(twilio_world.organization).get().value is True
    with pytest.raises(ApplicationError, match="opted out"):
        message_send(studio=twilio_world.uptown, to=LEAD, body="Come back!")  # another studio, another number
    # Twilio itself confirmed the STOP; we sent nothing.
    assert not messages(twilio_world).filter(direction="outbound").exists()


def test_start_opts_back_in(twilio_world):
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="STOP")
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="Start")
    assert not OptOut.objects.for_organization(twilio_world.organization).get(phone=LEAD).is_opted_out
    assert OptOutEvent.objects.for_organization(twilio_world.organization).count() == 2
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Welcome back")
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED


def test_help_is_answered_with_the_studios_help_text(twilio_world):
    twilio_world.downtown.help_message = "{studio_name}: call 555-0199. Reply STOP to opt out."
    twilio_world.downtown.save()
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="help")
    reply = messages(twilio_world).get(direction="outbound")
    assert reply.body == "Downtown: call 555-0199. Reply STOP to opt out."
    assert reply.kind == "keyword_reply"
    assert reply.status == Message.Status.ACCEPTED


def test_stop_arriving_while_a_send_is_queued_stops_the_send(twilio_world, monkeypatch):
    from messaging.services import sending

    held = []
    monkeypatch.setattr(sending, "message_send_enqueue", lambda message_id, countdown=None: held.append(message_id))
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Still interested?")
    twilio_world.phone_texts(to=twilio_world.downtown_number.number, body="STOP")
    assert sending.message_deliver(message_id=held[0]).outcome == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "opted_out")
    assert not twilio_world.sandbox_messages(to=LEAD)


def test_error_21610_from_twilio_opts_the_lead_out(twilio_world):
    # The lead is blocked at Twilio (replied STOP to Twilio directly) but our ledger has never heard of it.
    twilio_world.fault(path="/Messages.json$", status=400, body={"code": 21610, "message": "unsubscribed"}, times=1)
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Hello")
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "21610")
    opt_out = OptOut.objects.for_organization(twilio_world.organization).get(phone=LEAD)
    assert opt_out.is_opted_out
    assert opt_out.source == "provider"


def status_callbacks(world, sid, statuses, **options):
    return world.control("POST", f"/_sandbox/twilio/messages/{sid}/status", json={"statuses": statuses, **options})[
        "deliveries"
    ]


def test_status_callbacks_move_forward_only_whatever_their_order(twilio_world):
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Hello")
    message.refresh_from_db()
    deliveries = status_callbacks(
        twilio_world, message.provider_message_id, ["sent", "delivered"], order="reversed", duplicate=True
    )
    # Every callback was answered 200 (under load the sandbox may retry one whose connection failed).
    assert [d["status"] for d in deliveries if d["status"] is not None] == [200] * 4
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.delivered_at is not None
    assert InboundEvent.objects.filter(source="twilio.status").count() == 2  # duplicates stored nothing new


def test_a_failed_delivery_stores_and_explains_its_error_code(twilio_world):
    message = message_send(studio=twilio_world.downtown, to=LEAD, body="Hello")
    message.refresh_from_db()
    status_callbacks(twilio_world, message.provider_message_id, ["sent", "undelivered"], error_code=30003)
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.UNDELIVERED, "30003")
    assert "unreachable" in message.error_message


def test_staff_send_only_for_their_studios(twilio_world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        message_send(studio=twilio_world.uptown, to=LEAD, body="Hi", sent_by=twilio_world.staff)
    assert not messages(twilio_world).exists()


def test_a_studio_cannot_send_from_another_studios_number(twilio_world):
    with pytest.raises(ApplicationError, match="is not a number of Downtown"):
        message_send(studio=twilio_world.downtown, to=LEAD, body="Hi", from_number=twilio_world.uptown_number)


def test_a_manager_texts_in_any_studios_name_and_it_is_recorded(twilio_world):
    message = message_send(studio=twilio_world.uptown, to=LEAD, body="Hi from Uptown", sent_by=twilio_world.manager)
    message.refresh_from_db()
    assert message.sent_by == twilio_world.manager
    assert message.on_behalf_of_studio
    assert message.studio == twilio_world.uptown
    assert message.from_number == twilio_world.uptown_number.number


def test_a_member_of_another_organization_cannot_send_for_a_studio(twilio_world):
    from django.core.exceptions import PermissionDenied

    from tests.factories import MembershipFactory

    outsider = MembershipFactory(manager=True)
    with pytest.raises(PermissionDenied):
        message_send(studio=twilio_world.downtown, to=LEAD, body="Hi", sent_by=outsider)
