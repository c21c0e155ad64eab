"""The new-contact flow on HubSpot end to end, over real HTTP: a person adds a contact in the emulated portal, the
emulator posts its signed app webhook (a JSON array, signature v3) to /webhooks/crm/hubspot/events/, the intake
loads the contact, creates a task for its owner associated with the contact, and sends the studio's welcome text.
Delivered twice: one task, one text. Our own writes come back as webhooks too and never start anything. A contact
in a stage that is no lead stage is skipped with the reason. A webhook that never comes is made up for by the
mirror's delta."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from django.utils import timezone

from automation.models import AutomationSettings, AutomationStep, LeadIntake, ReplyFollowUp
from automation.tasks import automation_due_task
from core.models import InboundEvent
from crm.providers.hubspot.app_events import signature_v3
from crm.providers.hubspot.conf import DEMO_APP_ID, DEMO_CLIENT_SECRET
from crm.registry import provider_for
from messaging.models import Message
from studios.models import ProviderAccount
from sync.delta import sync_run
from sync.models import SyncRun
from tests.automation.conftest import crm_user_link
from tests.crm.harness_hubspot import HubSpotPortal, account_for, control

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS_PATH = "/webhooks/crm/hubspot/events/"
WEBHOOKS = f"hubspot/apps/{DEMO_APP_ID}/webhooks"


class HubSpotWorld:
    def __init__(self, twilio, portal: HubSpotPortal, account: ProviderAccount, owner: str) -> None:
        self.twilio, self.portal, self.account, self.owner = twilio, portal, account, owner
        self.server = portal.server

    def subscribe(self) -> None:
        """The app's webhook settings, as its developer sets them: our URL, new contacts and the opt-out property."""
        target = self.twilio.product_url + EVENTS_PATH
        for existing in control(self.server, "GET", WEBHOOKS)["subscriptions"]:  # the demo world's own
            control(self.server, "DELETE", f"{WEBHOOKS}/subscriptions/{existing['id']}")
        control(self.server, "PUT", f"{WEBHOOKS}/settings", {"targetUrl": target, "maxConcurrentRequests": 10})
        control(
            self.server, "POST", f"{WEBHOOKS}/subscriptions", {"eventType": "object.creation", "objectTypeId": "0-1"}
        )
        control(
            self.server,
            "POST",
            f"{WEBHOOKS}/subscriptions",
            {"eventType": "object.propertyChange", "objectTypeId": "0-1", "propertyName": "leadline_sms_opt_out"},
        )

    def contact_create(self, **properties: Any) -> str:
        """A person adds a contact in HubSpot (changeSource CRM_UI)."""
        values = {
            "firstname": "Sam",
            "lastname": "Summit",
            "mobilephone": "(415) 555-9017",
            "hubspot_owner_id": self.owner,
            "lifecyclestage": "lead",
            **properties,
        }
        return str(self.portal.create("contacts", values)["id"])

    def tasks_on(self, contact_id: str) -> list[str]:
        return self.portal.associated("contacts", contact_id, "tasks")

    def intakes(self):
        return LeadIntake.objects.for_organization(self.twilio.organization)

    def texts(self) -> int:
        return Message.objects.for_organization(self.twilio.organization).filter(kind="automated").count()

    def deliveries(self) -> list[dict[str, Any]]:
        return list(control(self.server, "GET", f"{WEBHOOKS}/deliveries")["attempts"])

    def wait_delivered(self, record_id: str, property_name: str = "", timeout: float = 15.0) -> list[dict[str, Any]]:
        """The events about the record (a change of `property_name` when given) in the emulator's answered
        deliveries, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                event
                for attempt in self.deliveries()
                if attempt.get("delivered")
                for event in attempt["events"]
                if str(event.get("objectId")) == record_id and event.get("propertyName", "") == property_name
            ]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no delivery about {record_id} {property_name}: {self.deliveries()}")

    def wait_for_intake(self, record_id: str, timeout: float = 15.0) -> LeadIntake:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            intake = self.intakes().filter(crm_record_id=record_id).first()
            if intake is not None and intake.status == LeadIntake.Status.DONE:
                return intake
            time.sleep(0.05)
        raise AssertionError(f"no finished intake: {list(self.intakes().values('status', 'attention_reason'))}")

    def redeliver(self, events: list[dict[str, Any]]) -> requests.Response:
        """HubSpot's retry of a delivery: the same events, the next attemptNumber, a new timestamp and signature."""
        body = json.dumps([{**event, "attemptNumber": event.get("attemptNumber", 0) + 1} for event in events])
        url = self.twilio.product_url + EVENTS_PATH
        stamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": stamp,
            "X-HubSpot-Signature-v3": signature_v3(
                secret=DEMO_CLIENT_SECRET, method="POST", url=url, body=body.encode(), timestamp=stamp
            ),
        }
        return requests.post(url, data=body.encode(), headers=headers, timeout=20)

    def mirror(self) -> SyncRun:
        run = sync_run(organization=self.twilio.organization, object="lead")
        assert run.status == SyncRun.Status.OK, run.error
        return run

    def steps(self, intake: LeadIntake) -> list[tuple[str, str, str]]:
        rows = AutomationStep.objects.for_organization(intake.organization).filter(lead_intake=intake)
        return [(row.step, row.outcome, row.detail) for row in rows]


