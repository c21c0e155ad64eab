"""Opt-out per sender vs per organization. Twilio blocks a (sender, recipient) pair after a STOP to that sender and
refuses later sends from it with 21610 until the person texts START to it. A lead who texted STOP to number A and
START to number B is opted in (the organization's ledger), yet A stays blocked: sends from A are refused before
Twilio is called, other numbers still text them, a 21610 from A never opts the whole organization out again, and
the contact API says which of our numbers are blocked."""

from __future__ import annotations

import pytest

from django.test import Client

from core.exceptions import ApplicationError
from messaging.models import Message, OptOut, SenderBlock
from messaging.services.sending import message_send
from tests.messaging.support import LEAD

BLOCKED = "texted STOP to this number; they must text START to it"


def ledger(world) -> OptOut:
    return OptOut.objects.for_organization(world.organization).get(phone=LEAD)


def stop_a_start_b(world) -> None:
    world.phone_texts(to=world.downtown_number.number, body="STOP")
    world.phone_texts(to=world.uptown_number.number, body="START")
    assert not ledger(world).is_opted_out


def twilio_sends_from(world, number) -> list[dict]:
    return [m for m in world.sandbox_messages(to=LEAD) if m.get("from") == number.number]


def test_stop_to_a_then_start_to_b_refuses_a_and_lets_b_text(twilio_world):
    world = twilio_world
    stop_a_start_b(world)
    block = SenderBlock.objects.for_organization(world.organization).get()
    assert (block.sender, block.phone) == (world.downtown_number.number, LEAD)

    with pytest.raises(ApplicationError, match=BLOCKED) as refused:
        message_send(studio=world.downtown, to=LEAD, body="Hello from A", from_number=world.downtown_number)
    assert refused.value.extra["code"] == "sender_blocked"
    assert refused.value.extra["sender"] == world.downtown_number.number
    assert not twilio_sends_from(world, world.downtown_number)

    message = message_send(studio=world.uptown, to=LEAD, body="Hello from B")
    message.refresh_from_db()
    assert (message.status, message.from_number) == (Message.Status.ACCEPTED, world.uptown_number.number)
    assert not ledger(world).is_opted_out


def test_the_studios_default_number_skips_a_blocked_one(twilio_world):
    world = twilio_world
    stop_a_start_b(world)
    message = message_send(studio=world.downtown, to=LEAD, body="Hello")  # downtown's own number is A
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    assert message.from_number == world.shared_number.number


def test_a_21610_from_a_sender_whose_stop_we_recorded_blocks_it_without_opting_the_organization_out(twilio_world):
    world = twilio_world
    stop_a_start_b(world)
    # As before per-sender blocks were recorded: the ledger knows the STOP to A, nothing knows A is blocked.
    SenderBlock.objects.for_organization(world.organization).delete()
    message = message_send(studio=world.downtown, to=LEAD, body="Hello from A", from_number=world.downtown_number)
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "21610")
    assert not ledger(world).is_opted_out  # the person's consent is unchanged
    assert SenderBlock.objects.for_organization(world.organization).get().sender == world.downtown_number.number
    with pytest.raises(ApplicationError, match=BLOCKED):
        message_send(studio=world.downtown, to=LEAD, body="Again", from_number=world.downtown_number)
    other = message_send(studio=world.uptown, to=LEAD, body="Hello from B")
    other.refresh_from_db()
    assert other.status == Message.Status.ACCEPTED


def test_a_21610_on_a_delivery_callback_blocks_the_sender_only(twilio_world):
    from core import webhooks as core_webhooks
    from core.models import InboundEvent
    from messaging.services.inbound import twilio_status_process

    world = twilio_world
    stop_a_start_b(world)
    SenderBlock.objects.for_organization(world.organization).delete()
    message = message_send(studio=world.uptown, to=LEAD, body="Hi")  # goes out from B
    message.refresh_from_db()
    SenderBlock.objects.for_organization(world.organization).delete()
    # A 21610 on a text from A (the message moved to A to pretend it was sent from there).
    Message.objects.unscoped().filter(pk=message.pk).update(
        phone_number=world.downtown_number, from_number=world.downtown_number.number
    )
    event = InboundEvent.objects.create(
        source="twilio.status",
        idempotency_key=f"{message.provider_message_id}:failed",
        organization=world.organization,
        payload={
            "MessageSid": message.provider_message_id,
            "MessageStatus": "failed",
            "ErrorCode": "21610",
            "AccountSid": world.account.account_sid,
            "From": world.downtown_number.number,
            "To": LEAD,
        },
    )
    assert core_webhooks.inbound_event_process(event_id=event.pk) == InboundEvent.Status.PROCESSED
    assert twilio_status_process  # the registered processor ran
    assert not ledger(world).is_opted_out
    assert SenderBlock.objects.for_organization(world.organization).get().sender == world.downtown_number.number


def test_a_21610_with_no_stop_on_record_still_opts_the_lead_out(twilio_world):
    # We never heard a STOP (it reached Twilio only): compliance first, as before, and the sender is blocked.
    world = twilio_world
    world.fault(path="/Messages.json$", status=400, body={"code": 21610, "message": "unsubscribed"}, times=1)
    message_send(studio=world.downtown, to=LEAD, body="Hello")
    assert ledger(world).is_opted_out
    assert SenderBlock.objects.for_organization(world.organization).get().sender == world.downtown_number.number


def test_start_to_a_clears_as_block(twilio_world):
    world = twilio_world
    stop_a_start_b(world)
    world.phone_texts(to=world.downtown_number.number, body="START")
    assert not SenderBlock.objects.for_organization(world.organization).exists()
    message = message_send(studio=world.downtown, to=LEAD, body="Welcome back", from_number=world.downtown_number)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED


def test_the_contact_api_names_the_blocked_numbers(twilio_world):
    world = twilio_world
    stop_a_start_b(world)
    contact = Message.objects.for_organization(world.organization).filter(from_number=LEAD).first().contact
    for member in (world.manager, world.staff):
        client = Client()
        client.force_login(member.user)
        data = client.get(f"/api/v1/contacts/{contact.pk}/opt-out/").json()
        assert data["opted_out"] is False
        assert [b["number"] for b in data["blocked_senders"]] == [world.downtown_number.number]
        assert data["blocked_senders"][0]["blocked_at"]
