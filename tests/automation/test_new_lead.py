"""The new-lead flow end to end against the sandbox: Zoho's workflow webhook → intake → task + welcome text;
its idempotency, and each way it can fail ending in a logged, visible outcome."""

from __future__ import annotations

import json

import pytest

from automation.models import AutomationStep, LeadIntake
from automation.services.intake import lead_id_from_payload, lead_intake_process
from core.models import InboundEvent
from messaging.models import Message, OptOut
from messaging.services.opt_out import opt_out_set
from studios.models import MemberCrmUser
from tests.automation.conftest import BEN, crm_user_link, post_webhook

pytestmark = pytest.mark.django_db(transaction=True)


def intakes(world):
    return LeadIntake.objects.for_organization(world.organization)


def steps(intake) -> list[tuple[str, str]]:
    return [
        (s.step, s.outcome)
        for s in AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
    ]


def test_a_new_lead_gets_a_task_for_its_owner_and_the_studios_welcome_text(automation_world):
    lead = automation_world.lead_create(First_Name="Lena", Last_Name="Lead")
    automation_world.wait_for_events(1)
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.DONE
    assert intake.studio == automation_world.downtown  # Ana owns the lead and works at Downtown
    task = next(t for t in automation_world.tasks() if t["id"] == intake.crm_task_id)
    assert task["Subject"] == "Follow up with Lena Lead"
    assert task["What_Id"]["id"] == lead["id"]
    assert task["Owner"]["id"] == lead["Owner"]["id"]
    welcome = intake.welcome_message
    assert welcome.status == Message.Status.ACCEPTED
    assert welcome.kind == "automated"
    assert welcome.body.startswith("Hi Lena, thanks for your interest in Downtown!")
    assert welcome.from_number == automation_world.downtown_number.number
    assert welcome.contact.crm_record_id == lead["id"]
    assert [s for s, _ in steps(intake)] == [
        "webhook_received",
        "lead_loaded",
        "studio_resolved",
        "task_created",
        "sms_sent",
        "done",
    ]


def test_the_same_webhook_delivered_twice_gives_one_task_and_one_text(automation_world):
    lead = automation_world.lead_create()
    automation_world.wait_for_events(1)
    body = json.dumps({"lead_id": lead["id"]})
    for _ in range(2):
        assert post_webhook(automation_world.webhook_url, body).status_code == 200
    assert post_webhook(automation_world.webhook_url + "?again=1", body).status_code == 200
    intake = intakes(automation_world).get()
    assert Message.objects.for_organization(automation_world.organization).filter(kind="automated").count() == 1
    assert sum(1 for t in automation_world.tasks() if t.get("What_Id", {}).get("id") == lead["id"]) == 1
    assert ("webhook_received", "skipped") in steps(intake)
    # Running the intake again (a duplicated task) does nothing either.
    assert lead_intake_process(intake_id=intake.pk).outcome == "skipped"


def test_an_unknown_token_is_refused(automation_world):
    response = post_webhook(automation_world.webhook_url.replace("/leads/", "/leads/x"), '{"lead_id": "1"}')
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_lead_with_no_studio_gets_its_task_and_waits_for_a_person(automation_world):
    automation_world.lead_create(Owner={"id": "4150868000000225001"})  # the manager: no studio of their own
    automation_world.wait_for_events(1)
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.NEEDS_ATTENTION
    assert "No studio" in intake.attention_reason
    assert intake.crm_task_id  # the owner still gets the follow-up task
    assert intake.welcome_message is None
    assert "no studio" in intake.sms_outcome


def test_a_studio_named_on_the_lead_wins(automation_world):
    from automation.models import AutomationSettings

    AutomationSettings.objects.for_organization(automation_world.organization).update(lead_studio_field="City")
    automation_world.lead_create(City="uptown")
    automation_world.wait_for_events(1)
    assert intakes(automation_world).get().studio == automation_world.uptown


def test_a_lead_without_a_valid_mobile_is_logged_and_skipped(automation_world):
    automation_world.lead_create(Mobile="", Phone="12")
    automation_world.wait_for_events(1)
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.DONE
    assert intake.welcome_message is None
    assert "not a valid number" in intake.sms_outcome
    assert ("sms_skipped", "skipped") in steps(intake)


def test_an_opted_out_lead_gets_no_welcome_text(automation_world):
    opt_out_set(organization=automation_world.organization, phone="+14155559001", state="opted_out", source="keyword")
    automation_world.lead_create()
    automation_world.wait_for_events(1)
    intake = intakes(automation_world).get()
    assert intake.welcome_message is None
    assert "opted out" in intake.sms_outcome
    assert not Message.objects.for_organization(automation_world.organization).exists()


def test_the_crm_opt_out_field_on_the_lead_is_honoured(automation_world):
    automation_world.lead_create(First_Name="Pia", Mobile="+14155559003", SMS_Opt_Out=True)
    automation_world.wait_for_events(1)
    pia = intakes(automation_world).get()
    assert pia.welcome_message is None
    assert "opted out" in pia.sms_outcome
    opt_out = OptOut.objects.for_organization(automation_world.organization).get(phone="+14155559003")
    assert opt_out.source == "crm"