@pytest.fixture
def hubspot_world(twilio_world, automation_inline, settings) -> HubSpotWorld:
    settings.HUBSPOT_CLIENT_SECRET = DEMO_CLIENT_SECRET
    settings.HUBSPOT_APP_ID = DEMO_APP_ID
    world = twilio_world
    server = SimpleNamespace(url=world.sandbox_url)  # the sandbox twilio_world serves, as the harness takes it
    portal = HubSpotPortal(server, name="Peak End To End")
    account = account_for(world.organization, server, portal, portal.install())
    owner = str(portal.owners()[1]["id"])
    crm_user_link(world.staff, account, owner)  # works at Downtown
    # Lead automation set up (saved, on); HubSpot's app webhook needs no URL token of ours.
    AutomationSettings.unscoped_objects.create(organization=world.organization, is_enabled=True)
    return HubSpotWorld(world, portal, account, owner)


def test_a_new_contact_gets_a_task_on_it_and_a_welcome_text_once_however_often_it_is_delivered(hubspot_world):
    world = hubspot_world
    world.subscribe()
    contact_id = world.contact_create()
    intake = world.wait_for_intake(contact_id)
    assert intake.source == "webhook"
    assert intake.studio == world.twilio.downtown
    assert intake.connection_id == world.account.pk
    [task_id] = world.tasks_on(contact_id)
    assert task_id == intake.crm_task_id
    task = world.portal.read("tasks", task_id)
    assert task["properties"]["hubspot_owner_id"] == world.owner
    assert task["properties"]["hs_task_subject"] == "Follow up with Sam Summit"
    assert intake.welcome_message.to_number == "+14155559017"
    [created] = world.wait_delivered(contact_id)
    assert (created["subscriptionType"], created["changeSource"]) == ("object.creation", "CRM_UI")
    # HubSpot delivers it again (our answer was lost): nothing new, however it comes.
    assert world.redeliver([created]).status_code == 200
    assert world.redeliver([created]).status_code == 200
    world.mirror()  # and the mirror finds the contact too
    assert list(world.intakes().values_list("crm_record_id", flat=True)) == [contact_id]
    assert world.tasks_on(contact_id) == [task_id]
    assert world.texts() == 1
    assert InboundEvent.objects.filter(source="hubspot.lead").count() == 1


def test_our_own_writes_come_back_as_webhooks_and_start_nothing(hubspot_world):
    world = hubspot_world
    world.subscribe()
    provider = provider_for(world.account)
    # A contact our app creates (a widget's "new lead"), and the opt-out property our ledger writes on another.
    ours = provider.create_record(
        object="lead", values={"firstname": "Olive", "lastname": "Ours", "mobilephone": "+14155559018"}
    )
    [created] = world.wait_delivered(ours)
    assert (created["changeSource"], str(created["sourceId"])) == ("INTEGRATION", DEMO_APP_ID)
    person = world.contact_create(firstname="Pia")
    world.wait_for_intake(person)
    provider.update_fields(object="lead", record_id=person, values={"leadline_sms_opt_out": True})
    echoes = world.wait_delivered(person, "leadline_sms_opt_out")
    assert [(event["changeSource"], str(event["sourceId"])) for event in echoes] == [("INTEGRATION", DEMO_APP_ID)]
    assert list(world.intakes().values_list("crm_record_id", flat=True)) == [person]
    assert InboundEvent.objects.filter(source="hubspot.lead").count() == 1
    assert world.texts() == 1


def test_a_contact_in_a_stage_that_is_no_lead_stage_is_skipped_with_the_reason(hubspot_world):
    world = hubspot_world
    world.subscribe()
    contact_id = world.contact_create(firstname="Cass", lifecyclestage="customer")
    intake = world.wait_for_intake(contact_id)
    assert (intake.crm_task_id, intake.welcome_message) == ("", None)
    skipped = [step for step in world.steps(intake) if step[0] == "not_a_lead"]
    assert [step[1] for step in skipped] == ["skipped"]
    assert "lifecycle stage customer" in skipped[0][2]
    assert world.tasks_on(contact_id) == []
    assert world.texts() == 0


def test_a_contact_whose_webhook_never_comes_is_found_by_the_mirror(hubspot_world):
    world = hubspot_world  # the app's webhooks are not set up: nothing is delivered
    world.mirror()  # the first load
    contact_id = world.contact_create(firstname="Nia")
    world.mirror()
    intake = world.intakes().get()
    assert (intake.crm_record_id, intake.source, intake.status) == (contact_id, "mirror", LeadIntake.Status.WAITING)
    LeadIntake.objects.unscoped().filter(pk=intake.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert automation_due_task() == 1
    intake.refresh_from_db()
    assert intake.status == LeadIntake.Status.DONE, intake.attention_reason
    assert world.tasks_on(contact_id) == [intake.crm_task_id]
    assert world.texts() == 1
    assert [step[0] for step in world.steps(intake)][:2] == ["found_by_mirror", "webhook_missing"]


def test_a_yes_to_the_welcome_text_sends_the_follow_up_and_a_task_on_the_contact(hubspot_world):
    world = hubspot_world
    world.subscribe()
    contact_id = world.contact_create(firstname="Yara")
    intake = world.wait_for_intake(contact_id)
    world.twilio.phone_texts(to=world.twilio.downtown_number.number, body=" yes ", sender=intake.lead_phone)
    reply = ReplyFollowUp.objects.for_organization(world.twilio.organization).get()
    assert reply.status == ReplyFollowUp.Status.DONE, reply.attention_reason
    assert (reply.connection_id, reply.crm_record_id) == (world.account.pk, contact_id)
    assert reply.follow_up_message.body.startswith("Great, Yara!")
    assert reply.crm_task_id in world.tasks_on(contact_id)
    assert world.portal.read("tasks", reply.crm_task_id)["properties"]["hubspot_owner_id"] == world.owner
