"""No automated text goes out with a blank merge field ("Hi , thanks for your interest..."): the welcome, the
follow-up and the HELP answer are held, the step log says why, and a person is told (needs attention); a
fallback ({first_name|there}) sends, and "Try again" sends once the cause is fixed. End to end against the
sandbox (Zoho and Twilio over real HTTP)."""

from __future__ import annotations

import pytest

from automation.models import AutomationStep, LeadIntake, ReplyFollowUp, StudioAutomation
from automation.services.intake import lead_intake_process
from automation.services.replies import reply_process
from messaging.models import Conversation, Message
from studios.models import Studio

pytestmark = pytest.mark.django_db(transaction=True)

NOT_SENT = "not sent: {first_name} is blank and has no fallback"


def outbound(world):
    return Message.objects.for_organization(world.organization).filter(direction="outbound")


def steps(world, **links) -> list[tuple[str, str, str]]:
    rows = AutomationStep.objects.for_organization(world.organization).filter(**links)
    return [(s.step, s.outcome, s.detail) for s in rows]


def test_a_lead_with_no_first_name_gets_no_hi_comma_and_a_person_is_told(automation_world):
    automation_world.lead_create(First_Name="", Last_Name="Nameless")
    automation_world.wait_for_events(1)
    intake = LeadIntake.objects.for_organization(automation_world.organization).get()
    assert intake.status == LeadIntake.Status.NEEDS_ATTENTION
    assert NOT_SENT in intake.attention_reason
    assert intake.crm_task_id  # the owner still gets the follow-up task
    assert intake.welcome_message is None
    assert not outbound(automation_world).exists()
    assert ("sms_skipped", "failed", f"welcome text {NOT_SENT}") in steps(automation_world, lead_intake=intake)

    # A manager gives the field a fallback and presses "Try again now": the text goes, once.
    Studio.objects.for_organization(automation_world.organization).filter(pk=automation_world.downtown.pk).update(
        welcome_message="Hi {first_name|there}, thanks for your interest in {studio_name}!"
    )
    LeadIntake.objects.for_organization(automation_world.organization).update(status=LeadIntake.Status.WAITING)
    assert lead_intake_process(intake_id=intake.pk).outcome == "done"
    intake.refresh_from_db()
    assert intake.welcome_message.body == "Hi there, thanks for your interest in Downtown!"
    assert outbound(automation_world).count() == 1


def test_a_welcome_template_that_bypassed_validation_is_refused_not_rendered(automation_world):
    Studio.objects.for_organization(automation_world.organization).filter(pk=automation_world.downtown.pk).update(
        welcome_message="Hi {first_name:>50000000}"
    )
    automation_world.lead_create(First_Name="Lena")
    automation_world.wait_for_events(1)
    intake = LeadIntake.objects.for_organization(automation_world.organization).get()
    assert intake.status == LeadIntake.Status.NEEDS_ATTENTION
    assert "not valid" in intake.attention_reason
    assert not outbound(automation_world).exists()


def test_a_yes_from_a_lead_with_no_first_name_gets_its_task_and_a_person_not_a_blank_follow_up(automation_world):
    automation_world.lead_create(First_Name="", Last_Name="Nameless", Mobile="+14155559044")
    automation_world.wait_for_events(1)
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="YES", sender="+14155559044")
    reply = ReplyFollowUp.objects.for_organization(automation_world.organization).get()
    assert reply.status == ReplyFollowUp.Status.NEEDS_ATTENTION
    assert NOT_SENT in reply.attention_reason
    assert reply.crm_task_id
    assert reply.follow_up_message is None
    assert ("sms_skipped", "failed", f"follow-up text {NOT_SENT}") in steps(automation_world, reply=reply)
    conversation = Conversation.objects.for_organization(automation_world.organization).get()
    assert conversation.needs_attention
    assert NOT_SENT in conversation.attention_reason
    assert conversation.unread_count == 1  # flagging does not count the YES twice
    assert not outbound(automation_world).filter(kind="automated").exists()

    # With a fallback, "Try again now" sends the follow-up and makes no second task.
    StudioAutomation.objects.for_organization(automation_world.organization).update_or_create(
        studio=automation_world.downtown,
        defaults={"follow_up_message": "Great, {first_name|friend}! {studio_name} will call you."},
    )
    tasks_before = len(automation_world.tasks())
    ReplyFollowUp.objects.for_organization(automation_world.organization).update(status=ReplyFollowUp.Status.PENDING)
    assert reply_process(reply_id=reply.pk).outcome == "done"
    reply.refresh_from_db()
    assert reply.follow_up_message.body == "Great, friend! Downtown will call you."
    assert len(automation_world.tasks()) == tasks_before


def test_help_from_a_contact_with_no_name_is_held_for_a_person_when_the_help_text_needs_the_name(automation_world):
    world = automation_world
    Studio.objects.for_organization(world.organization).filter(pk=world.downtown.pk).update(
        help_message="Hi {first_name}! {studio_name}: reply STOP to stop."
    )
    world.phone_texts(to=world.downtown_number.number, body="HELP", sender="+14155559055")
    assert not outbound(world).exists()
    conversation = Conversation.objects.for_organization(world.organization).get()
    assert conversation.needs_attention
    assert f"HELP answer {NOT_SENT}" in conversation.attention_reason
    assert ("help_reply", "failed", f"HELP answer {NOT_SENT}") in steps(world, studio=world.downtown)

    # With a fallback it is answered at once.
    Studio.objects.for_organization(world.organization).filter(pk=world.downtown.pk).update(
        help_message="Hi {first_name|there}! {studio_name}: reply STOP to stop."
    )
    world.phone_texts(to=world.downtown_number.number, body="HELP", sender="+14155559055")
    assert outbound(world).get().body == "Hi there! Downtown: reply STOP to stop."