def test_zoho_down_makes_the_intake_wait_and_retry(automation_world):
    automation_world.fault(path=r"^/crm/v8/Leads/\d+$", status=503, times=0)
    lead = automation_world.lead_create()
    automation_world.wait_for_events(1, timeout=60)
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.WAITING
    assert intake.next_attempt_at
    assert ("waiting", "retry") in steps(intake)
    assert not intake.welcome_message
    automation_world.clear_faults()
    assert lead_intake_process(intake_id=intake.pk).outcome == "done"
    intake.refresh_from_db()
    assert intake.crm_task_id
    assert intake.welcome_message.contact.crm_record_id == lead["id"]


def test_a_lead_not_yet_visible_is_retried_then_handed_to_a_person(automation_world):
    body = json.dumps({"lead_id": "4150868000099999999"})
    assert post_webhook(automation_world.webhook_url, body).status_code == 200
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.WAITING
    assert automation_world.deferred[-1][:2] == ("intake", intake.pk)  # the task published the retry
    published = len(automation_world.deferred)
    for _ in range(10):
        LeadIntake.objects.for_organization(automation_world.organization).update(next_attempt_at=None)
        progress = lead_intake_process(intake_id=intake.pk)
        assert progress.outcome == "needs_attention" or progress.retry_in
        if progress.outcome == "needs_attention":
            break
    assert len(automation_world.deferred) == published  # the service itself never re-enqueues
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.NEEDS_ATTENTION
    assert "not visible in the CRM" in intake.attention_reason


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"body": '{"lead_id":"4150868000000001234","email":"a@b.c","owner":"Ana"}'}, "4150868000000001234"),
        ({"body": '{"lead_id":"4150868000000001234","owner":"Ana "Quotes" A"}'}, "4150868000000001234"),
        ({"form": {"lead_id": "4150868000000001234"}}, "4150868000000001234"),
        ({"query": {"id": "4150868000000001234"}}, "4150868000000001234"),
        ({"body": "{}"}, None),
    ],
)
def test_the_lead_id_is_found_even_in_broken_json(payload, expected):
    assert lead_id_from_payload(payload) == expected


def test_a_webhook_without_a_lead_id_is_flagged(automation_world):
    assert post_webhook(automation_world.webhook_url, '{"email": "x@y.z"}').status_code == 200
    event = InboundEvent.objects.get(source="zoho.lead")
    assert event.status == InboundEvent.Status.FLAGGED
    assert "no lead id" in event.error


def test_an_owner_in_two_studios_needs_a_person_to_pick_one(automation_world):
    MemberCrmUser.objects.unscoped().filter(membership=automation_world.staff).delete()
    from tests.factories import MembershipFactory

    ben = MembershipFactory(
        organization=automation_world.organization, studios=[automation_world.downtown, automation_world.uptown]
    )
    crm_user_link(ben, automation_world.zoho, BEN)
    automation_world.lead_create(Owner={"id": BEN})
    automation_world.wait_for_events(1)
    intake = intakes(automation_world).get()
    assert intake.status == LeadIntake.Status.NEEDS_ATTENTION
    assert "several studios" in intake.attention_reason


def test_the_generic_route_and_the_old_zoho_route_both_take_a_new_lead(automation_world):
    assert "/webhooks/crm/zoho/leads/" in automation_world.webhook_url
    old_url = automation_world.webhook_url.replace("/webhooks/crm/zoho/leads/", "/webhooks/zoho/leads/")
    first = automation_world.lead_create()
    automation_world.wait_for_events(1)
    body = json.dumps({"lead_id": first["id"]})
    response = post_webhook(old_url, body)
    assert (response.status_code, response.json()) == (200, {"status": "received"})
    intake = intakes(automation_world).get()
    assert intake.connection == automation_world.zoho
    assert ("webhook_received", "skipped") in steps(intake)  # the same lead by the old URL: nothing new


def test_an_unknown_crm_kind_is_404(automation_world):
    url = automation_world.webhook_url.replace("/webhooks/crm/zoho/", "/webhooks/crm/nocrm/")
    assert post_webhook(url, '{"lead_id": "4150868000000001234"}').status_code == 404
    assert not InboundEvent.objects.exists()


def test_an_event_recorded_before_the_generic_route_is_still_processed(automation_world):
    """Events recorded as `zoho.lead` by the old webhook are processed after a deploy: the source is the same."""
    from core.webhooks import PROCESSORS

    assert PROCESSORS["zoho.lead"].__name__ == "lead_event_process"


def test_an_organization_without_a_crm_connection_gets_a_flagged_event(automation_world):
    automation_world.zoho.is_default = False
    automation_world.zoho.kind = "twilio"
    automation_world.zoho.save()
    body = json.dumps({"lead_id": "4150868000000001234"})
    assert post_webhook(automation_world.webhook_url, body).status_code == 200
    event = InboundEvent.objects.get(source="zoho.lead")
    assert event.status == InboundEvent.Status.FLAGGED
    assert "no zoho CRM connection" in event.error
    assert not intakes(automation_world).exists()
