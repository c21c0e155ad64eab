"""Replies drive follow-ups: a YES from a lead sends the studio's follow-up text and creates a task, including
the fast YES that arrives before Zoho shows the lead; an unmatched reply ends as a task and a flag, never lost."""

from __future__ import annotations

import pytest

from automation.models import AutomationSettings, ReplyFollowUp
from automation.services.replies import reply_process
from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db(transaction=True)


def replies(world):
    return ReplyFollowUp.objects.for_organization(world.organization)


def test_yes_after_the_welcome_text_sends_the_follow_up_and_creates_a_task(automation_world):
    lead = automation_world.lead_create(First_Name="Yara")
    automation_world.wait_for_events(1)
    automation_world.phone_texts(to=automation_world.downtown_number.number, body=" yes ")
    reply = replies(automation_world).get()
    assert reply.status == ReplyFollowUp.Status.DONE
    assert reply.crm_record_id == lead["id"]
    follow_up = reply.follow_up_message
    assert follow_up.body.startswith("Great, Yara! Someone from Downtown will call you")
    assert follow_up.status == Message.Status.ACCEPTED
    task = next(t for t in automation_world.tasks() if t["id"] == reply.crm_task_id)
    assert task["Subject"] == "Call Yara Lead: replied yes"
    assert task["What_Id"]["id"] == lead["id"]


def test_other_replies_start_nothing(automation_world):
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="yes please call me")
    assert not replies(automation_world).exists()


def test_the_fast_yes_race_a_reply_before_zoho_shows_the_lead_is_matched_on_a_later_try(automation_world):
    phone = "+14155559077"
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="YES", sender=phone)
    reply = replies(automation_world).get()
    assert reply.status == ReplyFollowUp.Status.PENDING
    assert reply.next_attempt_at
    assert automation_world.deferred[-1][:2] == ("reply", reply.pk)
    # The lead becomes visible in Zoho (its webhook may still be on its way).
    lead = automation_world.control(
        "POST",
        "/_sandbox/zoho/leads",
        json={"First_Name": "Quinn", "Last_Name": "Quick", "Mobile": phone, "Owner": {"id": "4150868000000225002"}},
    )
    assert reply_process(reply_id=reply.pk).outcome in ("done", "skipped")
    reply.refresh_from_db()
    assert reply.status == ReplyFollowUp.Status.DONE
    assert reply.crm_record_id == lead["id"]
    assert reply.follow_up_message is not None
    assert reply.crm_task_id
    # One follow-up, however often the reply is processed again.
    assert reply_process(reply_id=reply.pk).outcome == "skipped"
    assert Message.objects.for_organization(automation_world.organization).filter(kind="automated").count() >= 1


def test_an_unmatched_reply_becomes_an_unattached_task_and_a_flag(automation_world):
    AutomationSettings.objects.for_organization(automation_world.organization).update(reply_match_minutes=0)
    automation_world.phone_texts(to=automation_world.downtown_number.number, body="YES", sender="+14155559088")
    reply = replies(automation_world).get()
    assert reply.status == ReplyFollowUp.Status.NEEDS_ATTENTION
    task = next(t for t in automation_world.tasks() if t["id"] == reply.crm_task_id)
    assert task["Subject"] == "Unmatched reply from +14155559088"
    assert not task.get("What_Id")
    conversation = Conversation.objects.for_organization(automation_world.organization).get()
    assert conversation.needs_attention
    assert "matched no lead" in conversation.attention_reason
